import Models
import TensorEngine

/// Hyper-parameters of a fine-tuning run (GPT-1's defaults: lr 6.25e-5, warmup over 0.2 % of
/// the steps then linear decay to 0, weight decay 0.01, clip 1, 3 epochs).
public struct FineTuneOptions: Sendable, Equatable {
  public var epochs = 3
  public var batchSize = 8
  public var lr: Float = 6.25e-5
  /// Fraction of the steps spent warming up.
  public var warmupFraction: Float = 0.002
  public var weightDecay: Float = 0.01
  public var gradClip: Float = 1
  /// Longest sequence fed to the model (at most its block size); longer inputs are cut.
  public var maxLength: Int?
  /// Stop after this many steps (all epochs when nil).
  public var maxSteps: Int?
  public var seed: UInt64 = 1337

  public init() {}

  func validate() throws(TrainingError) {
    guard epochs > 0, batchSize > 0, lr > 0, lr.isFinite, gradClip >= 0, gradClip.isFinite, weightDecay >= 0,
      weightDecay.isFinite, (0...1).contains(warmupFraction)
    else {
      throw .invalidOption("epochs, batch size and learning rate must be positive (and finite, as the clip norm and weight "
        + "decay); warmup fraction in 0...1")
    }
    if let maxLength, maxLength < 4 { throw .invalidOption("max length must be at least 4 tokens") }
  }

  /// The longest sequence for a model of `context` positions: `maxLength`, or the whole context.
  func length(context: Int) throws(TrainingError) -> Int {
    guard let maxLength else { return context }
    guard maxLength <= context else {
      throw .invalidOption("--max-length \(maxLength) is longer than the model's context of \(context) tokens")
    }
    return maxLength
  }
}

/// One optimisation step at a time over several parameter sets (LoRA adapters or the whole
/// model, plus a task head): AdamW on each, one global gradient-norm clip, GPT-1's schedule.
public struct FineTuner {
  public let sets: [ParameterSet]
  public let options: FineTuneOptions
  public let totalSteps: Int
  private var update: OptimizerStep
  private let schedule: LRSchedule
  public private(set) var step = 0

  public init(training sets: [ParameterSet], options: FineTuneOptions, totalSteps: Int) {
    self.sets = sets
    self.options = options
    self.totalSteps = max(1, totalSteps)
    update = OptimizerStep(sets.map { AdamW(parameters: $0, weightDecay: options.weightDecay) }, gradClip: options.gradClip)
    let warmup = Int((Float(totalSteps) * options.warmupFraction).rounded(.up))
    schedule = LRSchedule(maxLR: options.lr, minLR: 0, warmupSteps: warmup, decaySteps: totalSteps, decay: .linear)
  }

  /// Bytes of optimizer state (AdamW's two moments per trainable scalar).
  public var optimizerBytes: Int { sets.reduce(0) { $0 + 2 * 4 * $1.count } }

  /// Trainable scalars.
  public var trainableCount: Int { sets.reduce(0) { $0 + $1.count } }

  /// Zeroes the gradients, runs `loss` forward and backward, clips, and updates. Returns the loss.
  public mutating func step(_ loss: () -> Tensor) -> Float {
    let value = update(lr: schedule.lr(at: step)) {
      let value = loss()
      value.backward()
      return value.item
    }
    step += 1
    return value
  }
}

extension FineTuner {
  /// What learns: LoRA adapters attached to `model` (whose own weights are then frozen until
  /// `train` returns) or the whole model, followed by `extra` (a task head).
  static func trainableSets(_ model: GPT, lora: LoRAConfig?, extra: [ParameterSet] = [], seed: UInt64) throws -> [ParameterSet] {
    guard let lora else { return [model.parameters] + extra }
    model.adapter = try LoRAAdapter(config: lora, for: model, seed: seed)
    model.parameters.isTrainable = false
    return [model.adapter!.parameters] + extra
  }

  /// Epochs of shuffled mini-batches over `count` examples: `loss(indices, dropoutRNG)` gives
  /// the batch's loss and its task / LM parts. Stops early when `shouldStop()` turns true
  /// (Ctrl-C), and with an error when the loss stops being finite (the weights would be NaN).
  /// Runs on `device` (the model and `sets` move there, and back to the CPU at the end).
  /// Unfreezes `model` at the end.
  static func train(
    _ model: GPT, sets: [ParameterSet], count: Int, options: FineTuneOptions, device: Device,
    progress: (FineTuneProgress) -> Void, shouldStop: () -> Bool,
    loss: ([Int], DropoutRNG) -> (total: Tensor, task: Float, lm: Float)
  ) throws(TrainingError) -> FineTuneSummary {
    let placed = [model.parameters] + sets
    for set in placed { set.place(on: device) }
    defer {
      for set in placed { set.place(on: .cpu) }
      model.parameters.isTrainable = true
    }
    func checkDevice() throws(TrainingError) { if let failure = device.gpu?.failure { throw .device(failure.description) } }
    let stepsPerEpoch = (count + options.batchSize - 1) / options.batchSize
    let total = min(options.maxSteps ?? Int.max, stepsPerEpoch * options.epochs)
    var tuner = FineTuner(training: sets, options: options, totalSteps: total)
    var rng = RandomGenerator(seed: options.seed)
    let dropoutRNG = DropoutRNG(seed: options.seed &+ 0x5EED)
    var interrupted = false
    epochs: for epoch in 0..<options.epochs {
      let order = Array(0..<count).shuffled(using: &rng)
      for first in stride(from: 0, to: order.count, by: options.batchSize) {
        if tuner.step >= total { break epochs }
        if shouldStop() { interrupted = true; break epochs }
        var parts: (task: Float, lm: Float) = (0, 0)
        let value = tuner.step {
          let result = loss(Array(order[first..<min(first + options.batchSize, order.count)]), dropoutRNG)
          parts = (result.task, result.lm)
          return result.total
        }
        try checkDevice()
        guard value.isFinite else { throw .invalidData("the loss became \(value) at step \(tuner.step); lower --lr") }
        progress(FineTuneProgress(step: tuner.step, totalSteps: total, loss: value, taskLoss: parts.task, lmLoss: parts.lm,
                                  epoch: epoch))
      }
    }
    // The last update is never followed by a loss: check the weights it left (home on the CPU).
    for set in placed { set.place(on: .cpu) }
    try checkDevice()
    if let name = sets.lazy.compactMap({ $0.firstNonFinite() }).first {
      throw .invalidData("parameter \(name) became non-finite at step \(tuner.step); lower --lr")
    }
    return FineTuneSummary(optimizerBytes: tuner.optimizerBytes, trainable: tuner.trainableCount, steps: tuner.step,
                           interrupted: interrupted)
  }
}

/// How a fine-tuning run went.
public struct FineTuneSummary: Sendable, Equatable {
  /// Bytes of optimizer state (AdamW's two moments per trainable scalar).
  public var optimizerBytes: Int
  /// Trainable scalars.
  public var trainable: Int
  /// Optimizer steps taken.
  public var steps: Int
  /// Whether `shouldStop` ended the run before its last step.
  public var interrupted: Bool
}

extension Array {
  /// The elements in a random order from `rng` (Fisher–Yates), the same for the same seed.
  func shuffled(using rng: inout RandomGenerator) -> [Element] {
    var copy = self
    guard count > 1 else { return copy }
    for i in stride(from: count - 1, to: 0, by: -1) {
      let j = Int(rng.next() % UInt64(i + 1))
      copy.swapAt(i, j)
    }
    return copy
  }
}
