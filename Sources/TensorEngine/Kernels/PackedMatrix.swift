/// A [k, n] Float32 weight matrix laid out for products of up to `gemvMaxRows` rows in
/// `sgemv`'s tiles, which walk B down 16 columns at a time within blocks of 64 rows: stored
/// block by block, each block as its 16-column tiles one after another ([block][tile][row][16],
/// the last tile zero-padded), the walk reads memory in order instead of a 64-byte line from
/// every row. The decoders pack a model's weights once (`GPT.packedWeights`, a second copy of
/// them) and decode from the copy: faster than either of `sgemv`'s walks over the row-major
/// matrix, for any number of rows (GPT-2's one-row step 17 → 16 ms, the baby GPT's 1.6 → 1.1 ms).
public final class PackedMatrix: @unchecked Sendable {
  /// k and n.
  public let rows: Int, cols: Int
  /// Columns rounded up to whole tiles.
  let paddedCols: Int
  let values: UnsafeMutablePointer<Float>

  /// Copies the row-major [rows, cols] `source`.
  public init(_ source: UnsafePointer<Float>, rows: Int, cols: Int) {
    (self.rows, self.cols) = (rows, cols)
    paddedCols = Self.paddedColumns(cols)
    values = .allocate(capacity: rows * paddedCols)
    for start in stride(from: 0, to: rows, by: gemvBlockRows) {
      let count = min(gemvBlockRows, rows - start)
      for tile in 0..<(paddedCols / 16) {
        let out = tileBase(start: start, tile: tile)
        let (width, from) = (min(16, cols - tile * 16), source + start * cols + tile * 16)
        for p in 0..<count {
          if width == 16 {
            store16(load16(from + p * cols), out + p * 16)
          } else {
            (out + p * 16).update(from: from + p * cols, count: width)
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

  /// The first value of `tile` in the block starting at row `start`: [count][16] from there.
  @inline(__always)
  func tileBase(start: Int, tile: Int) -> UnsafeMutablePointer<Float> {
    values + start * paddedCols + tile * min(gemvBlockRows, rows - start) * 16
  }

  /// Element (p, j).
  public subscript(p: Int, j: Int) -> Float {
    let start = p / gemvBlockRows * gemvBlockRows
    return tileBase(start: start, tile: j / 16)[(p - start) * 16 + j % 16]
  }
}

/// y (+)= x · B for `m` rows of x [m, k] (m ≤ `gemvMaxRows`) and a packed B [k, n]: the bits
/// `sgemv` gives the same product from the row-major B (the same sums in the same blocks, the
/// padded columns computed and dropped).
public func gemv(x: UnsafePointer<Float>, rows m: Int, b: PackedMatrix, y: UnsafeMutablePointer<Float>,
                 accumulate: Bool, threads: Int = Parallel.threads) {
  precondition(PackedMatrix.rowCounts.contains(m), "a packed product takes \(PackedMatrix.rowCounts) rows, not \(m)")
  let (k, n, width) = (b.rows, b.cols, b.paddedCols)
  let blocks = (k + gemvBlockRows - 1) / gemvBlockRows
  let partial = Storage(count: blocks * m * width, zeroed: false)
  defer { withExtendedLifetime(partial) {} }
  let (xs, sums) = (UncheckedSendable(x), UncheckedSendable(partial.base))
  Parallel.forEach(blocks, threads: m * n * k < 1 << 16 ? 1 : threads) { block in
    let start = block * gemvBlockRows
    let count = min(gemvBlockRows, k - start)
    let out = sums.value + block * m * width
    for tile in 0..<(width / 16) {
      gemvTile16(xs.value + start, rows: m, k: k, b.tileBase(start: start, tile: tile), ldb: 16, count: count,
                 into: out + tile * 16, ldo: width)
    }
  }
  addBlockSums(partial.base, blocks: blocks, rows: m, width: width, into: y, ldy: n, n: n, accumulate: accumulate)
}
