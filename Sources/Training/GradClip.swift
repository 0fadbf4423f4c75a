import TensorEngine

/// Scales all gradients so their global L2 norm is at most `maxNorm` (PyTorch's
/// `clip_grad_norm_`: coefficient maxNorm / (norm + 1e-6), capped at 1). Returns the norm
/// before clipping.
@discardableResult
public func clipGradNorm(_ parameters: ParameterSet, maxNorm: Float) -> Float {
  clipGradNorm([parameters], maxNorm: maxNorm)
}

/// `clipGradNorm` over several parameter sets together (one global norm), as when LoRA
/// adapters and a task head train side by side.
@discardableResult
public func clipGradNorm(_ sets: [ParameterSet], maxNorm: Float) -> Float {
  var total: Double = 0
  for parameters in sets {
    let g = parameters.grads.base
    var i = 0
    let n = parameters.count
    while i < n {
      let chunk = min(4096, n - i)
      total += Double(vdot(g + i, g + i, chunk))
      i += chunk
    }
  }
  let norm = Float(total.squareRoot())
  let coefficient = maxNorm / (norm + 1e-6)
  if coefficient < 1 {
    for parameters in sets {
      let g = parameters.grads.base
      for j in 0..<parameters.count { g[j] *= coefficient }
    }
  }
  return norm
}
