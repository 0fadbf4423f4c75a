// The 6×16 register tile of the GEMM: 12 `SIMD8<Float>` accumulators (two per row), written out
// with named variables so that they stay in the 16 AVX2 registers.

/// C[6, 16] (+)= A[6, kb] · Bpanel[kb, 16], where `b` is a packed B panel and A is read in
/// place: element (r, p) at `a[r * rowStride + p * kStride]` (a row-major block has strides
/// (lda, 1), a transposed one (1, lda), a packed tile (1, 6)). With `rows` < 6, rows past the
/// last repeat it, so A is never read beyond its rows (C's extra rows are then duplicates).
@inline(__always)
@usableFromInline
func microKernel6x16(kb: Int, a: UnsafePointer<Float>, rowStride: Int, kStride: Int, rows: Int = gemmMR,
                     b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int, add: Bool) {
  var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
  var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
  var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
  var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
  var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
  var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
  let braw = UnsafeRawPointer(b)
  @inline(__always) func row(_ r: Int) -> Int { Swift.min(r, rows - 1) * rowStride }
  let (r1, r2, r3, r4, r5) = (row(1), row(2), row(3), row(4), row(5))
  var ap = a
  for p in 0..<kb {
    let b0 = braw.loadUnaligned(fromByteOffset: p * 64, as: SIMD8<Float>.self)
    let b1 = braw.loadUnaligned(fromByteOffset: p * 64 + 32, as: SIMD8<Float>.self)
    let a0 = SIMD8<Float>(repeating: ap[0])
    c00.addProduct(a0, b0); c01.addProduct(a0, b1)
    let a1 = SIMD8<Float>(repeating: ap[r1])
    c10.addProduct(a1, b0); c11.addProduct(a1, b1)
    let a2 = SIMD8<Float>(repeating: ap[r2])
    c20.addProduct(a2, b0); c21.addProduct(a2, b1)
    let a3 = SIMD8<Float>(repeating: ap[r3])
    c30.addProduct(a3, b0); c31.addProduct(a3, b1)
    let a4 = SIMD8<Float>(repeating: ap[r4])
    c40.addProduct(a4, b0); c41.addProduct(a4, b1)
    let a5 = SIMD8<Float>(repeating: ap[r5])
    c50.addProduct(a5, b0); c51.addProduct(a5, b1)
    ap += kStride
  }
  let craw = UnsafeMutableRawPointer(c)
  @inline(__always) func store(_ row: Int, _ lo: SIMD8<Float>, _ hi: SIMD8<Float>) {
    let p = craw + row * ldc * 4
    if add {
      p.storeBytes(of: p.loadUnaligned(as: SIMD8<Float>.self) + lo, as: SIMD8<Float>.self)
      p.storeBytes(of: p.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) + hi, toByteOffset: 32, as: SIMD8<Float>.self)
    } else {
      p.storeBytes(of: lo, as: SIMD8<Float>.self)
      p.storeBytes(of: hi, toByteOffset: 32, as: SIMD8<Float>.self)
    }
  }
  store(0, c00, c01)
  store(1, c10, c11)
  store(2, c20, c21)
  store(3, c30, c31)
  store(4, c40, c41)
  store(5, c50, c51)
}
