import CUDA
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
  let norm = gradNorm(sets)
  let coefficient = maxNorm / (norm + 1e-6)
  if coefficient < 1 {
    for parameters in sets {
      if let ops = parameters.device.gpu, let (_, grads) = parameters.gpu {
        ops.run { () throws(CUDAError) in try ops.scale(grads.gpu!.buffer, by: coefficient, count: parameters.count) }
        continue
      }
      let g = UncheckedSendable(parameters.grads.base)
      Parallel.forRows(parameters.count, costPerRow: Parallel.memoryBoundCost) { range in
        for j in range { g.value[j] *= coefficient }
      }
    }
  }
  return norm
}

/// The global L2 norm of the gradients of `sets`.
public func gradNorm(_ sets: [ParameterSet]) -> Float {
  // Squares summed per 4096-value chunk (in parallel), the chunks added in order in Double:
  // the same norm for any thread count.
  let chunk = 4096
  var total: Double = 0
  for parameters in sets {
    if let ops = parameters.device.gpu, let (_, grads) = parameters.gpu {
      // The GPU sums the squares in a fixed order of its own.
      var squares: Float = .nan
      ops.run { () throws(CUDAError) in squares = try ops.sumOfSquares(grads.gpu!.buffer, count: parameters.count) }
      total += Double(squares)
      continue
    }
    let (g, n) = (UncheckedSendable(parameters.grads.base), parameters.count)
    let chunks = (n + chunk - 1) / chunk
    let sums = Storage(count: chunks, zeroed: false)
    let out = UncheckedSendable(sums.base)
    Parallel.forRows(chunks, costPerRow: Parallel.memoryBoundCost * chunk) { range in
      for c in range {
        let start = c * chunk
        out.value[c] = vdot(g.value + start, g.value + start, min(chunk, n - start))
      }
    }
    for c in 0..<chunks { total += Double(sums.base[c]) }
  }
  return Float(total.squareRoot())
}
