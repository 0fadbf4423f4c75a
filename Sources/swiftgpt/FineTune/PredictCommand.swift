import ArgumentParser
import Foundation
import Inference
import Models
import TensorEngine

/// `swiftgpt predict`: run a fine-tuned GPT-1 task model.
struct PredictCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "predict",
    abstract: "Predict with a model from `swiftgpt finetune --task classify|entail|similar|choice`.",
    discussion: """
      --text once per text: one for classify, premise and hypothesis for entail, two sentences \
      for similar, the context then every choice for choice. Prints the label (or choice index) \
      and its probability, or the score. --input FILE predicts every record of a labelled file \
      (one line each) and reports the accuracy (Pearson / Spearman for similar).
      """)

  @Option(help: "Fine-tuned model folder.") var checkpoint: String
  @Option(help: "An input text (repeat for pairs and choices).") var text: [String] = []
  @Option(help: "A labelled data file to predict and score.") var input: String?
  @Option(help: "Tokenizer (default: the model's).") var tokenizer: String?
  @OptionGroup var threads: ThreadsOption
  @OptionGroup var device: DeviceOption

  func validate() throws {
    guard text.isEmpty != (input == nil) else { throw ValidationError("give either --text (repeated as needed) or --input") }
  }

  func run() throws {
    threads.apply()
    let folder = ModelDirectory(checkpoint)
    let model = try TaskModel(folder: folder.path)
    let tokenizer = try folder.tokenizer(override: self.tokenizer, vocabSize: model.gpt.vocabSize)
    let device = try self.device.place([model.gpt.parameters, model.head] + (model.gpt.adapter.map { [$0.parameters] } ?? []))
    let dropped = DroppedCharacters()
    defer { dropped.report() }
    let encode: (String) throws -> [Int] = { try encodeText($0, with: tokenizer, dropped: dropped) }
    let maxLength = model.gpt.config.blockSize
    func line(_ p: (index: Int, probability: Float, score: Float)) -> String {
      switch model.task {
      case .similar: return String(format: "%.4f", p.score)
      case .choice: return String(format: "%d\t%.4f", p.index, p.probability)
      case .classify, .entail: return String(format: "%@\t%.4f", model.labels[p.index], p.probability)
      }
    }
    if let input {
      let data = try TaskDataset(reading: input, task: model.task, labels: model.task == .classify || model.task == .entail ? model.labels : nil)
      let predictions = try model.predictions(data, maxLength: maxLength, encode: encode)
      try device.gpu?.checkFailure()
      Terminal.write(predictions.map { line($0) + "\n" }.joined())
      Terminal.error("\(model.metrics(predictions, for: data))")
      return
    }
    let needed: ClosedRange<Int> = switch model.task {
    case .classify: 1...1
    case .entail, .similar: 2...2
    case .choice: 3...Int.max
    }
    guard needed.contains(text.count) else {
      throw CLIError("\(model.task == .entail ? "an" : "a") \(model.task.rawValue) model takes \(model.task == .choice ? "a context and at least two choices" : "\(needed.lowerBound) --text"), got \(text.count)")
    }
    let sequences = try model.sequences(TaskExample(texts: text), maxLength: maxLength, encode: encode)
    let prediction = model.predict([sequences])[0]
    try device.gpu?.checkFailure()
    Terminal.write(line(prediction) + "\n")
  }
}
