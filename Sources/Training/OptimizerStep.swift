import TensorEngine

/// One optimisation step, the same for pretraining (`Trainer`) and fine-tuning (`FineTuner`):
/// the gradients of every trained parameter set zeroed, the step's forward and backward passes
/// run, one global gradient norm clipped, and each set updated by its own AdamW.
public struct OptimizerStep {
  /// The optimizers, one per trained parameter set (the whole model; or LoRA adapters and a
  /// task head).
  public private(set) var optimizers: [AdamW]
  /// Clip the global gradient norm to this; 0 disables clipping.
  public var gradClip: Float
  /// The global gradient norm of the last step, before clipping.
  public private(set) var gradNorm: Float = 0

  public init(_ optimizers: [AdamW], gradClip: Float) {
    self.optimizers = optimizers
    self.gradClip = gradClip
  }

  /// The parameter sets being trained.
  public var sets: [ParameterSet] { optimizers.map(\.parameters) }

  /// Runs `forwardBackward` (the step's forward and backward passes, returning its loss) on
  /// zeroed gradients, clips, and updates every set at learning rate `lr`. Returns the loss.
  public mutating func callAsFunction(lr: Float, _ forwardBackward: () throws -> Float) rethrows -> Float {
    for optimizer in optimizers { optimizer.parameters.zeroGrad() }
    let loss = try forwardBackward()
    gradNorm = gradClip > 0 ? clipGradNorm(sets, maxNorm: gradClip) : Training.gradNorm(sets)
    for k in optimizers.indices { optimizers[k].step(lr: lr) }
    return loss
  }
}
