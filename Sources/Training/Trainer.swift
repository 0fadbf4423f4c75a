import FileSupport
import Foundation
import Models
import TensorEngine

/// nanoGPT's training loop as a library: random-window batches, AdamW with warmup and decay,
/// gradient accumulation and clipping, periodic evaluation on both splits, checkpoints (latest
/// and best by validation loss), a CSV log and a loss curve — and bit-exact resume.
public final class Trainer {
  public let model: any LanguageModel
  public private(set) var options: TrainingOptions
  public let train: TokenDataset
  public let val: TokenDataset?
  private var update: OptimizerStep
  /// AdamW over the model's parameters.
  public var optimizer: AdamW { update.optimizers[0] }
  /// Optimizer steps taken.
  public private(set) var step = 0
  /// The best evaluation so far (its checkpoint is `best/`): the validation loss, or the training
  /// loss when there is no validation split.
  public private(set) var bestValLoss: Float?
  public private(set) var log: [LogRow] = []
  /// The steps at which this run was resumed (marked on the loss curve).
  public private(set) var resumes: [Int] = []
  private var batchRNG: RandomGenerator
  private let dropoutRNG: DropoutRNG
  /// Training time spent before this process (restored on resume).
  private var elapsedBefore = 0.0
  /// Where the model trains.
  public let device: Device

  /// A run from step 0, on `device` (the model's parameters move there).
  public init(model: any LanguageModel, train: TokenDataset, val: TokenDataset?, options: TrainingOptions,
              device: Device = .cpu) throws(TrainingError) {
    try Self.check(options, for: model, on: device)
    (self.model, self.train, self.val, self.options, self.device) = (model, train, val, options, device)
    if options.decaySteps == nil { self.options.decaySteps = options.maxSteps }
    update = OptimizerStep([AdamW(parameters: model.parameters, beta1: options.beta1, beta2: options.beta2,
                                  weightDecay: options.weightDecay)], gradClip: options.gradClip)
    batchRNG = RandomGenerator(seed: options.seed)
    dropoutRNG = DropoutRNG(seed: options.seed &+ 0x5EED)
    try checkData()
    model.parameters.place(on: device)
  }

  /// Continues the run saved in checkpoint `folder` exactly where it stopped: same weights,
  /// optimizer moments, step, random streams and log. `maxSteps`, when given, extends the run;
  /// the learning rate keeps its decay horizon (`decaySteps`), so steps past it run at the floor.
  /// A run saved on one device resumes on any other.
  public init(resumingFrom folder: String, train: TokenDataset, val: TokenDataset?, maxSteps: Int? = nil,
              device: Device = .cpu) throws {
    self.device = device
    recoverInterruptedWrite(folder)
    let state = try CheckpointState(folder: folder)
    model = try ModelFolder.load(folder)
    (self.train, self.val) = (train, val)
    options = state.options
    // Checkpoints from before `decaySteps` decayed over their own max steps.
    if options.decaySteps == nil { options.decaySteps = options.maxSteps }
    if let maxSteps {
      guard maxSteps >= state.step else {
        throw TrainingError.invalidOption("--max-steps \(maxSteps) is before the run's step \(state.step): give more steps to train on")
      }
      options.maxSteps = maxSteps
    }
    try Self.check(options, for: model, on: device)
    var optimizer = AdamW(parameters: model.parameters, beta1: options.beta1, beta2: options.beta2, weightDecay: options.weightDecay)
    let (moments, _) = try Safetensors.read(folder + "/optimizer.safetensors")
    guard let m = moments["exp_avg"], let v = moments["exp_avg_sq"],
      m.values.count == model.parameters.count, v.values.count == model.parameters.count
    else { throw TrainingError.incompatibleCheckpoint("\(folder)/optimizer.safetensors does not match the model") }
    m.values.withUnsafeBufferPointer { optimizer.m.base.update(from: $0.baseAddress!, count: $0.count) }
    v.values.withUnsafeBufferPointer { optimizer.v.base.update(from: $0.baseAddress!, count: $0.count) }
    optimizer.restore(step: state.step)
    update = OptimizerStep([optimizer], gradClip: options.gradClip)
    step = state.step
    guard let b = RandomGenerator(state: state.batchRNG), let d = RandomGenerator(state: state.dropoutRNG) else {
      throw TrainingError.file(.corrupt(path: folder + "/" + CheckpointState.fileName, reason: "bad random generator state"))
    }
    (batchRNG, dropoutRNG) = (b, DropoutRNG(d))
    bestValLoss = state.bestValLoss
    elapsedBefore = state.elapsed
    resumes = state.resumes + [state.step]
    log = try fileAccess(TrainingError.file) { () throws(FileError) in try readLog(folder + "/log.csv") }.filter { $0.step <= step }
    try checkData()
    model.parameters.place(on: device)
  }

  /// The options' own checks, and that a step's activations fit in memory.
  private static func check(_ options: TrainingOptions, for model: any LanguageModel, on device: Device) throws(TrainingError) {
    try options.validate(contextLength: model.contextLength)
    try model.checkActivationMemory(batch: options.batchSize, length: options.blockSize, knobs: "--batch-size or --block-size",
                                    device: device)
  }

  /// The splits' token ids fit the model, and each holds a window of the block size.
  private func checkData() throws(TrainingError) {
    for (name, split) in [("train", train), ("val", val)] {
      guard let split else { continue }
      let top = split.maxTokenID()
      if top >= model.vocabSize {
        throw .invalidData("the \(name) split has token id \(top), but the model's vocabulary has \(model.vocabSize) tokens")
      }
      try split.checkWindow(length: options.blockSize)
    }
  }

  /// One optimizer step over `gradAccum` micro-batches; returns the mean loss, the learning rate
  /// and the global gradient norm before clipping.
  public func trainStep() throws -> (loss: Float, lr: Float, gradNorm: Float) {
    let lr = options.schedule.lr(at: step)
    let (o, model, train, dropoutRNG) = (options, model, train, dropoutRNG)
    let loss = try update(lr: lr) {
      var total: Float = 0
      for _ in 0..<o.gradAccum {
        let (x, y) = try train.batch(o.batchSize, length: o.blockSize, rng: &batchRNG)
        let loss = model.forward(x, batch: o.batchSize, length: o.blockSize, targets: y, rng: dropoutRNG).loss!
        total += loss.item
        if o.gradAccum > 1 { scale(loss, 1 / Float(o.gradAccum)).backward() } else { loss.backward() }
      }
      return total / Float(o.gradAccum)
    }
    try device.gpu?.checkFailure()
    step += 1
    return (loss, lr, update.gradNorm)
  }

  /// Mean loss over `evalSteps` batches of each split, without dropout; the batches are the
  /// same at every evaluation, so the numbers compare across steps.
  public func evaluate() throws -> (train: Float, val: Float?) {
    func mean(_ data: TokenDataset, seed: UInt64) throws -> Float {
      var rng = RandomGenerator(seed: seed)
      var total: Float = 0
      for _ in 0..<options.evalSteps {
        let (x, y) = try data.batch(options.batchSize, length: options.blockSize, rng: &rng)
        total += withoutGrad { model.forward(x, batch: options.batchSize, length: options.blockSize, targets: y, rng: nil).loss!.item }
      }
      return total / Float(options.evalSteps)
    }
    let losses = (try mean(train, seed: options.seed &+ 1), try val.map { try mean($0, seed: options.seed &+ 2) })
    try device.gpu?.checkFailure()
    return losses
  }

  /// Writes a checkpoint folder atomically (built beside it, then renamed into place): the model
  /// (`config.json`, `model.safetensors`), `optimizer.safetensors`, `trainer_state.json`,
  /// `log.csv`, and `files` (for example the tokenizer).
  public func saveCheckpoint(to folder: String, files: [String: Data] = [:], elapsed: Double) throws {
    model.parameters.copyToHost()
    optimizer.copyToHost()
    try device.gpu?.checkFailure()
    try writeFolderAtomically(folder, replaceable: { isModelFolderEntry($0) || files[$0] != nil }) { temporary in
      try ModelFolder.save(model, to: temporary)
      try Safetensors.write(temporary + "/optimizer.safetensors", tensors: [
        ("exp_avg", [model.parameters.count], UnsafePointer(optimizer.m.base)),
        ("exp_avg_sq", [model.parameters.count], UnsafePointer(optimizer.v.base)),
      ], metadata: ["step": String(step)])
      let state = CheckpointState(step: step, options: options, batchRNG: batchRNG.state, dropoutRNG: dropoutRNG.generator.state,
                                  bestValLoss: bestValLoss, elapsed: elapsed, resumes: resumes)
      try state.write(folder: temporary)
      try writeAtomically(Data(csvText(log).utf8), to: temporary + "/log.csv")
      for (name, data) in files { try writeAtomically(data, to: temporary + "/" + name) }
    }
  }

  /// What `run` reports as it goes.
  public enum Event {
    case step(LogRow)
    case evaluation(LogRow)
    case checkpoint(String)
  }

  /// How a run ended.
  public enum Outcome: Equatable {
    case finished, interrupted
  }

  /// Trains until `options.maxSteps`, evaluating every `evalEvery` steps and at the end. Each
  /// evaluation writes `out/latest` (and `out/best` when the validation loss improves),
  /// `out/log.csv` and `out/loss.svg`. When `shouldStop` turns true (Ctrl-C), the current step
  /// is checkpointed to `out/latest` and the run returns `.interrupted`. The run holds `out`'s
  /// `FolderLock`, and checks that its checkpoints can be written before the first step.
  public func run(out: String, files: [String: Data] = [:], shouldStop: () -> Bool = { false },
                  events: (Event) -> Void = { _ in }) throws -> Outcome {
    let out = normalizedPath(out)
    let lock = try FolderLock(out)
    defer { lock.release() }
    for checkpoint in ["latest", "best"] {
      try checkFolderWritable(out + "/" + checkpoint, replaceable: { isModelFolderEntry($0) || files[$0] != nil })
    }
    let start = ProcessInfo.processInfo.systemUptime
    var elapsed: Double { elapsedBefore + ProcessInfo.processInfo.systemUptime - start }
    func checkpoint() throws {
      try saveCheckpoint(to: out + "/latest", files: files, elapsed: elapsed)
      events(.checkpoint(out + "/latest"))
      try writeAtomically(Data(csvText(log).utf8), to: out + "/log.csv")
      try writeAtomically(Data(lossCurveSVG(log, title: "SwiftGPT training loss", resumedAt: resumes).utf8), to: out + "/loss.svg")
    }
    // Evaluates, logs the row, and saves best/ when the score (val, else train) improved.
    func evaluateAndLog(_ row: LogRow) throws {
      var row = row
      (row.trainLoss, row.valLoss) = try self.evaluate()
      for loss in [row.trainLoss, row.valLoss].compactMap({ $0 }) where !loss.isFinite {
        throw TrainingError.invalidData("the evaluation loss became \(loss) at step \(step); lower --lr")
      }
      if row.loss.isNaN { row.loss = row.trainLoss! }
      log.append(row)
      let score = row.valLoss ?? row.trainLoss!
      if bestValLoss == nil || score < bestValLoss! {
        bestValLoss = score
        try saveCheckpoint(to: out + "/best", files: files, elapsed: elapsed)
        events(.checkpoint(out + "/best"))
      }
      events(.evaluation(row))
    }
    if step == 0 && log.isEmpty {
      // Step 0 has no training loss yet: the row shows the evaluated train loss.
      try evaluateAndLog(LogRow(step: 0, loss: .nan, learningRate: options.schedule.lr(at: 0), trainLoss: nil,
                                valLoss: nil, tokensPerSecond: 0, elapsed: 0))
    }
    while step < options.maxSteps {
      if shouldStop() {
        try checkpoint()
        return .interrupted
      }
      let before = ProcessInfo.processInfo.systemUptime
      let (loss, lr, gradNorm) = try trainStep()
      let seconds = ProcessInfo.processInfo.systemUptime - before
      guard loss.isFinite else { throw TrainingError.invalidData("the loss became \(loss) at step \(step); lower --lr") }
      let row = LogRow(step: step, loss: loss, learningRate: lr, trainLoss: nil, valLoss: nil,
                       tokensPerSecond: Double(options.tokensPerStep) / max(seconds, 1e-9), elapsed: elapsed, gradNorm: gradNorm)
      if (options.evalEvery > 0 && step % options.evalEvery == 0) || step == options.maxSteps {
        try evaluateAndLog(row)
        try checkpoint()
      } else {
        log.append(row)
        events(.step(row))
      }
    }
    return .finished
  }
}

/// The step the checkpoint in `folder` was saved at, or nil if it holds no readable
/// `trainer_state.json`.
public func checkpointStep(_ folder: String) -> Int? { try? CheckpointState(folder: folder).step }

/// `trainer_state.json`: where a run stands, beside the model and optimizer files.
struct CheckpointState: Codable {
  static let fileName = "trainer_state.json"
  var step: Int
  var options: TrainingOptions
  var batchRNG: [UInt64]
  var dropoutRNG: [UInt64]
  var bestValLoss: Float?
  var elapsed: Double
  var resumes: [Int]

  init(step: Int, options: TrainingOptions, batchRNG: [UInt64], dropoutRNG: [UInt64], bestValLoss: Float?, elapsed: Double,
       resumes: [Int]) {
    (self.step, self.options, self.batchRNG, self.dropoutRNG) = (step, options, batchRNG, dropoutRNG)
    (self.bestValLoss, self.elapsed, self.resumes) = (bestValLoss, elapsed, resumes)
  }

  enum CodingKeys: String, CodingKey {
    case step, options, batchRNG = "batch_rng", dropoutRNG = "dropout_rng", bestValLoss = "best_val_loss", elapsed, resumes
  }

  // Generator words are written as hex strings: JSON numbers lose bits above 2^53 in many readers.
  init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    step = try c.decode(Int.self, forKey: .step)
    options = try c.decode(TrainingOptions.self, forKey: .options)
    func words(_ key: CodingKeys) throws -> [UInt64] {
      try c.decode([String].self, forKey: key).map {
        guard let w = UInt64($0, radix: 16) else { throw TrainingError.invalidData("bad generator word \($0)") }
        return w
      }
    }
    batchRNG = try words(.batchRNG)
    dropoutRNG = try words(.dropoutRNG)
    bestValLoss = try c.decodeIfPresent(Float.self, forKey: .bestValLoss)
    elapsed = try c.decode(Double.self, forKey: .elapsed)
    resumes = try c.decodeIfPresent([Int].self, forKey: .resumes) ?? []
  }

  func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(step, forKey: .step)
    try c.encode(options, forKey: .options)
    try c.encode(batchRNG.map { String($0, radix: 16) }, forKey: .batchRNG)
    try c.encode(dropoutRNG.map { String($0, radix: 16) }, forKey: .dropoutRNG)
    try c.encodeIfPresent(bestValLoss, forKey: .bestValLoss)
    try c.encode(elapsed, forKey: .elapsed)
    try c.encode(resumes, forKey: .resumes)
  }

  init(folder: String) throws(TrainingError) {
    let path = folder + "/" + Self.fileName
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .incompatibleCheckpoint("\(path) is missing (is \(folder) a training checkpoint?)")
    }
    do { self = try JSONDecoder().decode(CheckpointState.self, from: data) } catch {
      throw .file(.corrupt(path: path, reason: "not a SwiftGPT trainer state"))
    }
  }

  func write(folder: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeAtomically(try! encoder.encode(self), to: folder + "/" + Self.fileName)
  }
}
