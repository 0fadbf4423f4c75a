/// GELU with GPT-2's tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
///
/// Computed as x·σ(2u), which is the same function, with the vectorised exp.
public func gelu(_ x: Tensor) -> Tensor {
  if let gpu = x.gpu { return gpuGELU(x, gpu) }
  let n = x.count
  let out = Tensor.result(x.shape, inputs: [x]) { out in
    let (dx, add) = x.gradDestination()
    let (xs, gs, ds) = (UncheckedSendable(x.data), UncheckedSendable(out.gradData), UncheckedSendable(dx))
    Parallel.forRows((n + 1023) / 1024, costPerRow: 40_000) { blocks in
      let lo = blocks.lowerBound * 1024, hi = min(n, blocks.upperBound * 1024)
      geluBackward(xs.value + lo, gs.value + lo, ds.value + lo, hi - lo, accumulate: add)
    }
  }
  let (xs, os) = (UncheckedSendable(x.data), UncheckedSendable(out.data))
  Parallel.forRows((n + 1023) / 1024, costPerRow: 30_000) { blocks in
    let lo = blocks.lowerBound * 1024, hi = min(n, blocks.upperBound * 1024)
    vmap(hi - lo, xs.value + lo, os.value + lo, geluValues)
  }
  return out
}

@usableFromInline let geluScale: Float = 0.797_884_56  // √(2/π)

/// gelu(v) for 16 lanes. A named always-inlined function rather than a closure literal: the
/// optimiser left such closures out of line, passing the lanes in four 128-bit registers.
@inline(__always)
func geluValues(_ v: Float16x) -> Float16x {
  v / (1 + vexp(minusTwoU(v)))
}

/// -2u = -2·√(2/π)·(v + 0.044715·v³), with one multiply-add.
@inline(__always)
func minusTwoU(_ v: Float16x) -> Float16x {
  v * Float16x(repeating: -2 * geluScale).addingProduct(v * v, Float16x(repeating: -2 * geluScale * 0.044715))
}

/// dx[i] (+)= dout[i] · gelu'(x[i]) for i in 0..<n, with σ = σ(2u): gelu' = σ + xσ(1-σ)·2u'.
func geluBackward(_ x: UnsafePointer<Float>, _ dout: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int,
                  accumulate: Bool) {
  var i = 0
  @inline(__always) func derivative(_ v: Float16x) -> Float16x {
    let twoDu = Float16x(repeating: 2 * geluScale).addingProduct(v * v, Float16x(repeating: 6 * geluScale * 0.044715))
    let s = 1 / (1 + vexp(minusTwoU(v)))
    return s.addingProduct(v * s * (1 - s), twoDu)
  }
  while i + 16 <= n {
    let d = load16(dout + i) * derivative(load16(x + i))
    store16(accumulate ? load16(dx + i) + d : d, dx + i)
    i += 16
  }
  if i < n {
    var v = Float16x()
    for j in 0..<(n - i) { v[j] = x[i + j] }
    let d = derivative(v)
    for j in 0..<(n - i) { dx[i + j] = (accumulate ? dx[i + j] : 0) + dout[i + j] * d[j] }
  }
}
