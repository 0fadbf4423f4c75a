/// Inverted dropout: zeroes each element with probability `p` and scales the rest by 1/(1-p).
/// With p = 0 it returns `x` itself.
public func dropout(_ x: Tensor, p: Float, rng: inout RandomGenerator) -> Tensor {
  precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1), got \(p)")
  if p == 0 { return x }
  let n = x.count
  let keep = 1 / (1 - p)
  if let gpu = x.gpu { return gpuDropout(x, mask: (0..<n).map { _ in rng.nextUniform() < p ? 0 : keep }, gpu) }
  let mask = Storage(count: n, zeroed: false)
  for i in 0..<n { mask.base[i] = rng.nextUniform() < p ? 0 : keep }
  let out = Tensor.result(x.shape, inputs: [x]) { out in
    let g = out.gradData
    let (d, add) = x.gradDestination()
    for i in 0..<n { d[i] = (add ? d[i] : 0) + g[i] * mask.base[i] }
  }
  for i in 0..<n { out.data[i] = x.data[i] * mask.base[i] }
  return out
}
