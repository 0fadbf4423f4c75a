/// The knobs of a pretraining run (nanoGPT's `train.py` globals), with nanoGPT's
/// `shakespeare_char` defaults where it has them.
public struct TrainingOptions: Codable, Equatable, Sendable {
  public var batchSize = 12
  public var blockSize = 64
  public var maxSteps = 2000
  public var learningRate: Float = 1e-3
  /// The floor of the decay (nanoGPT: `min_lr`, usually learningRate / 10).
  public var minLearningRate: Float = 1e-4
  public var warmupSteps = 100
  public var decay = LRSchedule.Decay.cosine
  /// Steps over which the rate decays to `minLearningRate` (nanoGPT: `lr_decay_iters`); nil:
  /// `maxSteps` when the run starts. A run resumed with more steps keeps its horizon, so it
  /// continues at the floor rather than climbing back up the curve.
  public var decaySteps: Int?
  public var weightDecay: Float = 0.1
  public var beta1: Float = 0.9
  public var beta2: Float = 0.99
  /// Clip gradients to this global norm; 0 disables clipping.
  public var gradClip: Float = 1
  /// Micro-batches per optimizer step.
  public var gradAccum = 1
  /// Evaluate (and checkpoint) every this many steps; 0 evaluates only at the end.
  public var evalEvery = 250
  /// Batches per split in an evaluation.
  public var evalSteps = 20
  public var seed: UInt64 = 1337

  public init() {}

  /// The learning-rate schedule these options describe.
  public var schedule: LRSchedule {
    LRSchedule(maxLR: learningRate, minLR: minLearningRate, warmupSteps: warmupSteps, decaySteps: decaySteps ?? maxSteps,
               decay: decay)
  }

  /// Tokens consumed per optimizer step.
  public var tokensPerStep: Int { batchSize * blockSize * gradAccum }

  /// Throws a one-line error for options that cannot work.
  public func validate(contextLength: Int?) throws(TrainingError) {
    func bad(_ why: String) -> TrainingError { .invalidOption(why) }
    if batchSize < 1 { throw bad("--batch-size must be ≥ 1, got \(batchSize)") }
    if blockSize < 1 { throw bad("--block-size must be ≥ 1, got \(blockSize)") }
    if let contextLength, blockSize > contextLength {
      throw bad("--block-size \(blockSize) is longer than the model's context of \(contextLength) tokens")
    }
    if maxSteps < 0 { throw bad("--max-steps must be ≥ 0, got \(maxSteps)") }
    if !(learningRate > 0) || !learningRate.isFinite { throw bad("--lr must be positive, got \(learningRate)") }
    if !(minLearningRate >= 0) || minLearningRate > learningRate { throw bad("--min-lr must be in [0, lr], got \(minLearningRate)") }
    if warmupSteps < 0 { throw bad("--warmup must be ≥ 0, got \(warmupSteps)") }
    if let decaySteps, decaySteps < 0 { throw bad("--lr-decay-steps must be ≥ 0, got \(decaySteps)") }
    if !(weightDecay >= 0) { throw bad("--weight-decay must be ≥ 0, got \(weightDecay)") }
    if !(gradClip >= 0) { throw bad("--grad-clip must be ≥ 0, got \(gradClip)") }
    if gradAccum < 1 { throw bad("--grad-accum must be ≥ 1, got \(gradAccum)") }
    if evalEvery < 0 { throw bad("--eval-every must be ≥ 0, got \(evalEvery)") }
    if evalSteps < 1 { throw bad("--eval-steps must be ≥ 1, got \(evalSteps)") }
  }
}

extension LRSchedule.Decay: Codable {}
