import FileSupport
import Foundation
import Models
import TensorEngine

/// Instruction tuning (SFT) of a GPT: language-modelling loss on response tokens only.
public enum InstructionTuning {
  /// Prepares `base` for instruction tuning: the model with the two markers added (or `base`
  /// itself when `existing` says it already has them) and their ids.
  public static func prepare(_ base: GPT, existing: InstructionTokens?, template: InstructionTemplate, seed: UInt64 = 1337)
    throws -> (GPT, InstructionTokens)
  {
    if var tokens = existing {
      tokens.template = template
      return (base, tokens)
    }
    let v = Int32(base.config.vocabSize)
    let model = try base.extendingVocabulary(by: 2, seed: seed)
    // A reply ends at <|im_end|>: what HF's `generate` should stop at too.
    model.setSpecialTokenIDs(bos: base.config.bosTokenID, eos: Int(v + 1))
    return (model, InstructionTokens(start: v, end: v + 1, template: template))
  }

  /// Trains `model` on `data` (LoRA adapters only, with `lora`) until the last step or until
  /// `shouldStop()` turns true. Runs on `device`; the model is back on the CPU when it returns.
  @discardableResult
  public static func fineTune(
    _ model: GPT, data: InstructionDataset, tokens: InstructionTokens, options: FineTuneOptions, lora: LoRAConfig? = nil,
    device: Device = .cpu, encode: (String) throws -> [Int], progress: (FineTuneProgress) -> Void = { _ in }, shouldStop: () -> Bool = { false }
  ) throws -> FineTuneSummary {
    try options.validate()
    let maxLength = try options.length(context: model.config.blockSize)
    let encoded = try data.examples.map { try tokens.encode($0, maxLength: maxLength, encode: encode) }
      .filter { $0.targets.contains { $0 != -100 } }
    guard !encoded.isEmpty else {
      let context = model.config.blockSize
      throw TrainingError.invalidData("no example keeps a response token within " + (maxLength < context
        ? "--max-length \(maxLength): raise it (up to the model's context of \(context) tokens)"
        : "the model's context of \(context) tokens: its prompts, with the template's text, fill it (shorter ones, --template chat, "
          + "or a model with a longer context)"))
    }
    try model.checkActivationMemory(batch: min(options.batchSize, encoded.count), length: encoded.map(\.ids.count).max()!,
                                    knobs: "--batch-size or --max-length", device: device)
    let sets = try FineTuner.trainableSets(model, lora: lora, seed: options.seed)
    return try FineTuner.train(model, sets: sets, count: encoded.count, options: options, device: device, progress: progress,
                               shouldStop: shouldStop) { picked, rng in
      let (ids, targets, length) = padRows(picked.map { encoded[$0] })
      let loss = model.forward(ids, batch: picked.count, length: length, targets: targets, rng: rng).loss!
      return (loss, loss.item, loss.item)
    }
  }
}
