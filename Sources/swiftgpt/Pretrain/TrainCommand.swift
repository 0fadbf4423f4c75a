import FileSupport
import ArgumentParser
import Foundation
import Inference
import Models
import TensorEngine
import Server
import Tokenizers
import Training

/// `swiftgpt train`: pretrain a GPT (or the bigram baseline) on prepared token shards.
struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Pretrain a GPT or bigram model on token shards from `swiftgpt prepare`.",
    discussion: """
      Without --data, trains a character-level model on the Korean corpus embedded in swiftgpt. \
      Writes OUT/latest and OUT/best checkpoints, OUT/log.csv and OUT/loss.svg. Ctrl-C saves \
      OUT/latest before exiting; --resume continues from it bit for bit.
      """)

  @Option(help: "Dataset folder written by `swiftgpt prepare` (default: the embedded Korean corpus, char-level).")
  var data: String?

  @OptionGroup var model: ModelOptions
  @OptionGroup var training: TrainingFlags

  @Option(help: "Output folder for checkpoints and logs.")
  var out = "out"

  @Flag(help: "Continue the run saved in OUT/latest (its options are kept; --max-steps may extend it).")
  var resume = false

  @Flag(help: "Start a new run in OUT even if it holds one (its checkpoints are replaced).")
  var overwrite = false
  @Option(defaultAsFlag: 8081, help: ArgumentHelp(
    "Serve a live dashboard (loss, learning rate, gradient norm, tokens/s, samples, checkpoints) on 127.0.0.1:PORT; "
      + "it stays up after the run until Ctrl-C (port 0: any free port).", valueName: "port"))
  var dashboard: Int? = nil

  @OptionGroup var threads: ThreadsOption
  @OptionGroup var device: DeviceOption
  @OptionGroup var precision: PrecisionOption

  func validate() throws {
    if resume && overwrite { throw ValidationError("--resume and --overwrite exclude each other") }
    if let dashboard, !(0...65535).contains(dashboard) { throw ValidationError("--dashboard takes a port in 0...65535, got \(dashboard)") }
    // A resumed run keeps its model and options: any other flag would be ignored.
    let ignored = resume ? model.given + training.given.filter { $0 != "--max-steps" } : []
    if !ignored.isEmpty {
      throw ValidationError("--resume continues the run with its own model and options; drop "
        + "\(ignored.joined(separator: ", ")) (only --max-steps may change)")
    }
  }

  func run() throws {
    threads.apply()
    let out = normalizedPath(self.out)
    // A save killed between its renames is completed first (`runCheckpoint`), so that --resume
    // finds the checkpoint and the guard below sees the run.
    if !resume && !overwrite && runCheckpoint(in: out) != nil {
      throw CLIError("\(out) already holds a training run: continue it with --resume, replace it with --overwrite, or choose another --out")
    }
    // Where to compute, before anything is written: a --precision the device lacks is an error.
    var device = try self.device.resolve()
    let products = try precision.apply(to: device.device)
    if device.device.gpu != nil { device.description += ", \(products.rawValue) products" }
    // Without --data, the embedded corpus in OUT/data; a run resumed without --data that trained
    // on other data is refused before anything is written into it.
    if data == nil, resume, (try? PreparedDataset(folder: out + "/data")) == nil,
       let saved = try? DatasetMeta(folder: out + "/latest"), !trainedOnEmbeddedCorpus(out + "/latest") {
      throw CLIError("the run in \(out) trained on a dataset of its own (vocabulary \(saved.vocabSize), tokenizer "
        + "\(saved.tokenizer)): resume it with --data and that folder")
    }
    let dataFolder = try data ?? prepareEmbeddedCorpus(into: out + "/data")
    let start = resume ? TrainingStart.resume(maxSteps: training.maxSteps) : .new(
      model: { meta in
        try model.make(vocabSize: meta.vocabSize, endOfText: meta.endOfText, seed: training.seed ?? TrainingOptions().seed)
      },
      options: { made in try training.options(blockSize: made.contextLength ?? model.blockSize ?? 64) })
    let outcome = try runTraining(data: dataFolder, out: out, start: start, device: device, dashboardPort: dashboard)
    if outcome == .interrupted { throw ExitCode(130) }
  }
}

/// Which model to train: a preset, `bigram`, or a HF GPT-2 config.json, with overrides.
struct ModelOptions: ParsableArguments {
  @Option(help: "bigram, a GPT preset (\(GPTConfig.presetNames.joined(separator: ", "))) or a config.json path (default: gpt-micro).")
  var model: String?

  @Option(help: "Layers (overrides the preset).") var nLayer: Int?
  @Option(help: "Attention heads (overrides the preset).") var nHead: Int?
  @Option(help: "Embedding width (overrides the preset).") var nEmbd: Int?
  @Option(help: "Dropout (overrides the preset).") var dropout: Float?
  @Option(help: "Biases in linear layers and LayerNorms: true or false (overrides the preset).") var bias: Bool?
  @Option(help: "Context length, also the training window (default: the preset's).") var blockSize: Int?

  /// The flags given on the command line.
  var given: [String] {
    givenFlags(["--model": model != nil, "--n-layer": nLayer != nil, "--n-head": nHead != nil, "--n-embd": nEmbd != nil,
                "--dropout": dropout != nil, "--bias": bias != nil, "--block-size": blockSize != nil])
  }

  /// The model for a vocabulary of `vocabSize` tokens whose end-of-text token (HF's bos and eos)
  /// is `endOfText`, initialised from `seed`.
  func make(vocabSize: Int, endOfText: Int?, seed: UInt64) throws -> any LanguageModel {
    let model = self.model ?? "gpt-micro"
    if model == "bigram" { return try Bigram(vocabSize: vocabSize, seed: seed) }
    var config: GPTConfig
    if let preset = GPTConfig.preset(named: model) {
      config = preset
    } else if model.hasSuffix(".json") {
      config = try GPTConfig(huggingFaceConfig: model)
    } else {
      throw CLIError("unknown model '\(model)': use bigram, \(GPTConfig.presetNames.joined(separator: ", ")) or a config.json")
    }
    config.vocabSize = vocabSize
    if let nLayer { config.nLayer = nLayer }
    if let nHead { config.nHead = nHead }
    if let nEmbd { config.nEmbd = nEmbd }
    if let dropout { config.dropout = dropout }
    if let bias { config.bias = bias }
    if let blockSize { config.blockSize = blockSize }
    (config.bosTokenID, config.eosTokenID) = (endOfText, endOfText)
    return try GPT(config: config, seed: seed)
  }
}

/// The optimisation flags, mapped onto `TrainingOptions` (unset flags keep its defaults).
struct TrainingFlags: ParsableArguments {
  private static let defaults = TrainingOptions()
  @Option(help: "Sequences per micro-batch (default: \(Self.defaults.batchSize)).") var batchSize: Int?
  @Option(help: "Optimizer steps (default: \(Self.defaults.maxSteps)).") var maxSteps: Int?
  @Option(help: "Peak learning rate (default: \(Self.defaults.learningRate)).") var lr: Float?
  @Option(help: "Final learning rate of the decay (default: --lr / 10).") var minLr: Float?
  @Option(help: "Warmup steps (default: \(Self.defaults.warmupSteps)).") var warmup: Int?
  @Option(help: "Decay after warmup: cosine, linear or constant (default: \(Self.defaults.decay.rawValue)).") var decay: String?
  @Option(help: "Steps over which the learning rate decays to --min-lr (default: --max-steps; later steps stay at --min-lr).")
  var lrDecaySteps: Int?
  @Option(help: "AdamW weight decay on weight matrices (default: \(Self.defaults.weightDecay)).") var weightDecay: Float?
  @Option(help: "Clip gradients to this global norm, 0 to disable (default: \(Self.defaults.gradClip)).") var gradClip: Float?
  @Option(help: "Micro-batches per step (default: \(Self.defaults.gradAccum)).") var gradAccum: Int?
  @Option(help: "Evaluate and checkpoint every N steps (default: \(Self.defaults.evalEvery)).") var evalEvery: Int?
  @Option(help: "Batches per split in an evaluation (default: \(Self.defaults.evalSteps)).") var evalSteps: Int?
  @Option(help: "Random seed for initialisation, batches and dropout (default: \(Self.defaults.seed)).") var seed: UInt64?

  /// The flags given on the command line.
  var given: [String] {
    givenFlags(["--batch-size": batchSize != nil, "--max-steps": maxSteps != nil, "--lr": lr != nil, "--min-lr": minLr != nil,
                "--warmup": warmup != nil, "--decay": decay != nil, "--lr-decay-steps": lrDecaySteps != nil,
                "--weight-decay": weightDecay != nil,
                "--grad-clip": gradClip != nil, "--grad-accum": gradAccum != nil, "--eval-every": evalEvery != nil,
                "--eval-steps": evalSteps != nil, "--seed": seed != nil])
  }

  func options(blockSize: Int) throws -> TrainingOptions {
    var o = TrainingOptions()
    o.blockSize = blockSize
    if let batchSize { o.batchSize = batchSize }
    if let maxSteps { o.maxSteps = maxSteps }
    if let lr { o.learningRate = lr; o.minLearningRate = lr / 10 }
    if let minLr { o.minLearningRate = minLr }
    if let warmup { o.warmupSteps = warmup }
    if let decay {
      guard let d = LRSchedule.Decay(rawValue: decay) else { throw CLIError("--decay must be cosine, linear or constant, got '\(decay)'") }
      o.decay = d
    }
    if let lrDecaySteps { o.decaySteps = lrDecaySteps }
    if let weightDecay { o.weightDecay = weightDecay }
    if let gradClip { o.gradClip = gradClip }
    if let gradAccum { o.gradAccum = gradAccum }
    if let evalEvery { o.evalEvery = evalEvery }
    if let evalSteps { o.evalSteps = evalSteps }
    if let seed { o.seed = seed }
    return o
  }
}

/// The names in `flags` whose value is true (given), in order.
private func givenFlags(_ flags: KeyValuePairs<String, Bool>) -> [String] { flags.filter(\.value).map(\.key) }

/// How `runTraining` starts: a new run — a model for the dataset (from its meta), and the
/// options for that model — or a resume of `OUT/latest`, optionally to more steps.
enum TrainingStart {
  case new(model: (DatasetMeta) throws -> any LanguageModel, options: (any LanguageModel) throws -> TrainingOptions)
  case resume(maxSteps: Int?)
}

/// Trains (or resumes) on the dataset in `data`, printing evaluations and a live progress line;
/// with `dashboardPort`, also on a live dashboard, which stays up after the run until Ctrl-C.
/// `device` says where it trains (and how to name it).
func runTraining(data: String, out: String, start: TrainingStart, device: (device: Device, description: String) = (.cpu, "the CPU"),
                 quiet: Bool = false, dashboardPort: Int? = nil) throws -> Trainer.Outcome
{
  let dataset = try PreparedDataset(folder: data)
  let meta = dataset.meta
  if dataset.inferred {
    Terminal.error("\(data) has no meta.json (nanoGPT data?): vocabulary \(meta.vocabSize)"
      + (meta.tokenizer.isEmpty ? ", no tokenizer (give sample --tokenizer)" : ", tokenizer \(meta.tokenizer)"))
  }
  // A tokenizer that cannot be opened is reported now, not by `sample` after the whole run.
  let tokenizer = try dataset.openTokenizer()
  let (train, val) = (dataset.train, dataset.val)
  let files = try dataset.tokenizerFiles()
  let trainer: Trainer
  switch start {
  case .resume(let maxSteps):
    try checkSameTokenizer(data: data, meta, files, run: out + "/latest")
    trainer = try Trainer(resumingFrom: out + "/latest", train: train, val: val, maxSteps: maxSteps, device: device.device)
    print("resuming \(out)/latest at step \(trainer.step) of \(trainer.options.maxSteps)"
      + (trainer.step == trainer.options.maxSteps ? ": the run is finished (give a larger --max-steps to train on)" : ""))
  case .new(let makeModel, let makeOptions):
    let languageModel = try makeModel(meta)
    trainer = try Trainer(model: languageModel, train: train, val: val, options: try makeOptions(languageModel),
                          device: device.device)
  }
  let o = trainer.options
  if !quiet {
    print(String(format: "model: %@, %.2fM parameters; data: %@ (%d train / %d val tokens, vocab %d)",
                 describe(trainer.model), Double(trainer.model.parameters.count) / 1e6, data, train.count, val?.count ?? 0, meta.vocabSize))
    print("training: \(o.maxSteps) steps × \(o.batchSize)×\(o.blockSize) tokens" + (o.gradAccum > 1 ? " × \(o.gradAccum) micro-batches" : "")
      + String(format: ", lr %g → %g (%@), on %@", o.learningRate, o.minLearningRate, o.decay.rawValue,
               device.device.gpu == nil ? "\(Parallel.threads) thread\(Parallel.threads == 1 ? "" : "s") of the CPU" : device.description))
    if o.maxSteps > 0 && o.warmupSteps >= o.maxSteps {
      Terminal.error(String(format: "note: the warmup (%d steps) is as long as the run (%d): the rate rises only to %.3g of --lr %g; "
        + "give a shorter --warmup", o.warmupSteps, o.maxSteps, o.schedule.lr(at: o.maxSteps - 1), o.learningRate))
    }
  }
  var live: (dashboard: TrainingDashboard, server: WebServer)?
  if let dashboardPort {
    let dashboard = TrainingDashboard(title: out, info: [
      "model": describe(trainer.model), "parameters": String(format: "%.2fM", Double(trainer.model.parameters.count) / 1e6),
      "data": "\(data) (vocab \(meta.vocabSize), \(train.count) train / \(val?.count ?? 0) val tokens)",
      "batch": "\(o.batchSize) × \(o.blockSize) tokens" + (o.gradAccum > 1 ? " × \(o.gradAccum)" : ""),
      "schedule": String(format: "%d steps, lr %g → %g (%@), warmup %d", o.maxSteps, o.learningRate, o.minLearningRate, o.decay.rawValue,
                         o.warmupSteps),
    ], rows: trainer.log)
    let server = try WebServer(makeDashboardRouter(dashboard), host: "127.0.0.1", port: dashboardPort, stopOnSignals: false)
    print("dashboard: \(server.url)/dashboard")
    live = (dashboard, server)
  }
  Interrupt.install()
  var progress = TrainingProgress(total: o.maxSteps)
  let outcome = try trainer.run(out: out, files: files, shouldStop: { Interrupt.requested }) { event in
    switch event {
    case .step(let row):
      progress.update(row)
      live?.dashboard.record(row)
    case .evaluation(let row):
      // The line goes on a cleared line, and the bar is drawn again below it.
      progress.clear()
      if !quiet { print(TrainingProgress.evaluationLine(row)) }
      progress.update(row)
      live?.dashboard.record(row)
      if let live, let tokenizer { live.dashboard.recordSample(dashboardSample(trainer.model, tokenizer, meta, step: row.step), step: row.step) }
    case .checkpoint(let path): live?.dashboard.recordCheckpoint(path, step: trainer.step)
    }
  }
  progress.clear()
  live?.dashboard.finish()
  if outcome == .interrupted {
    Terminal.error("interrupted: saved \(out)/latest at step \(trainer.step); continue with --resume")
  } else if !quiet {
    print("done: best \(trainer.val == nil ? "train" : "val") loss \(trainer.bestValLoss.map { String(format: "%.4f", $0) } ?? "-") → \(out)/best; log \(out)/log.csv, curve \(out)/loss.svg")
  }
  if let live, outcome == .finished {
    print("the dashboard stays at \(live.server.url)/dashboard until Ctrl-C")
    // The run is saved: a signal now just ends the process.
    for received in [SIGINT, SIGTERM] { signal(received, SIG_DFL) }
    try live.server.wait()
  }
  return outcome
}

/// What the model writes now, for the dashboard: 64 tokens after the end-of-text token (else a
/// newline), sampled as nanoGPT's `sample.py` does (temperature 0.8, top-k 200), seeded by the
/// step so that runs compare.
private func dashboardSample(_ model: any LanguageModel, _ tokenizer: any Tokenizer, _ meta: DatasetMeta, step: Int) -> String {
  // Generation runs on the CPU: a model training on a GPU comes home for the sample.
  let device = model.parameters.device
  model.parameters.place(on: .cpu)
  defer { model.parameters.place(on: device) }
  let prompt = meta.endOfText.map { [Int32($0)] } ?? (try? tokenizer.encode("\n").map(Int32.init)).flatMap { $0.isEmpty ? nil : $0 } ?? [0]
  var rng = RandomGenerator(seed: UInt64(step))
  let text = try? model.generateText(prompt: prompt, tokenizer: tokenizer, maxNewTokens: 64,
                                     sampling: SamplingOptions(temperature: 0.8, topK: 200), rng: &rng).text
  return text ?? ""
}

/// Refuses to resume the run saved in `run` on data tokenized otherwise: the vocabulary size and
/// the tokenizer (its file's bytes, or the built-in encoding's name) must be the run's. (Token ids
/// within the vocabulary would have trained on, and saved the checkpoint with, the wrong tokenizer.)
func checkSameTokenizer(data: String, _ meta: DatasetMeta, _ files: [String: Data], run: String) throws {
  guard let saved = try? DatasetMeta(folder: run) else { return }
  let savedFile = run + "/" + saved.tokenizer
  let runTokenizer = saved.tokenizer.isEmpty ? nil : FileManager.default.contents(atPath: savedFile)
  guard saved.vocabSize != meta.vocabSize
    || (files[meta.tokenizer] ?? Data(meta.tokenizer.utf8)) != (runTokenizer ?? Data(saved.tokenizer.utf8))
  else { return }
  let none = { (name: String) in name.isEmpty ? "none" : name }
  throw CLIError("\(data) was tokenized otherwise than the run in \(run) (vocabulary \(meta.vocabSize) vs \(saved.vocabSize), "
    + "tokenizer \(none(meta.tokenizer)) vs \(none(saved.tokenizer))); prepare it with the run's tokenizer"
    + (saved.tokenizer.isEmpty ? "" : ": swiftgpt prepare --tokenizer \(runTokenizer == nil ? saved.tokenizer : savedFile)"))
}

func describe(_ model: any LanguageModel) -> String {
  guard let gpt = model as? GPT else { return "bigram" }
  let c = gpt.config
  return "GPT \(c.nLayer) layers × \(c.nHead) heads × \(c.nEmbd) wide, context \(c.blockSize)"
}

/// The checkpoint of the training run in `out` (`latest`, else `best`), or nil if it holds none.
/// A save killed between its renames (`latest.tmp` / `latest.old` left) is completed first.
func runCheckpoint(in out: String) -> String? {
  for checkpoint in ["latest", "best"] { recoverInterruptedWrite(out + "/" + checkpoint) }
  return ["latest", "best"].map { out + "/" + $0 }.first { FileManager.default.fileExists(atPath: $0) }
}

/// Whether the checkpoint in `folder` was trained on the embedded corpus: its tokenizer is that
/// corpus's characters.
func trainedOnEmbeddedCorpus(_ folder: String) -> Bool {
  guard let saved = try? CharTokenizer(file: folder + "/char_tokenizer.json"),
        let embedded = try? CharTokenizer(corpus: embeddedKoreanCorpus) else { return false }
  return Set(saved.characters) == Set(embedded.characters)
}

/// Writes the embedded Korean corpus to `folder/corpus.txt` and prepares it char-level.
func prepareEmbeddedCorpus(into folder: String) throws -> String {
  if (try? PreparedDataset(folder: folder)) != nil { return folder }
  try createFolder(folder)
  let corpus = folder + "/corpus.txt"
  try writeFileAtomically(corpus, embeddedKoreanCorpus)
  _ = try DatasetPreparer(inputs: [corpus], tokenizer: "char", output: folder).run()
  return folder
}

/// The live training line on stderr (TTY only): step, loss, last val loss, tokens/s, ETA.
struct TrainingProgress {
  let total: Int
  private let enabled = Terminal.stderrIsTTY
  private var lastDraw = 0.0
  private var rate = 0.0
  private var lastVal: Float?

  init(total: Int) { self.total = total }

  mutating func update(_ row: LogRow) {
    if row.tokensPerSecond > 0 { rate = rate == 0 ? row.tokensPerSecond : 0.9 * rate + 0.1 * row.tokensPerSecond }
    if let v = row.valLoss { lastVal = v }
    let now = Terminal.now()
    guard enabled, now - lastDraw >= 0.1 || row.step == total else { return }
    lastDraw = now
    let fraction = total > 0 ? Double(row.step) / Double(total) : 1
    let filled = Int(fraction * 24)
    let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: 24 - filled)
    let stepRate = row.step > 0 ? Double(row.step) / max(row.elapsed, 1e-9) : 0
    let eta = stepRate > 0 ? formatDuration(Double(total - row.step) / stepRate) : "-"
    let val = lastVal.map { String(format: "%.4f", $0) } ?? "-"
    let line = String(format: "\rstep %d/%d %@ loss %.4f | val %@ | %@ tok/s | ETA %@\u{1B}[K",
                      row.step, total, bar, row.loss, val, formatCount(rate), eta)
    FileHandle.standardError.write(Data(line.utf8))
  }

  func clear() {
    if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
  }

  static func evaluationLine(_ row: LogRow) -> String {
    let val = row.valLoss.map { String(format: ", val %.4f", $0) } ?? ""
    return String(format: "step %5d: train %.4f%@, lr %.2e, %@ tok/s, %@", row.step, row.trainLoss ?? row.loss, val,
                  row.learningRate, formatCount(row.tokensPerSecond), formatDuration(row.elapsed))
  }
}

func formatCount(_ x: Double) -> String {
  x >= 1e6 ? String(format: "%.2fM", x / 1e6) : x >= 1e3 ? String(format: "%.1fk", x / 1e3) : String(format: "%.0f", x)
}

func formatDuration(_ seconds: Double) -> String {
  let s = Int(seconds.rounded())
  return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
}
