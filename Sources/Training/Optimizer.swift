import TensorEngine

/// An optimiser that updates a `ParameterSet` from its gradients.
public protocol Optimizer {
  /// Applies one update with learning rate `lr` (the schedule's value for this step).
  mutating func step(lr: Float)
}
