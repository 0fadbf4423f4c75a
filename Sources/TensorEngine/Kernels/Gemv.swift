/// y[n] (+)= x[k] · op(B)[k, n]: the one-row case of `sgemm` (batch-1 decoding), which reads
/// B once, straight from memory, instead of packing it.
///
/// - `transB`: B is stored as [n, k]: each output is a dot product with a contiguous row.
/// - otherwise B is [k, n]: B is cut into blocks of 64 whole rows, each streamed sequentially
///   (four rows at a time) into its own partial sum of y, and the partial sums are added in
///   block order — the same order for any thread count, so results do not depend on it.
/// - `incx`: stride between the elements of x.
func sgemv(transB: Bool, n: Int, k: Int, x: UnsafePointer<Float>, incx: Int, b: UnsafePointer<Float>, ldb: Int,
           y: UnsafeMutablePointer<Float>, accumulate: Bool, threads: Int) {
  // A contiguous copy of x, so the inner loops read it with vector loads.
  let xs = Storage(count: k, zeroed: false)
  defer { withExtendedLifetime(xs) {} }
  for p in 0..<k { xs.base[p] = x[p * incx] }
  let (xv, bv, yv) = (UncheckedSendable(UnsafePointer(xs.base)), UncheckedSendable(b), UncheckedSendable(y))
  let workers = n * k < 1 << 16 ? 1 : threads
  if transB {
    Parallel.forEach((n + 15) / 16, threads: workers) { chunk in
      for j in (chunk * 16)..<min(n, chunk * 16 + 16) {
        let dot = vdot(xv.value, bv.value + j * ldb, k)
        yv.value[j] = accumulate ? yv.value[j] + dot : dot
      }
    }
    return
  }
  let rowsPerBlock = 64
  let blocks = (k + rowsPerBlock - 1) / rowsPerBlock
  let partial = Storage(count: blocks * n)
  defer { withExtendedLifetime(partial) {} }
  let sums = UncheckedSendable(partial.base)
  Parallel.forEach(blocks, threads: workers) { block in
    let (x, b, acc) = (xv.value, bv.value, sums.value + block * n)
    let vectorEnd = n / 16 * 16
    var p = block * rowsPerBlock
    let end = min(k, p + rowsPerBlock)
    while p < end {
      let rows = min(4, end - p)
      let s0 = Float16x(repeating: x[p])
      let s1 = Float16x(repeating: rows > 1 ? x[p + 1] : 0)
      let s2 = Float16x(repeating: rows > 2 ? x[p + 2] : 0)
      let s3 = Float16x(repeating: rows > 3 ? x[p + 3] : 0)
      let r0 = b + p * ldb
      let r1 = rows > 1 ? r0 + ldb : r0, r2 = rows > 2 ? r0 + 2 * ldb : r0, r3 = rows > 3 ? r0 + 3 * ldb : r0
      var j = 0
      while j < vectorEnd {
        var a = load16(acc + j)
        a.addProduct(s0, load16(r0 + j))
        a.addProduct(s1, load16(r1 + j))
        a.addProduct(s2, load16(r2 + j))
        a.addProduct(s3, load16(r3 + j))
        store16(a, acc + j)
        j += 16
      }
      for jj in vectorEnd..<n {
        var sum = acc[jj] + s0[0] * r0[jj]
        if rows > 1 { sum += s1[0] * r1[jj] }
        if rows > 2 { sum += s2[0] * r2[jj] }
        if rows > 3 { sum += s3[0] * r3[jj] }
        acc[jj] = sum
      }
      p += 4
    }
  }
  if !accumulate { y.update(repeating: 0, count: n) }
  for block in 0..<blocks { TensorEngine.accumulate(partial.base + block * n, into: y, count: n) }
}
