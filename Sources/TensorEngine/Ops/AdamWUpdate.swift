/// The AdamW update of one run of parameters, as PyTorch's `torch.optim.AdamW` (non-fused,
/// non-amsgrad) computes it, in place (llm.c's `adamw_update`):
///
///     p *= decayFactor;  m = lerp(m, g, 1 - β1);  v = β2·v + (1 - β2)·g²
///     p -= stepSize · m / (√v / bc2Sqrt + eps)
///
/// p, g, m, v: [count]. `stepSize` is lr / (1 - β1ᵗ), `bc2Sqrt` is √(1 - β2ᵗ), `decayFactor`
/// is 1 - lr·wd (1 for parameters without weight decay). Element-wise: the same bits whatever
/// way a buffer is cut into runs.
public func adamwUpdate(
  parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
  v: UnsafeMutablePointer<Float>, count: Int, beta1 b1: Float, beta2 b2: Float, eps: Float, stepSize: Float,
  bc2Sqrt: Float, decayFactor: Float
) {
  var i = 0
  while i + 16 <= count {
    let grad = load(g + i)
    var mi = load(m + i), vi = load(v + i)
    mi += (grad - mi) * (1 - b1)  // lerp, as torch's exp_avg.lerp_(grad, 1 - beta1)
    vi = vi * b2 + (1 - b2) * (grad * grad)
    let denom = vsqrt(vi) / bc2Sqrt + eps
    let pi = load(p + i) * decayFactor - stepSize * (mi / denom)
    store(mi, m + i)
    store(vi, v + i)
    store(pi, p + i)
    i += 16
  }
  while i < count {
    p[i] *= decayFactor
    let grad = g[i]
    m[i] += (grad - m[i]) * (1 - b1)
    v[i] = v[i] * b2 + (1 - b2) * (grad * grad)
    let denom = v[i].squareRoot() / bc2Sqrt + eps
    p[i] -= stepSize * (m[i] / denom)
    i += 1
  }
}

@inline(__always) private func load(_ x: UnsafePointer<Float>) -> Float16x {
  UnsafeRawPointer(x).loadUnaligned(as: Float16x.self)
}

@inline(__always) private func load(_ x: UnsafeMutablePointer<Float>) -> Float16x { load(UnsafePointer(x)) }

@inline(__always) private func store(_ value: Float16x, _ x: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(x).storeBytes(of: value, as: Float16x.self)
}
