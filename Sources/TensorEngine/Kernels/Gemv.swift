/// Y[m, n] (+)= X[m, k] · op(B)[k, n] for a few rows (m ≤ `gemvMaxRows`): batched decoding,
/// where the product is bound by reading B. B is read once, straight from memory, instead of
/// being packed, and every row gets exactly the arithmetic of a one-row product — so a row's
/// result does not depend on how many rows share the call.
///
/// - `transB`: B is stored as [n, k]: each output is a dot product with a contiguous row.
/// - otherwise B is [k, n]: B is cut into blocks of 64 whole rows, each streamed sequentially
///   (four rows at a time, each load shared by two X rows) into each X row's own partial sum,
///   and the partial sums are added in block order — the same order for any thread count, so
///   results do not depend on it.
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
    Parallel.forEach((n + 15) / 16, threads: workers) { chunk in
      for j in (chunk * 16)..<min(n, chunk * 16 + 16) {
        for i in 0..<m {  // row j of B stays in cache for every row of X
          let dot = vdot(xv.value + i * k, bv.value + j * ldb, k)
          yv.value[i * ldy + j] = accumulate ? yv.value[i * ldy + j] + dot : dot
        }
      }
    }
    return
  }
  let rowsPerBlock = 64
  let blocks = (k + rowsPerBlock - 1) / rowsPerBlock
  let partial = Storage(count: blocks * m * n)
  defer { withExtendedLifetime(partial) {} }
  let sums = UncheckedSendable(partial.base)
  Parallel.forEach(blocks, threads: workers) { block in
    let b = bv.value
    let vectorEnd = n / 16 * 16
    var p = block * rowsPerBlock
    let end = min(k, p + rowsPerBlock)
    while p < end {
      let rows = min(4, end - p)
      let r0 = b + p * ldb
      let r1 = rows > 1 ? r0 + ldb : r0, r2 = rows > 2 ? r0 + 2 * ldb : r0, r3 = rows > 3 ? r0 + 3 * ldb : r0
      var i = 0
      // The four rows of B stay in cache for every row of X; X rows go in pairs, which share
      // each load of B (a lone last row goes alone).
      while i < m {
        let pair = i + 1 < m
        let (x, acc) = (xv.value + i * k, sums.value + (block * m + i) * n)
        let (x1, acc1) = pair ? (x + k, acc + n) : (x, acc)
        let s0 = Float16x(repeating: x[p])
        let s1 = Float16x(repeating: rows > 1 ? x[p + 1] : 0)
        let s2 = Float16x(repeating: rows > 2 ? x[p + 2] : 0)
        let s3 = Float16x(repeating: rows > 3 ? x[p + 3] : 0)
        let t0 = Float16x(repeating: x1[p])
        let t1 = Float16x(repeating: rows > 1 ? x1[p + 1] : 0)
        let t2 = Float16x(repeating: rows > 2 ? x1[p + 2] : 0)
        let t3 = Float16x(repeating: rows > 3 ? x1[p + 3] : 0)
        var j = 0
        if pair {
          while j < vectorEnd {
            var a = load16(acc + j), c = load16(acc1 + j)
            let (b0, b1, b2, b3) = (load16(r0 + j), load16(r1 + j), load16(r2 + j), load16(r3 + j))
            a.addProduct(s0, b0)
            c.addProduct(t0, b0)
            a.addProduct(s1, b1)
            c.addProduct(t1, b1)
            a.addProduct(s2, b2)
            c.addProduct(t2, b2)
            a.addProduct(s3, b3)
            c.addProduct(t3, b3)
            store16(a, acc + j)
            store16(c, acc1 + j)
            j += 16
          }
        } else {
          while j < vectorEnd {
            var a = load16(acc + j)
            a.addProduct(s0, load16(r0 + j))
            a.addProduct(s1, load16(r1 + j))
            a.addProduct(s2, load16(r2 + j))
            a.addProduct(s3, load16(r3 + j))
            store16(a, acc + j)
            j += 16
          }
        }
        if vectorEnd < n {
          tail(acc, s0[0], s1[0], s2[0], s3[0])
          if pair { tail(acc1, t0[0], t1[0], t2[0], t3[0]) }
        }
        // The last columns, one at a time.
        @inline(__always) func tail(_ accR: UnsafeMutablePointer<Float>, _ q0: Float, _ q1: Float, _ q2: Float, _ q3: Float) {
          for jj in vectorEnd..<n {
            var sum = accR[jj] + q0 * r0[jj]
            if rows > 1 { sum += q1 * r1[jj] }
            if rows > 2 { sum += q2 * r2[jj] }
            if rows > 3 { sum += q3 * r3[jj] }
            accR[jj] = sum
          }
        }
        i += pair ? 2 : 1
      }
      p += 4
    }
  }
  for i in 0..<m {
    let row = y + i * ldy
    if !accumulate { row.update(repeating: 0, count: n) }
    for block in 0..<blocks { TensorEngine.accumulate(partial.base + (block * m + i) * n, into: row, count: n) }
  }
}
