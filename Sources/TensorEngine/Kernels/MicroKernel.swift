// The 6×16 register tile of the GEMM: 12 `SIMD8<Float>` accumulators (two per row), written out
// with named variables so that they stay in the 16 AVX2 registers.

/// C[6, 16] (+)= Apanel[kb, 6]ᵀ · Bpanel[kb, 16]; `a` is a packed A panel, `b` a packed B panel.
@inline(__always)
@usableFromInline
func microKernel6x16(kb: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                     c: UnsafeMutablePointer<Float>, ldc: Int, add: Bool) {
  var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
  var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
  var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
  var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
  var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
  var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
  let araw = UnsafeRawPointer(a), braw = UnsafeRawPointer(b)
  for p in 0..<kb {
    let b0 = braw.loadUnaligned(fromByteOffset: p * 64, as: SIMD8<Float>.self)
    let b1 = braw.loadUnaligned(fromByteOffset: p * 64 + 32, as: SIMD8<Float>.self)
    let ap = araw + p * 24
    let a0 = SIMD8<Float>(repeating: ap.load(fromByteOffset: 0, as: Float.self))
    c00.addProduct(a0, b0); c01.addProduct(a0, b1)
    let a1 = SIMD8<Float>(repeating: ap.load(fromByteOffset: 4, as: Float.self))
    c10.addProduct(a1, b0); c11.addProduct(a1, b1)
    let a2 = SIMD8<Float>(repeating: ap.load(fromByteOffset: 8, as: Float.self))
    c20.addProduct(a2, b0); c21.addProduct(a2, b1)
    let a3 = SIMD8<Float>(repeating: ap.load(fromByteOffset: 12, as: Float.self))
    c30.addProduct(a3, b0); c31.addProduct(a3, b1)
    let a4 = SIMD8<Float>(repeating: ap.load(fromByteOffset: 16, as: Float.self))
    c40.addProduct(a4, b0); c41.addProduct(a4, b1)
    let a5 = SIMD8<Float>(repeating: ap.load(fromByteOffset: 20, as: Float.self))
    c50.addProduct(a5, b0); c51.addProduct(a5, b1)
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
