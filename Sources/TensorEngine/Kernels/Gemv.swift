/// y[n] (+)= x[k] · op(B)[k, n]: the one-row case of `sgemm` (batch-1 decoding), which reads
/// B once, straight from memory, instead of packing it.
///
/// - `transB`: B is stored as [n, k] (each output a dot product of a contiguous row), else as
///   [k, n] (streamed four rows at a time over slices of 64–512 columns whose sums stay in L1).
/// - `incx`: stride between the elements of x.
func sgemv(
  transB: Bool, n: Int, k: Int, x: UnsafePointer<Float>, incx: Int = 1, b: UnsafePointer<Float>, ldb: Int,
  y: UnsafeMutablePointer<Float>, accumulate: Bool, threads: Int = Parallel.threads
) {
  // A contiguous copy of x, so the inner loops read it with vector loads.
  let xs = Storage(count: k, zeroed: false)
  defer { withExtendedLifetime(xs) {} }
  for p in 0..<k { xs.base[p] = x[p * incx] }
  let (xv, bv, yv) = (UncheckedSendable(UnsafePointer(xs.base)), UncheckedSendable(b), UncheckedSendable(y))
  let workers = n * k < 1 << 16 ? 1 : threads
  // Enough chunks for every worker to take several (a [384, 384] matrix still splits in six).
  let columnsPerChunk = transB ? 16 : min(512, max(64, (n / (4 * workers) + 15) / 16 * 16))
  let chunks = (n + columnsPerChunk - 1) / columnsPerChunk
  Parallel.forEach(chunks, threads: workers) { chunk in
    let j0 = chunk * columnsPerChunk, j1 = min(n, j0 + columnsPerChunk)
    let (x, b, y) = (xv.value, bv.value, yv.value)
    if transB {
      for j in j0..<j1 {
        let dot = vdot(x, b + j * ldb, k)
        y[j] = accumulate ? y[j] + dot : dot
      }
      return
    }
    if !accumulate { (y + j0).update(repeating: 0, count: j1 - j0) }
    let vectorEnd = j0 + (j1 - j0) / 16 * 16
    var p = 0
    while p < k {
      let rows = min(4, k - p)
      let s0 = Float16x(repeating: x[p])
      let s1 = Float16x(repeating: rows > 1 ? x[p + 1] : 0)
      let s2 = Float16x(repeating: rows > 2 ? x[p + 2] : 0)
      let s3 = Float16x(repeating: rows > 3 ? x[p + 3] : 0)
      let r0 = b + p * ldb
      let r1 = rows > 1 ? r0 + ldb : r0, r2 = rows > 2 ? r0 + 2 * ldb : r0, r3 = rows > 3 ? r0 + 3 * ldb : r0
      var j = j0
      while j < vectorEnd {
        var acc = load16(y + j)
        acc.addProduct(s0, load16(r0 + j))
        acc.addProduct(s1, load16(r1 + j))
        acc.addProduct(s2, load16(r2 + j))
        acc.addProduct(s3, load16(r3 + j))
        store16(acc, y + j)
        j += 16
      }
      for jj in vectorEnd..<j1 {
        var sum = y[jj] + s0[0] * r0[jj]
        if rows > 1 { sum += s1[0] * r1[jj] }
        if rows > 2 { sum += s2[0] * r2[jj] }
        if rows > 3 { sum += s3[0] * r3[jj] }
        y[jj] = sum
      }
      p += 4
    }
  }
}
