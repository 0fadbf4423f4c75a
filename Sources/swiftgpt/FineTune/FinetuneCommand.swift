import FileSupport
import ArgumentParser
import Foundation
import Inference
import Models
import TensorEngine
import Tokenizers
import Training

/// `swiftgpt finetune`: GPT-1 task fine-tuning or instruction tuning, fully or with LoRA.
struct FinetuneCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "finetune",
    abstract: "Fine-tune a pretrained GPT: GPT-1 tasks (classify, entail, similar, choice) or instructions (sft).",
    discussion: """
      GPT-1 tasks add start, delimiter and extract tokens and a linear head on the extract token's \
      final hidden state; loss = task loss + λ·LM loss (--lm-coef, 0.5). Data: JSONL, TSV with a \
      header, or a JSON array (NSMC, KorNLI, KorSTS, KLUE, bigbench and multiple-choice files). \
      --task sft trains on Alpaca JSONL (instruction/input/output, --template alpaca|koalpaca) or \
      chat JSONL (messages with role/content, ChatML with <|im_start|>/<|im_end|>), loss on the \
      responses only. --lora freezes the model and trains LoRA adapters (saved in OUT/adapter in \
      PEFT's format). OUT is a model folder for `predict`, `chat` and `sample`.
      """)

  @Option(help: "classify, entail, similar, choice or sft.") var task: String
  @Option(help: "Pretrained model: a run folder, a checkpoint folder or a HF GPT-2 folder.") var checkpoint: String
  @Option(help: "Training data file.") var train: String
  @Option(help: "Evaluation data file (GPT-1 tasks): accuracy, or Pearson/Spearman for similar.") var eval: String?
  @Option(help: "Output model folder.") var out: String
  @Flag(help: "Replace OUT if it exists.") var overwrite = false
  @Option(help: "Tokenizer (default: the checkpoint's).") var tokenizer: String?
  @Option(help: "sft prompt template for Alpaca records: alpaca, koalpaca or chat.") var template = "alpaca"

  @Option(help: "Epochs.") var epochs = 3
  @Option(help: "Batch size (examples).") var batchSize = 8
  @Option(help: "Peak learning rate (GPT-1's).") var lr: Float = 6.25e-5
  @Option(help: "Fraction of steps for warmup (then linear decay to 0).") var warmup: Float = 0.002
  @Option(help: "Weight decay.") var weightDecay: Float = 0.01
  @Option(help: "Gradient clipping norm (0: off).") var gradClip: Float = 1
  @Option(help: "λ, weight of the auxiliary LM loss (GPT-1 tasks).") var lmCoef: Float = 0.5
  @Option(help: "Longest input in tokens (default: the model's block size).") var maxLength: Int?
  @Option(help: "Stop after this many steps.") var maxSteps: Int?
  @Option(help: "Random seed.") var seed: UInt64 = 1337
  @OptionGroup(title: "LoRA") var lora: LoRAOptions
  @OptionGroup var threads: ThreadsOption
  @OptionGroup var device: DeviceOption
  @OptionGroup var precision: PrecisionOption

  func validate() throws {
    guard FineTuneTask(rawValue: task) != nil || task == "sft" else {
      throw ValidationError("--task must be classify, entail, similar, choice or sft, got '\(task)'")
    }
    guard InstructionTemplate(rawValue: template) != nil else { throw ValidationError("--template must be alpaca, koalpaca or chat") }
    if eval != nil && task == "sft" { throw ValidationError("--eval goes with GPT-1 tasks, not sft") }
    if !(lmCoef.isFinite && lmCoef >= 0) { throw ValidationError("--lm-coef must be finite and ≥ 0, got \(lmCoef)") }
    try lora.check()
  }

  var options: FineTuneOptions {
    var o = FineTuneOptions()
    (o.epochs, o.batchSize, o.lr, o.warmupFraction, o.weightDecay, o.gradClip) = (epochs, batchSize, lr, warmup, weightDecay, gradClip)
    (o.maxLength, o.maxSteps, o.seed) = (maxLength, maxSteps, seed)
    return o
  }

  func run() throws {
    threads.apply()
    // From here on Ctrl-C / SIGTERM stop at the next step boundary, and the model is saved.
    Interrupt.install()
    let out = normalizedPath(self.out)
    let lock = try claimOutputFolder(out, overwrite: overwrite)
    var succeeded = false
    defer { lock.release(succeeded: succeeded) }
    let source = ModelDirectory(checkpoint)
    let base = try source.loadGPT()
    let tokenizer = try source.tokenizer(override: self.tokenizer, vocabSize: base.vocabSize)
    let dropped = DroppedCharacters()
    defer { dropped.report() }
    let encode: (String) throws -> [Int] = { try encodeText($0, with: tokenizer, dropped: dropped) }
    let files = try source.tokenizerFiles(override: self.tokenizer)
    let (device, where_) = try self.device.resolve()
    let products = try precision.apply(to: device)
    if device.gpu != nil { print("fine-tuning on \(where_), \(products.rawValue) products") }
    var bar = ProgressBar(total: 1, label: "fine-tuning", unit: "steps")
    let start = Terminal.now()
    func report(_ p: FineTuneProgress) {
      bar.total = p.totalSteps
      bar.suffix = String(format: "loss %.4f", p.loss)
      bar.update(p.step)
    }
    let result: FineTuneSummary
    if task == "sft" {
      let data = try InstructionDataset(reading: train, template: InstructionTemplate(rawValue: template)!)
      let (model, tokens) = try InstructionTuning.prepare(
        base, existing: try source.instructionTokens(), template: data.template, seed: seed)
      result = try InstructionTuning.fineTune(
        model, data: data, tokens: tokens, options: options, lora: lora.config, device: device, encode: encode, progress: report,
        shouldStop: { Interrupt.requested })
      bar.finish()
      summary(result, total: model.parameterCount, seconds: Terminal.now() - start)
      try stopIfNothingTrained(result)
      try writeFolderAtomically(out, replaceable: isModelFolderEntry) { folder in
        try model.save(huggingFaceFolder: folder)
        try model.adapter?.save(peftFolder: folder + "/adapter", baseModel: out)
        try tokens.save(to: folder)
        for (name, data) in files { try writeAtomically(data, to: folder + "/" + name) }
      }
    } else {
      let task = FineTuneTask(rawValue: task)!
      let trainData = try TaskDataset(reading: train, task: task)
      let evalData = try eval.map { try TaskDataset(reading: $0, task: task, labels: trainData.labels) }
      let model = try TaskModel(base: base, task: task, labels: trainData.labels, lmCoefficient: lmCoef, seed: seed)
      result = try model.fineTune(train: trainData, options: options, lora: lora.config, device: device, encode: encode,
                                  progress: report, shouldStop: { Interrupt.requested })
      bar.finish()
      summary(result, total: model.gpt.parameterCount + model.head.count, seconds: Terminal.now() - start)
      try stopIfNothingTrained(result)
      try writeFolderAtomically(out, replaceable: isModelFolderEntry) { folder in
        try model.save(to: folder, name: out)
        for (name, data) in files { try writeAtomically(data, to: folder + "/" + name) }
      }
      if let evalData, !result.interrupted {
        let metrics = try model.evaluate(evalData, maxLength: maxLength, encode: encode)
        Terminal.write("eval: \(metrics)\n")
      }
    }
    succeeded = true
    if result.interrupted {
      Terminal.error("interrupted: saved the model after step \(result.steps) in \(out) (fine-tuning does not resume: "
        + "run it again for all the steps)")
      throw ExitCode(130)
    }
    Terminal.error("wrote \(out)")
  }

  /// A run stopped before its first step has nothing worth saving.
  private func stopIfNothingTrained(_ result: FineTuneSummary) throws {
    guard result.interrupted && result.steps == 0 else { return }
    Terminal.error("interrupted before the first step: nothing written")
    throw ExitCode(130)
  }

  private func summary(_ result: FineTuneSummary, total: Int, seconds: Double) {
    Terminal.error(String(
      format: "trainable parameters: %d of %d (%.2f%%); optimizer state %.2f MB; %d step%@ in %.1f s (%.1f ms/step)",
      result.trainable, total, 100 * Double(result.trainable) / Double(max(1, total)), Double(result.optimizerBytes) / 1e6,
      result.steps, result.steps == 1 ? "" : "s", seconds, 1000 * seconds / Double(max(1, result.steps))))
  }
}

/// The LoRA flags of `finetune`. The knobs are optional so that one given without --lora is
/// refused rather than ignored.
struct LoRAOptions: ParsableArguments {
  @Flag(help: "Train LoRA adapters instead of all weights.") var lora = false
  @Option(help: "LoRA rank r (default: 8).") var loraR: Int?
  @Option(help: "LoRA alpha; updates are scaled by alpha / r (default: 16).") var loraAlpha: Float?
  @Option(help: "Dropout on the adapters' inputs (default: 0).") var loraDropout: Float?
  @Option(parsing: .upToNextOption, help: "Layers to adapt: c_attn (default), c_proj, attn.c_proj, c_fc, mlp.c_proj.")
  var loraTargets: [String] = []

  func check() throws {
    guard lora else {
      if loraR != nil || loraAlpha != nil || loraDropout != nil || !loraTargets.isEmpty {
        throw ValidationError("--lora-r, --lora-alpha, --lora-dropout and --lora-targets go with --lora")
      }
      return
    }
    if let loraR, loraR < 1 { throw ValidationError("--lora-r must be ≥ 1, got \(loraR)") }
    if let loraAlpha, !(loraAlpha > 0) { throw ValidationError("--lora-alpha must be > 0, got \(loraAlpha)") }
    if let loraDropout, !(0..<1).contains(loraDropout) { throw ValidationError("--lora-dropout must be in [0, 1), got \(loraDropout)") }
  }

  var config: LoRAConfig? {
    guard lora else { return nil }
    let defaults = LoRAConfig()
    return LoRAConfig(rank: loraR ?? defaults.rank, alpha: loraAlpha ?? defaults.alpha, dropout: loraDropout ?? defaults.dropout,
                      targets: loraTargets.isEmpty ? defaults.targets : loraTargets)
  }
}

/// Encodes plain text for a model: special-token text is ordinary text for tiktoken-style
/// tokenizers (as in pretraining data); a HF pipeline adds no template tokens; a char
/// tokenizer leaves out characters it does not know and counts them in `dropped`.
func encodeText(_ text: String, with tokenizer: any Tokenizer, dropped: DroppedCharacters? = nil) throws -> [Int] {
  let (ids, count) = try tokenizer.encodeUserText(text)
  dropped?.count += count
  return ids
}

/// How many characters a char tokenizer could not encode (reported once at the end, or once a
/// chat message).
final class DroppedCharacters {
  var count = 0

  /// A note on stderr if any character was left out.
  func report() {
    if count > 0 {
      Terminal.error("note: \(count) character\(count == 1 ? "" : "s") outside the tokenizer's vocabulary \(count == 1 ? "was" : "were") left out")
    }
  }
}
