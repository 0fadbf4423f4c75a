/// A [k, n] Float32 weight matrix laid out for products of up to `gemvMaxRows` rows in
/// `sgemv`'s tiles, which walk B down 16 columns at a time within blocks of 64 rows. The tiles
/// are split into `groups` runs of columns, one per thread: each group is stored block by block,
/// each block as the group's tiles one after another ([group][block][tile][row][16], the last
/// tile zero-padded), so the thread that takes a group reads one contiguous run of memory in
/// order. The decoders pack a model's weights once (`GPT.packedWeights`, a second copy of them)
/// and decode from the copy: faster than either of `sgemv`'s walks over the row-major matrix, for
/// any number of rows (GPT-2's one-row step 17 → 16 ms, the baby GPT's 1.6 → 1.1 ms).
public final class PackedMatrix: @unchecked Sendable {
  /// k and n.
  public let rows: Int, cols: Int
  /// Columns rounded up to whole tiles.
  let paddedCols: Int
  /// Tiles in each group (the last group may have fewer).
  let tilesPerGroup: Int
  let values: UnsafeMutablePointer<Float>

  /// Copies the row-major [rows, cols] `source`, its tiles in `groups` groups (the threads
  /// products will run on; any number gives the same bits).
  public init(_ source: UnsafePointer<Float>, rows: Int, cols: Int, groups: Int = Parallel.threads) {
    (self.rows, self.cols) = (rows, cols)
    paddedCols = Self.paddedColumns(cols)
    tilesPerGroup = (paddedCols / 16 + max(1, groups) - 1) / max(1, groups)
    values = .allocate(capacity: rows * paddedCols)
    for tile in 0..<(paddedCols / 16) {
      let (width, from) = (min(16, cols - tile * 16), source + tile * 16)
      for start in stride(from: 0, to: rows, by: gemvBlockRows) {
        let out = tileBase(tile, start: start)
        for p in 0..<min(gemvBlockRows, rows - start) {
          if width == 16 {
            store16(load16(from + (start + p) * cols), out + p * 16)
          } else {
            (out + p * 16).update(from: from + (start + p) * cols, count: width)
            (out + p * 16 + width).update(repeating: 0, count: 16 - width)
          }
        }
      }
    }
  }

  deinit { values.deallocate() }

  /// The columns a packed copy of a matrix with `cols` columns stores: whole tiles.
  static func paddedColumns(_ cols: Int) -> Int { (cols + 15) / 16 * 16 }

  /// The bytes a packed copy of a [rows, cols] matrix takes.
  public static func byteCount(rows: Int, cols: Int) -> Int { 4 * rows * paddedColumns(cols) }

  /// The row counts of x whose products can read a packed matrix.
  public static var rowCounts: ClosedRange<Int> { 1...gemvMaxRows }

  /// The number of groups of tiles.
  var groups: Int { (paddedCols / 16 + tilesPerGroup - 1) / tilesPerGroup }

  /// The tiles of group `g`.
  @inline(__always)
  func tiles(ofGroup g: Int) -> Range<Int> { (g * tilesPerGroup)..<min(paddedCols / 16, (g + 1) * tilesPerGroup) }

  /// The first value of `tile` in the block starting at row `start`: [count][16] from there.
  @inline(__always)
  func tileBase(_ tile: Int, start: Int) -> UnsafeMutablePointer<Float> {
    let group = tiles(ofGroup: tile / tilesPerGroup)
    return values + group.lowerBound * 16 * rows + start * group.count * 16
      + (tile - group.lowerBound) * min(gemvBlockRows, rows - start) * 16
  }

  /// Element (p, j).
  public subscript(p: Int, j: Int) -> Float {
    let start = p / gemvBlockRows * gemvBlockRows
    return tileBase(j / 16, start: start)[(p - start) * 16 + j % 16]
  }
}

/// y (+)= x · B for `m` rows of x [m, k] (m ≤ `gemvMaxRows`) and a packed B [k, n]: the bits
/// `sgemv` gives the same product from the row-major B — each output's sum over a block of B's
/// rows from zero, added to its running sum block after block (from y's value with
/// `accumulate`); the padded columns computed and dropped.
///
/// A task is a group of B's columns, which it takes through every block, keeping its running
/// sums: a thread adds up all the outputs it makes, so no partial sums pass between threads.
/// Split by blocks instead, each thread's partial sums of every column were added by one thread
/// at the end; in this machine's slow minutes (the cores' caches further apart) reading the other
/// core's half took 0.21–0.28 ms of the baby GPT's 8-row step instead of 0.09, and the step
/// 2.19–2.48 ms against 2.00–2.10 now (BENCHMARKS.md).
public func gemv(x: UnsafePointer<Float>, rows m: Int, b: PackedMatrix, y: UnsafeMutablePointer<Float>,
                 accumulate: Bool, threads: Int = Parallel.threads) {
  precondition(PackedMatrix.rowCounts.contains(m), "a packed product takes \(PackedMatrix.rowCounts) rows, not \(m)")
  let (k, n) = (b.rows, b.cols)
  let (xs, ys) = (UncheckedSendable(x), UncheckedSendable(y))
  Parallel.forEach(b.groups, threads: m * n * k < 1 << 16 ? 1 : threads) { g in
    let group = b.tiles(ofGroup: g)
    // The running sums, [tile][row][16].
    let sums = UnsafeMutablePointer<Float>.allocate(capacity: group.count * m * 16)
    defer { sums.deallocate() }
    for (t, tile) in group.enumerated() {
      for i in 0..<m {
        let (sum, column) = (sums + (t * m + i) * 16, tile * 16)
        sum.update(repeating: 0, count: 16)
        if accumulate { sum.update(from: ys.value + i * n + column, count: min(16, n - column)) }
      }
    }
    for start in stride(from: 0, to: k, by: gemvBlockRows) {
      for (t, tile) in group.enumerated() {
        gemvTile16(xs.value + start, rows: m, k: k, b.tileBase(tile, start: start), ldb: 16, count: min(gemvBlockRows, k - start),
                   into: sums + t * m * 16, ldo: 16, adding: true)
      }
    }
    for (t, tile) in group.enumerated() {
      for i in 0..<m {
        let column = tile * 16
        (ys.value + i * n + column).update(from: sums + (t * m + i) * 16, count: min(16, n - column))
      }
    }
  }
}
