import TensorEngine

/// Scales all gradients so their global L2 norm is at most `maxNorm` (PyTorch's
/// `clip_grad_norm_`: coefficient maxNorm / (norm + 1e-6), capped at 1). Returns the norm
/// before clipping.
@discardableResult
public func clipGradNorm(_ parameters: ParameterSet, maxNorm: Float) -> Float {
  let g = parameters.grads.base
  var total: Double = 0
  var i = 0
  let n = parameters.count
  while i < n {
    let chunk = min(4096, n - i)
    let part = vdot(g + i, g + i, chunk)
    total += Double(part)
    i += chunk
  }
  let norm = Float(total.squareRoot())
  let coefficient = maxNorm / (norm + 1e-6)
  if coefficient < 1 {
    for j in 0..<n { g[j] *= coefficient }
  }
  return norm
}
