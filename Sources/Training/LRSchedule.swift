#if canImport(Glibc)
import Glibc
#endif

/// A learning-rate schedule: linear warmup, then cosine or linear decay to a floor (nanoGPT's
/// `get_lr`), or a constant rate.
public struct LRSchedule: Sendable, Equatable {
  public enum Decay: String, Sendable, Equatable, CaseIterable {
    case cosine, linear, constant
  }
  public var maxLR: Float
  public var minLR: Float
  public var warmupSteps: Int
  /// Step at which the decay reaches `minLR` (nanoGPT's `lr_decay_iters`).
  public var decaySteps: Int
  public var decay: Decay

  public init(maxLR: Float, minLR: Float = 0, warmupSteps: Int = 0, decaySteps: Int = 0, decay: Decay = .cosine) {
    self.maxLR = maxLR
    self.minLR = minLR
    self.warmupSteps = warmupSteps
    self.decaySteps = decaySteps
    self.decay = decay
  }

  /// The learning rate at step `it` (0-based).
  public func lr(at it: Int) -> Float {
    if it < warmupSteps { return maxLR * Float(it + 1) / Float(warmupSteps + 1) }
    if decay == .constant { return maxLR }
    if it > decaySteps { return minLR }
    let span = max(1, decaySteps - warmupSteps)
    let ratio = Float(it - warmupSteps) / Float(span)
    let coefficient = decay == .cosine ? 0.5 * (1 + cos(Float.pi * ratio)) : 1 - ratio
    return minLR + coefficient * (maxLR - minLR)
  }
}
