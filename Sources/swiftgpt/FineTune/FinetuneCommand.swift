import ArgumentParser
import Foundation
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
  @Option(help: "Peak learning rate (GPT-1: 6.25e-5).") var lr: Float = 6.25e-5
  @Option(help: "Fraction of steps for warmup (then linear decay to 0).") var warmup: Float = 0.002
  @Option(help: "Weight decay.") var weightDecay: Float = 0.01
  @Option(help: "Gradient clipping norm (0: off).") var gradClip: Float = 1
  @Option(help: "λ, weight of the auxiliary LM loss (GPT-1 tasks).") var lmCoef: Float = 0.5
  @Option(help: "Longest input in tokens (default: the model's block size).") var maxLength: Int?
  @Option(help: "Stop after this many steps.") var maxSteps: Int?
  @Option(help: "Random seed.") var seed: UInt64 = 1337
  @OptionGroup(title: "LoRA") var lora: LoRAOptions
  @Option(help: "Threads (default: all cores).") var threads: Int?

  func validate() throws {
    guard FineTuneTask(rawValue: task) != nil || task == "sft" else {
      throw ValidationError("--task must be classify, entail, similar, choice or sft, got '\(task)'")
    }
    guard InstructionTemplate(rawValue: template) != nil else { throw ValidationError("--template must be alpaca, koalpaca or chat") }
    if eval != nil && task == "sft" { throw ValidationError("--eval goes with GPT-1 tasks, not sft") }
    if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
    try lora.check()
  }

  var options: FineTuneOptions {
    var o = FineTuneOptions()
    (o.epochs, o.batchSize, o.lr, o.warmupFraction, o.weightDecay, o.gradClip) = (epochs, batchSize, lr, warmup, weightDecay, gradClip)
    (o.maxLength, o.maxSteps, o.seed) = (maxLength, maxSteps, seed)
    return o
  }

  func run() throws {
    if let threads { Parallel.threads = threads }
    if !overwrite && FileManager.default.fileExists(atPath: out) {
      throw CLIError("\(out) already exists: replace it with --overwrite, or choose another --out")
    }
    try checkFolderWritable(out)
    let source = resolveCheckpoint(checkpoint)
    let base = try loadGPT(source)
    let tokenizer = try openTokenizer(folder: source, override: self.tokenizer, vocabSize: base.vocabSize)
    let dropped = DroppedCharacters()
    defer { dropped.report() }
    let encode: (String) throws -> [Int] = { try encodeText($0, with: tokenizer, dropped: dropped) }
    let files = try tokenizerFiles(from: source, override: self.tokenizer)
    var bar = ProgressBar(total: 1, label: "fine-tuning", unit: "steps")
    let start = Terminal.now()
    var steps = 0
    func report(_ p: FineTuneProgress) {
      steps = p.step
      bar.total = p.totalSteps
      bar.suffix = String(format: "loss %.4f", p.loss)
      bar.update(p.step)
    }
    if task == "sft" {
      let data = try InstructionDataset(reading: train, template: InstructionTemplate(rawValue: template)!)
      let (model, tokens) = try InstructionTuning.prepare(
        base, existing: try InstructionTokens(folder: source), template: data.template, seed: seed)
      let (bytes, trainable) = try InstructionTuning.fineTune(
        model, data: data, tokens: tokens, options: options, lora: lora.config, encode: encode, progress: report)
      bar.finish()
      summary(trainable: trainable, total: model.parameterCount, optimizerBytes: bytes, steps: steps, seconds: Terminal.now() - start)
      try writeFolderAtomically(out) { folder in
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
      let (bytes, trainable) = try model.fineTune(train: trainData, options: options, lora: lora.config, encode: encode,
                                                  progress: report)
      bar.finish()
      summary(trainable: trainable, total: model.gpt.parameterCount + model.head.count, optimizerBytes: bytes,
              steps: steps, seconds: Terminal.now() - start)
      try writeFolderAtomically(out) { folder in
        try model.save(to: folder, name: out)
        for (name, data) in files { try writeAtomically(data, to: folder + "/" + name) }
      }
      if let evalData {
        let metrics = try model.evaluate(evalData, maxLength: maxLength, encode: encode)
        Terminal.write("eval: \(metrics)\n")
      }
    }
    Terminal.error("wrote \(out)")
  }

  private func summary(trainable: Int, total: Int, optimizerBytes: Int, steps: Int, seconds: Double) {
    Terminal.error(String(
      format: "trainable parameters: %d of %d (%.2f%%); optimizer state %.2f MB; %d steps in %.1f s (%.1f ms/step)",
      trainable, total, 100 * Double(trainable) / Double(max(1, total)), Double(optimizerBytes) / 1e6, steps, seconds,
      1000 * seconds / Double(max(1, steps))))
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

/// A GPT from a model folder (bigram models cannot be fine-tuned).
func loadGPT(_ folder: String) throws -> GPT {
  guard let gpt = try ModelFolder.load(folder) as? GPT else {
    throw CLIError("\(folder) holds a bigram model; fine-tuning needs a GPT")
  }
  return gpt
}

/// Encodes plain text for a model: special-token text is ordinary text for tiktoken-style
/// tokenizers (as in pretraining data); a HF pipeline adds no template tokens; a char
/// tokenizer leaves out characters it does not know and counts them in `dropped`.
func encodeText(_ text: String, with tokenizer: any Tokenizer, dropped: DroppedCharacters? = nil) throws -> [Int] {
  if let bpe = tokenizer as? any BytePairTokenizer { return bpe.encodeOrdinary(text) }
  if let pipeline = tokenizer as? PipelineTokenizer { return pipeline.encoding(of: text, addSpecialTokens: false).ids }
  if let char = tokenizer as? CharTokenizer {
    let (ids, count) = char.encodeKnown(text)
    dropped?.count += count
    return ids
  }
  return try tokenizer.encode(text)
}

/// How many characters a char tokenizer could not encode (reported once at the end).
final class DroppedCharacters {
  var count = 0

  /// A note on stderr if any character was left out.
  func report() {
    if count > 0 { Terminal.error("note: \(count) characters outside the tokenizer's vocabulary were left out") }
  }
}

/// The tokenizer files a derived model folder carries: the source's (`tokenizerFiles`), or,
/// with `override`, that tokenizer (a built-in name, or a file copied in) named by `meta.json`.
func tokenizerFiles(from source: String, override: String?) throws -> [String: Data] {
  var meta = (try? DatasetMeta(folder: source)) ?? DatasetMeta(vocabSize: 0, tokenizer: "")
  guard let override else { return meta.tokenizer.isEmpty ? [:] : try tokenizerFiles(meta, from: source) }
  guard let data = FileManager.default.contents(atPath: override) else {
    meta.tokenizer = override
    return try tokenizerFiles(meta, from: source)
  }
  meta.tokenizer = "tokenizer." + (override as NSString).pathExtension
  var files = try tokenizerFiles(meta, from: source)
  files[meta.tokenizer] = data
  return files
}
