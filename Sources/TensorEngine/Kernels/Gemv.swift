import CPrefetch

/// Y[m, n] (+)= X[m, k] · op(B)[k, n] for a few rows (m ≤ `gemvMaxRows`): batched decoding,
/// where the product is bound by reading B. B is read once, straight from memory, instead of
/// being packed, and every row gets exactly the arithmetic of a one-row product — so a row's
/// result does not depend on how many rows share the call.
///
/// - `transB`: B is stored as [n, k]: each output is a dot product with a contiguous row,
///   four X rows at a time against each row of B.
/// - otherwise B is [k, n]: B is cut into blocks of 64 whole rows; each X row's partial sum over
///   a block is Σ_p x[p]·B[p, j] fused in p order from zero, whether B's rows are streamed in
///   order (`gemvStream`, up to `gemvStreamRows` X rows) or walked down in 16-column tiles
///   (`gemvTile4x16`), and the partial sums are added in block order — the same order for any
///   thread count, so results do not depend on it.
/// - `x(i, p)`: where element p of row i of X is.
func sgemv(transB: Bool, m: Int, n: Int, k: Int, x: StridedA, b: UnsafePointer<Float>, ldb: Int,
           y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, threads: Int) {
  // Contiguous copies of the rows of X, so the inner loops read them with vector loads.
  let xs = Storage(count: m * k, zeroed: false)
  defer { withExtendedLifetime(xs) {} }
  for i in 0..<m { for p in 0..<k { xs.base[i * k + p] = x.at(i, p).pointee } }
  let (xv, bv, yv) = (UncheckedSendable(UnsafePointer(xs.base)), UncheckedSendable(b), UncheckedSendable(y))
  let workers = m * n * k < 1 << 16 ? 1 : threads
  if transB {
    // B is read one row at a time, in order, each row once for all X rows: four at a time, so
    // that each load of B feeds four products. With several rows the arithmetic is slow enough
    // for the hardware to stop streaming B ahead of it (8 rows of GPT-2's head from memory took
    // twice the time they take from cache): the row 4 rows ahead is asked for into L2 (into L1
    // it displaced X, and for one row it only slowed the stream).
    Parallel.forEach((n + 31) / 32, threads: workers) { chunk in
      let (x, b, y) = (xv.value, bv.value, yv.value)
      @inline(__always) func put(_ i: Int, _ j: Int, _ dot: Float) {
        y[i * ldy + j] = accumulate ? y[i * ldy + j] + dot : dot
      }
      for j in (chunk * 32)..<min(n, chunk * 32 + 32) {
        let bj = b + j * ldb
        if m > 1 { prefetchRow(bj + 4 * ldb, k) }
        var i = 0
        while i < m {
          let rows = min(4, m - i)
          if rows == 1 {
            put(i, j, gemvDot(x + i * k, bj, k))
          } else {
            let d = gemvDots4(x + i * k, rows: rows, bj, k)
            for r in 0..<rows { put(i + r, j, d[r]) }
          }
          i += rows
        }
      }
    }
    return
  }
  let rowsPerBlock = gemvBlockRows
  let blocks = (k + rowsPerBlock - 1) / rowsPerBlock
  let partial = Storage(count: blocks * m * n, zeroed: false)
  defer { withExtendedLifetime(partial) {} }
  let sums = UncheckedSendable(partial.base)
  let tiles = n / 16
  Parallel.forEach(blocks, threads: workers) { block in
    let (x, b) = (xv.value, bv.value)
    let (start, count) = (block * rowsPerBlock, min(rowsPerBlock, k - block * rowsPerBlock))
    let out = sums.value + block * m * n
    if m <= gemvStreamRows {
      var i = 0
      while i < m {
        let rows = min(2, m - i)
        gemvStream(x + i * k + start, rows: rows, k: k, b + start * ldb, ldb: ldb, count: count, n: n, into: out + i * n)
        i += rows
      }
      return
    }
    for tile in 0..<tiles {
      let column = tile * 16
      for p in 0..<count { swiftgpt_prefetch_l2(b + (start + p) * ldb + column + 64) }
      gemvTile16(x + start, rows: m, k: k, b + start * ldb + column, ldb: ldb, count: count, into: out + column, ldo: n)
    }
    gemvColumns(x + start, rows: m, k: k, b + start * ldb, ldb: ldb, count: count, (tiles * 16)..<n, into: out, ldo: n)
  }
  addBlockSums(partial.base, blocks: blocks, rows: m, width: n, into: y, ldy: ldy, n: n, accumulate: accumulate)
}

/// Y[i, 0..<n] (+)= Σ_block partial[block, i, 0..<n] for rows i < `rows`, the blocks added in
/// order: the last step of `sgemv`'s non-transposed products (partial: [blocks][rows][width]).
func addBlockSums(_ partial: UnsafePointer<Float>, blocks: Int, rows: Int, width: Int, into y: UnsafeMutablePointer<Float>,
                  ldy: Int, n: Int, accumulate: Bool) {
  for i in 0..<rows {
    let row = y + i * ldy
    if !accumulate { row.update(repeating: 0, count: n) }
    for block in 0..<blocks { TensorEngine.accumulate(partial + (block * rows + i) * width, into: row, count: n) }
  }
}

/// out[i, 0..<16] (+)= Σ_p x[i·k + p] · b[p·ldb + 0..<16] for p < `count`, for all X rows i <
/// `rows`, four at a time (`gemvTile4x16`).
@inline(__always)
func gemvTile16(_ x: UnsafePointer<Float>, rows m: Int, k: Int, _ b: UnsafePointer<Float>, ldb: Int, count: Int,
                into out: UnsafeMutablePointer<Float>, ldo: Int, adding: Bool = false) {
  var i = 0
  while i < m {
    let rows = min(4, m - i)
    gemvTile4x16(x + i * k, rows: rows, k: k, b, ldb: ldb, count: count, into: out + i * ldo, ldo: ldo, adding: adding)
    i += rows
  }
}

/// `sgemv`'s blocks of B's rows (of the non-transposed case), whose sums are added in order.
let gemvBlockRows = 64

/// Up to this many rows, `sgemv` streams B's rows in order (`gemvStream`); with more, the
/// arithmetic is worth the strided walk that keeps the sums in registers (`gemvTile4x16`).
/// GPT-2's decoding step on 2 threads (ms, `bench decode`): 2 rows 18.8 streamed vs 22.4 in
/// tiles, 4 rows 22.1 vs 23.1, 8 rows 35.0 vs 24.6.
let gemvStreamRows = 4

/// out[r, 0..<16] = Σ_p x[r·k + p] · b[p·ldb + 0..<16] for p < `count`, for X rows r < `rows`
/// ≤ 4 (rows past the last repeat it, and are not written): the sums stay in registers while
/// the 16 columns of B are walked down. With `adding`, out[r] += the sum (the bits of storing
/// it and adding it after).
@inline(__always)
func gemvTile4x16(_ x: UnsafePointer<Float>, rows: Int, k: Int, _ b: UnsafePointer<Float>, ldb: Int, count: Int,
                  into out: UnsafeMutablePointer<Float>, ldo: Int, adding: Bool = false) {
  let (x0, x1) = (x, x + min(1, rows - 1) * k)
  let (x2, x3) = (x + min(2, rows - 1) * k, x + min(3, rows - 1) * k)
  var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a10 = SIMD8<Float>(), a11 = SIMD8<Float>()
  var a20 = SIMD8<Float>(), a21 = SIMD8<Float>(), a30 = SIMD8<Float>(), a31 = SIMD8<Float>()
  var bp = b
  for p in 0..<count {
    let (v0, v1) = (load8(bp), load8(bp + 8))
    let u0 = SIMD8<Float>(repeating: x0[p])
    a00.addProduct(u0, v0); a01.addProduct(u0, v1)
    let u1 = SIMD8<Float>(repeating: x1[p])
    a10.addProduct(u1, v0); a11.addProduct(u1, v1)
    let u2 = SIMD8<Float>(repeating: x2[p])
    a20.addProduct(u2, v0); a21.addProduct(u2, v1)
    let u3 = SIMD8<Float>(repeating: x3[p])
    a30.addProduct(u3, v0); a31.addProduct(u3, v1)
    bp += ldb
  }
  @inline(__always) func store(_ r: Int, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>) {
    let o = UnsafeMutableRawPointer(out + r * ldo)
    if adding {
      o.storeBytes(of: o.loadUnaligned(as: SIMD8<Float>.self) + lo, as: SIMD8<Float>.self)
      o.storeBytes(of: o.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) + hi, toByteOffset: 32, as: SIMD8<Float>.self)
      return
    }
    o.storeBytes(of: lo, as: SIMD8<Float>.self)
    o.storeBytes(of: hi, toByteOffset: 32, as: SIMD8<Float>.self)
  }
  store(0, a00, a01)
  if rows > 1 { store(1, a10, a11) }
  if rows > 2 { store(2, a20, a21) }
  if rows > 3 { store(3, a30, a31) }
}

/// out[r, 0..<n] = Σ_p x[r·k + p] · b[p·ldb + 0..<n] for p < `count`, for X rows r < `rows` ≤ 2,
/// with `gemvTile4x16`'s arithmetic: B's rows are streamed in order, four at a time, each load
/// shared by the two X rows, into sums kept in `out` (leading dimension n).
@inline(__always)
func gemvStream(_ x: UnsafePointer<Float>, rows: Int, k: Int, _ b: UnsafePointer<Float>, ldb: Int, count: Int, n: Int,
                into out: UnsafeMutablePointer<Float>) {
  let pair = rows == 2
  let (x1, out1) = pair ? (x + k, out + n) : (x, out)
  out.update(repeating: 0, count: n)
  if pair { out1.update(repeating: 0, count: n) }
  let vectorEnd = n / 16 * 16
  var p = 0
  while p + 4 <= count {
    let r0 = b + p * ldb
    let (r1, r2, r3) = (r0 + ldb, r0 + 2 * ldb, r0 + 3 * ldb)
    let (s0, s1, s2, s3) = (Float16x(repeating: x[p]), Float16x(repeating: x[p + 1]), Float16x(repeating: x[p + 2]),
                            Float16x(repeating: x[p + 3]))
    let (t0, t1, t2, t3) = (Float16x(repeating: x1[p]), Float16x(repeating: x1[p + 1]), Float16x(repeating: x1[p + 2]),
                            Float16x(repeating: x1[p + 3]))
    var j = 0
    if pair {
      while j < vectorEnd {
        var a = load16(out + j), c = load16(out1 + j)
        let (b0, b1, b2, b3) = (load16(r0 + j), load16(r1 + j), load16(r2 + j), load16(r3 + j))
        a.addProduct(s0, b0)
        c.addProduct(t0, b0)
        a.addProduct(s1, b1)
        c.addProduct(t1, b1)
        a.addProduct(s2, b2)
        c.addProduct(t2, b2)
        a.addProduct(s3, b3)
        c.addProduct(t3, b3)
        store16(a, out + j)
        store16(c, out1 + j)
        j += 16
      }
    } else {
      while j < vectorEnd {
        var a = load16(out + j)
        a.addProduct(s0, load16(r0 + j))
        a.addProduct(s1, load16(r1 + j))
        a.addProduct(s2, load16(r2 + j))
        a.addProduct(s3, load16(r3 + j))
        store16(a, out + j)
        j += 16
      }
    }
    p += 4
  }
  // The block's last rows of B (fewer than four), one at a time: no padding products of zero,
  // which would make the sums NaN where the tiles' are not, next to an infinite weight.
  for q in p..<count {
    for (xr, o) in pair ? [(x, out), (x1, out1)] : [(x, out)] {
      let (s, row) = (Float16x(repeating: xr[q]), b + q * ldb)
      for j in stride(from: 0, to: vectorEnd, by: 16) {
        var a = load16(o + j)
        a.addProduct(s, load16(row + j))
        store16(a, o + j)
      }
    }
  }
  gemvColumns(x, rows: rows, k: k, b, ldb: ldb, count: count, vectorEnd..<n, into: out, ldo: n)
}

/// out[r, j] = Σ_p x[r·k + p] · b[p·ldb + j] for p < `count`, X rows r < `rows` and `columns`, one
/// column at a time with the tiles' order of products: the last n mod 16 columns of a block.
@inline(__always)
func gemvColumns(_ x: UnsafePointer<Float>, rows: Int, k: Int, _ b: UnsafePointer<Float>, ldb: Int, count: Int,
                 _ columns: Range<Int>, into out: UnsafeMutablePointer<Float>, ldo: Int) {
  for r in 0..<rows {
    for j in columns {
      var sum: Float = 0
      for p in 0..<count { sum.addProduct(x[r * k + p], b[p * ldb + j]) }
      out[r * ldo + j] = sum
    }
  }
}

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
  UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

// The dot products of the transposed case. Every dot product x·b has the same arithmetic,
// whichever function computes it: one 16-lane sum along k, its lanes added by halves, then
// the last k % 16 products one at a time (`dotFinish`).

/// x·b for k-element rows.
@inline(__always)
func gemvDot(_ x: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ k: Int) -> Float {
  var acc = Float16x()
  var p = 0
  while p + 16 <= k { acc.addProduct(load16(x + p), load16(b + p)); p += 16 }
  return dotFinish(acc, x, b, p, k)
}

/// The dot products of X rows x[r·k...] (r < `rows` ≤ 4; rows past the last repeat it) with b.
@inline(__always)
func gemvDots4(_ x: UnsafePointer<Float>, rows: Int, _ b: UnsafePointer<Float>, _ k: Int) -> SIMD4<Float> {
  let (x0, x1) = (x, x + min(1, rows - 1) * k)
  let (x2, x3) = (x + min(2, rows - 1) * k, x + min(3, rows - 1) * k)
  var a0 = Float16x(), a1 = Float16x(), a2 = Float16x(), a3 = Float16x()
  var p = 0
  while p + 16 <= k {
    let v = load16(b + p)
    a0.addProduct(load16(x0 + p), v)
    a1.addProduct(load16(x1 + p), v)
    a2.addProduct(load16(x2 + p), v)
    a3.addProduct(load16(x3 + p), v)
    p += 16
  }
  return SIMD4(dotFinish(a0, x0, b, p, k), dotFinish(a1, x1, b, p, k),
               dotFinish(a2, x2, b, p, k), dotFinish(a3, x3, b, p, k))
}

/// Ends a dot product whose first `p` products are summed lane-wise in `acc`.
@inline(__always)
func dotFinish(_ acc: Float16x, _ x: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ p: Int, _ k: Int) -> Float {
  var s = acc.laneSum
  for t in p..<k { s.addProduct(x[t], b[t]) }
  return s
}


/// Asks for the `count` floats from `p` to be brought into L2 (a hint: never faults).
@inline(__always)
func prefetchRow(_ p: UnsafePointer<Float>, _ count: Int) {
  var q = 0
  while q < count { swiftgpt_prefetch_l2(p + q); q += 16 }
}
