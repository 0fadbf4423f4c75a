import CUDA
import TensorEngine

/// AdamW exactly as PyTorch's `torch.optim.AdamW` (non-fused, non-amsgrad): decoupled weight
/// decay `p -= lr·wd·p` first, then Adam with bias correction,
/// `p -= lr/(1-β1^t) · m / (√v/√(1-β2^t) + eps)`.
///
/// Weight decay applies only to parameters whose `ParameterSet.Entry.decay` is true.
public struct AdamW: Optimizer {
  public let parameters: ParameterSet
  public var beta1: Float
  public var beta2: Float
  public var eps: Float
  public var weightDecay: Float
  /// Number of steps taken.
  public private(set) var t = 0
  /// First and second moment estimates, laid out like the parameters, in host memory (a copy
  /// brought up to date by `copyToHost()` while the parameters live on a GPU).
  public let m: Storage
  public let v: Storage
  /// The moments on the parameters' GPU, from the first step there.
  private var gpuMoments: (m: Storage, v: Storage)?

  public init(parameters: ParameterSet, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8,
              weightDecay: Float = 0.01) {
    self.parameters = parameters
    self.beta1 = beta1
    self.beta2 = beta2
    self.eps = eps
    self.weightDecay = weightDecay
    m = Storage(count: parameters.count)
    v = Storage(count: parameters.count)
  }

  /// Restores the step count (after loading `m` and `v` from a checkpoint).
  public mutating func restore(step: Int) { t = step }

  /// Brings `m` and `v` up to date with the GPU's moments (before saving).
  public func copyToHost() {
    guard let (gm, gv) = gpuMoments, let ops = parameters.device.gpu else { return }
    ops.run { () throws(CUDAError) in
      try gm.gpu!.buffer.copy(to: m.base, bytes: 4 * m.count)
      try gv.gpu!.buffer.copy(to: v.base, bytes: 4 * v.count)
    }
  }

  public mutating func step(lr: Float) {
    t += 1
    // Scalars in double precision, as PyTorch computes them in Python floats.
    let biasCorrection1 = 1 - pow(Double(beta1), Double(t))
    let biasCorrection2Sqrt = (1 - pow(Double(beta2), Double(t))).squareRoot()
    let stepSize = Float(Double(lr) / biasCorrection1)
    let invBC2 = Float(biasCorrection2Sqrt)
    let decayFactor = Float(1 - Double(lr) * Double(weightDecay))
    let (b1, b2, eps) = (beta1, beta2, eps)
    if let ops = parameters.device.gpu, let (values, grads) = parameters.gpu {
      if gpuMoments == nil {
        let (hostM, hostV) = (self.m, self.v)
        let moments = (m: Storage(count: hostM.count, zeroed: false, on: parameters.device),
                       v: Storage(count: hostV.count, zeroed: false, on: parameters.device))
        ops.run { () throws(CUDAError) in
          try moments.m.gpu!.buffer.copy(from: hostM.base, bytes: 4 * hostM.count)
          try moments.v.gpu!.buffer.copy(from: hostV.base, bytes: 4 * hostV.count)
        }
        gpuMoments = moments
      }
      let (gm, gv) = gpuMoments!
      for entry in parameters.entries {
        ops.run { () throws(CUDAError) in
          try ops.adamw(parameters: values.gpu!.buffer, gradients: grads.gpu!.buffer, m: gm.gpu!.buffer, v: gv.gpu!.buffer,
                        offset: entry.offset, count: entry.count, beta1: b1, beta2: b2, eps: eps, stepSize: stepSize,
                        bc2Sqrt: invBC2, decayFactor: entry.decay && weightDecay != 0 ? decayFactor : 1)
        }
      }
      return
    }
    let (p, g, m, v) = (UncheckedSendable(parameters.values.base), UncheckedSendable(parameters.grads.base),
                        UncheckedSendable(self.m.base), UncheckedSendable(self.v.base))
    let segments = self.segments
    // Element-wise, so the result is the same for any split and thread count.
    Parallel.forEach(segments.count) { s in
      let (start, end, decay) = segments[s]
      adamwUpdate(parameters: p.value + start, gradients: g.value + start, m: m.value + start, v: v.value + start,
                  count: end - start, beta1: b1, beta2: b2, eps: eps, stepSize: stepSize, bc2Sqrt: invBC2,
                  decayFactor: decay ? decayFactor : 1)
    }
  }

  /// The parameter buffer cut into pieces of at most 32K elements that do not straddle a
  /// parameter (so each piece has one weight-decay flag).
  private var segments: [(start: Int, end: Int, decay: Bool)] {
    var out: [(start: Int, end: Int, decay: Bool)] = []
    for entry in parameters.entries {
      var start = entry.offset
      let end = entry.offset + entry.count
      while start < end {
        let stop = min(end, start + 32_768)
        out.append((start, stop, entry.decay && weightDecay != 0))
        start = stop
      }
    }
    return out
  }
}

#if canImport(Glibc)
import Glibc
#endif
