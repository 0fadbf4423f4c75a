import Foundation
import Models
import TensorEngine

/// One line of a fine-tuning run's progress.
public struct FineTuneProgress: Sendable {
  public var step: Int
  public var totalSteps: Int
  public var loss: Float
  /// The task loss and the LM loss before weighting (SFT: the LM loss in both).
  public var taskLoss: Float
  public var lmLoss: Float
  public var epoch: Int
}

extension TaskModel {
  /// Fine-tunes on `train` (GPT-1: task loss + λ·LM loss; AdamW with warmup and linear decay)
  /// until the last step or until `shouldStop()` turns true. With `lora`, the GPT's weights are
  /// frozen and only LoRA adapters (saved with the model) and the head learn. Runs on `device`;
  /// the model is back on the CPU when it returns.
  @discardableResult
  public func fineTune(
    train: TaskDataset, options: FineTuneOptions, lora: LoRAConfig? = nil, device: Device = .cpu, encode: (String) throws -> [Int],
    progress: (FineTuneProgress) -> Void = { _ in }, shouldStop: () -> Bool = { false }
  ) throws -> FineTuneSummary {
    try options.validate()
    guard train.task == task else { throw TrainingError.invalidData("the data is for \(train.task), the model for \(task)") }
    let maxLength = try options.length(context: gpt.config.blockSize)
    let inputs = try self.encode(train, maxLength: maxLength, encode: encode)
    try gpt.checkActivationMemory(batch: min(options.batchSize, inputs.count) * (inputs.map(\.count).max() ?? 1),
                                  length: inputs.lazy.flatMap { $0 }.map(\.count).max() ?? 1,
                                  knobs: "--batch-size or --max-length", device: device)
    let sets = try FineTuner.trainableSets(gpt, lora: lora, extra: [head], seed: options.seed)
    return try FineTuner.train(gpt, sets: sets, count: inputs.count, options: options, device: device, progress: progress,
                               shouldStop: shouldStop) { picked, rng in
      loss(picked.map { inputs[$0] }, examples: picked.map { train.examples[$0] }, rng: rng)
    }
  }
}
