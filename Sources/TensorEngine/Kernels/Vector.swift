// Vectorised math on `SIMD16<Float>`: exp, and sums/dots with several accumulators.
// Clamping uses compares and `replacing(with:where:)`: the stdlib `pointwiseMin/Max` and
// `clamped` are not vectorised.

#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

public typealias Float16x = SIMD16<Float>

/// √x for 16 lanes in vector instructions (correctly rounded, as the scalar square root). The
/// stdlib's `squareRoot()` on SIMD vectors goes lane by lane through `sqrtf` and its errno check.
@_transparent
public func vsqrt(_ x: Float16x) -> Float16x {
  #if arch(x86_64)
  Float16x(lowHalf: _mm256_sqrt_ps(x.lowHalf), highHalf: _mm256_sqrt_ps(x.highHalf))
  #else
  x.squareRoot()
  #endif
}

/// e^x for 16 lanes: Cody–Waite range reduction and Cephes' degree-6 polynomial; ≤ 2 ulp against
/// `expf` on [-87, 88]. Inputs are clamped to that range (e^-87 ≈ 1.6e-38 stands in for 0).
@_transparent
public func vexp(_ input: Float16x) -> Float16x {
  var x = input.replacing(with: 88, where: input .> 88)
  x.replace(with: -87, where: x .< -87)
  let magic: Float16x = Float16x(repeating: 12_582_912)  // 1.5 · 2^23: rounds to an integer
  // Fused multiply-adds throughout: one instruction (and one rounding) per step.
  @inline(__always) func fma(_ a: Float16x, _ b: Float16x, _ c: Float) -> Float16x {
    Float16x(repeating: c).addingProduct(a, b)
  }
  let t = magic.addingProduct(x, Float16x(repeating: 1.442_695_04))
  let n = t - magic
  x = x.addingProduct(n, Float16x(repeating: -0.693_359_375))
  x = x.addingProduct(n, Float16x(repeating: 2.121_944_4e-4))
  var y = fma(Float16x(repeating: 1.987_569_150e-4), x, 1.398_199_95e-3)
  y = fma(y, x, 8.333_351_907e-3)
  y = fma(y, x, 4.166_579_59e-2)
  y = fma(y, x, 1.666_666_55e-1)
  y = fma(y, x, 5.000_000_12e-1)
  y = (x + 1).addingProduct(y, x * x)
  let bits = unsafeBitCast(t, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
  let scale = unsafeBitCast((bits &+ 127) &<< 23, to: Float16x.self)
  return y * scale
}

extension SIMD16 where Scalar == Float {
  /// The sum of the lanes, added pairwise by halves: four vector adds. The stdlib's `sum()` adds
  /// the 16 lanes one after another.
  @inlinable @inline(__always)
  public var laneSum: Float {
    let a = lowHalf + highHalf, b = a.lowHalf + a.highHalf, c = b.lowHalf + b.highHalf
    return c[0] + c[1]
  }

  /// The largest lane, by halves with vector compares (no NaN ordering). The stdlib's `max()`
  /// is a scalar loop.
  @inlinable @inline(__always)
  public var laneMax: Float {
    let a = lowHalf.replacing(with: highHalf, where: highHalf .> lowHalf)
    let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
    let c = b.lowHalf.replacing(with: b.highHalf, where: b.highHalf .> b.lowHalf)
    return Swift.max(c[0], c[1])
  }
}

/// e^x for one value, through the vector routine so scalar tails round the same way.
@inlinable @inline(__always)
public func vexp(_ x: Float) -> Float { vexp(Float16x(repeating: x))[0] }

@inlinable @inline(__always)
func load16(_ p: UnsafePointer<Float>) -> Float16x {
  UnsafeRawPointer(p).loadUnaligned(as: Float16x.self)
}

@inlinable @inline(__always)
func store16(_ v: Float16x, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float16x.self)
}

/// Σ x[i] for i in 0..<n, with reassociated (vector) accumulation.
@inlinable
public func vsum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
  var acc0 = Float16x(), acc1 = Float16x()
  var i = 0
  while i + 32 <= n { acc0 += load16(x + i); acc1 += load16(x + i + 16); i += 32 }
  while i + 16 <= n { acc0 += load16(x + i); i += 16 }
  var s = (acc0 + acc1).laneSum
  while i < n { s += x[i]; i += 1 }
  return s
}

/// Σ x[i]·y[i] for i in 0..<n.
@inlinable
public func vdot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
  var acc0 = Float16x(), acc1 = Float16x()
  var i = 0
  while i + 32 <= n {
    acc0.addProduct(load16(x + i), load16(y + i))
    acc1.addProduct(load16(x + i + 16), load16(y + i + 16))
    i += 32
  }
  while i + 16 <= n { acc0.addProduct(load16(x + i), load16(y + i)); i += 16 }
  var s = (acc0 + acc1).laneSum
  while i < n { s += x[i] * y[i]; i += 1 }
  return s
}

/// The largest of x[0..<n] (n ≥ 1).
@inlinable
public func vmax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
  var m = x[0]
  var i = 0
  if n >= 16 {
    var acc = load16(x)
    i = 16
    while i + 16 <= n {
      let v = load16(x + i)
      acc.replace(with: v, where: v .> acc)
      i += 16
    }
    m = acc.laneMax
  }
  while i < n { if x[i] > m { m = x[i] }; i += 1 }
  return m
}

/// Applies `f` to 16 lanes at a time over x[0..<n] into y; the tail is padded with zeros.
///
/// Pass a named `@inline(__always)` function (nested, when it captures): a closure literal
/// can be left out of line, with its lanes passed in four 128-bit registers.
@inlinable @inline(__always)
public func vmap(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                 _ f: (Float16x) -> Float16x) {
  var i = 0
  while i + 16 <= n { store16(f(load16(x + i)), y + i); i += 16 }
  if i < n {
    var v = Float16x()
    for j in 0..<(n - i) { v[j] = x[i + j] }
    let r = f(v)
    for j in 0..<(n - i) { y[i + j] = r[j] }
  }
}

/// y[i] += f(x[i]) for i in 0..<n, 16 lanes at a time.
@inlinable @inline(__always)
func vmapAccumulate(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                    _ f: (Float16x) -> Float16x) {
  var i = 0
  while i + 16 <= n { store16(load16(y + i) + f(load16(x + i)), y + i); i += 16 }
  if i < n {
    var v = Float16x()
    for j in 0..<(n - i) { v[j] = x[i + j] }
    let r = f(v)
    for j in 0..<(n - i) { y[i + j] += r[j] }
  }
}
