import TensorEngine

/// Stochastic gradient descent as PyTorch's `torch.optim.SGD` (no dampening, no Nesterov):
/// `g += wd·p` (decaying parameters only), `buf = momentum·buf + g`, `p -= lr·buf`. CPU only.
public struct SGD: Optimizer {
  public let parameters: ParameterSet
  public var momentum: Float
  public var weightDecay: Float
  /// The momentum buffer, laid out like the parameters.
  public let buffer: Storage
  private var started = false

  public init(parameters: ParameterSet, momentum: Float = 0, weightDecay: Float = 0) {
    self.parameters = parameters
    self.momentum = momentum
    self.weightDecay = weightDecay
    buffer = Storage(count: parameters.count)
  }

  public mutating func step(lr: Float) {
    guard parameters.device.gpu == nil else { fatalError("SGD runs on the CPU only: use AdamW for parameters on a GPU") }
    let (p, g, buf) = (parameters.values.base, parameters.grads.base, buffer.base)
    for entry in parameters.entries {
      let wd = entry.decay ? weightDecay : 0
      for i in entry.offset..<(entry.offset + entry.count) {
        var d = g[i] + wd * p[i]
        if momentum != 0 {
          buf[i] = started ? momentum * buf[i] + d : d
          d = buf[i]
        }
        p[i] -= lr * d
      }
    }
    started = true
  }
}
