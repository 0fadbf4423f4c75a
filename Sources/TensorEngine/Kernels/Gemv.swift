/// y[n] (+)= x[k] · op(B)[k, n]: the one-row case of `sgemm` (batch-1 decoding), which reads
/// B once, straight from memory, instead of packing it.
///
/// - `transB`: B is stored as [n, k] (each output a dot product of contiguous rows), else
///   as [k, n] (outputs accumulated 64 columns at a time in registers).
/// - `incx`: stride between the elements of x.
func sgemv(transB: Bool, n: Int, k: Int, x: UnsafePointer<Float>, incx: Int, b: UnsafePointer<Float>, ldb: Int,
           y: UnsafeMutablePointer<Float>, accumulate: Bool, threads: Int) {
  // A contiguous copy of x, so the inner loops read it with vector loads.
  let xs = Storage(count: k, zeroed: false)
  defer { withExtendedLifetime(xs) {} }
  for p in 0..<k { xs.base[p] = x[p * incx] }
  let (xv, bv, yv) = (UncheckedSendable(UnsafePointer(xs.base)), UncheckedSendable(b), UncheckedSendable(y))
  let columnsPerChunk = transB ? 16 : 64
  let chunks = (n + columnsPerChunk - 1) / columnsPerChunk
  let workers = n * k < 1 << 16 ? 1 : threads
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
    var j = j0
    while j + 64 <= j1 {
      var (a0, a1, a2, a3) = (Float16x(), Float16x(), Float16x(), Float16x())
      var row = b + j
      for p in 0..<k {
        let s = Float16x(repeating: x[p])
        a0.addProduct(s, load16(row)); a1.addProduct(s, load16(row + 16))
        a2.addProduct(s, load16(row + 32)); a3.addProduct(s, load16(row + 48))
        row += ldb
      }
      if accumulate { a0 += load16(y + j); a1 += load16(y + j + 16); a2 += load16(y + j + 32); a3 += load16(y + j + 48) }
      store16(a0, y + j); store16(a1, y + j + 16); store16(a2, y + j + 32); store16(a3, y + j + 48)
      j += 64
    }
    for jj in j..<j1 {
      var s: Float = accumulate ? y[jj] : 0
      for p in 0..<k { s += x[p] * b[p * ldb + jj] }
      y[jj] = s
    }
  }
}
