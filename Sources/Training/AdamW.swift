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
  /// First and second moment estimates, laid out like the parameters.
  public let m: Storage
  public let v: Storage

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

  public mutating func step(lr: Float) {
    t += 1
    // Scalars in double precision, as PyTorch computes them in Python floats.
    let biasCorrection1 = 1 - pow(Double(beta1), Double(t))
    let biasCorrection2Sqrt = (1 - pow(Double(beta2), Double(t))).squareRoot()
    let stepSize = Float(Double(lr) / biasCorrection1)
    let invBC2 = Float(biasCorrection2Sqrt)
    let decayFactor = Float(1 - Double(lr) * Double(weightDecay))
    let (b1, b2, eps) = (beta1, beta2, eps)
    let (p, g, m, v) = (parameters.values.base, parameters.grads.base, m.base, v.base)
    for entry in parameters.entries {
      let decay = entry.decay && weightDecay != 0
      for i in entry.offset..<(entry.offset + entry.count) {
        if decay { p[i] *= decayFactor }
        let grad = g[i]
        m[i] += (grad - m[i]) * (1 - b1)  // lerp, as torch's exp_avg.lerp_(grad, 1 - beta1)
        v[i] = v[i] * b2 + (1 - b2) * (grad * grad)
        let denom = v[i].squareRoot() / invBC2 + eps
        p[i] -= stepSize * (m[i] / denom)
      }
    }
  }
}

#if canImport(Glibc)
import Glibc
#endif
