import FileSupport
import Foundation
import TensorEngine

/// A GPT fine-tuned for a GPT-1 task: the pretrained model with three new tokens (start,
/// delimiter, extract), a linear head on the final hidden state at the extract token, and the
/// auxiliary language-modelling loss (loss = task loss + λ·LM loss, λ = 0.5 by default).
public final class TaskModel {
  public let gpt: GPT
  public let task: FineTuneTask
  /// Label names (classify, entail); empty otherwise.
  public let labels: [String]
  /// `score.weight` [outputs, C] and `score.bias` [outputs]: one output per label, one for
  /// similar (a score) and choice (a scalar per choice).
  public let head: ParameterSet
  public let start: Int32
  public let delimiter: Int32
  public let extract: Int32
  /// λ, the weight of the auxiliary LM loss.
  public var lmCoefficient: Float

  /// A new task model on `base`: the vocabulary grows by the three special tokens (ids
  /// V, V+1, V+2) and the head starts at N(0, 0.02) with zero bias.
  public init(base: GPT, task: FineTuneTask, labels: [String], lmCoefficient: Float = 0.5, seed: UInt64 = 1337) throws {
    guard lmCoefficient.isFinite, lmCoefficient >= 0 else {
      throw ModelError.invalidConfig("the LM loss coefficient (--lm-coef) must be finite and ≥ 0, got \(lmCoefficient)")
    }
    let v = Int32(base.config.vocabSize)
    gpt = try base.extendingVocabulary(by: 3, seed: seed)
    (self.task, self.labels, self.lmCoefficient) = (task, labels, lmCoefficient)
    (start, delimiter, extract) = (v, v + 1, v + 2)
    head = TaskModel.makeHead(task: task, labels: labels, width: base.config.nEmbd)
    var rng = RandomGenerator(seed: seed &+ 1)
    let w = head["score.weight"]!
    for i in 0..<w.count { w.data[i] = rng.nextNormal() * 0.02 }
  }

  private static func makeHead(task: FineTuneTask, labels: [String], width: Int) -> ParameterSet {
    let outputs = (task == .classify || task == .entail) ? labels.count : 1
    return ParameterSet([("score.weight", [outputs, width], true), ("score.bias", [outputs], false)])
  }

  // MARK: Inputs

  /// The token sequences GPT-1 feeds for `example` (each ends with the extract token), with
  /// every text cut so a sequence fits in `maxLength` tokens.
  public func sequences(_ example: TaskExample, maxLength: Int, encode: (String) throws -> [Int]) rethrows -> [[Int32]] {
    func ids(_ text: String, _ limit: Int) throws -> [Int32] { try encode(text).prefix(max(0, limit)).map(Int32.init) }
    let pairLimit = (maxLength - 3) / 2
    switch task {
    case .classify:
      return [[start] + (try ids(example.texts[0], maxLength - 2)) + [extract]]
    case .entail:
      let (a, b) = (try ids(example.texts[0], pairLimit), try ids(example.texts[1], pairLimit))
      return [[start] + a + [delimiter] + b + [extract]]
    case .similar:
      let (a, b) = (try ids(example.texts[0], pairLimit), try ids(example.texts[1], pairLimit))
      return [[start] + a + [delimiter] + b + [extract], [start] + b + [delimiter] + a + [extract]]
    case .choice:
      let context = try ids(example.texts[0], pairLimit)
      return try example.texts.dropFirst().map { [start] + context + [delimiter] + (try ids($0, pairLimit)) + [extract] }
    }
  }

  // MARK: Forward

  /// The head's outputs for `batch` (each example's sequences): [examples, labels] logits for
  /// classify / entail, [examples] scores for similar, one [choices] logit row per example for
  /// choice, plus the LM loss on the inputs (nil when λ = 0) and the pooled rows.
  func outputs(_ batch: [[[Int32]]], rng: DropoutRNG?) -> (scores: Tensor, lm: Tensor?) {
    let rows = batch.flatMap { $0 }
    // LM targets: each token predicts the next, the extract token nothing.
    let (ids, targets, length) = padRows(rows.map { row in (row, Array(row.dropFirst()) + [-100]) })
    let extractRows = rows.enumerated().map { Int32($0 * length + $1.count - 1) }
    let hidden = gpt.hidden(ids, batch: rows.count, length: length, rng: rng)
    let c = gpt.config.nEmbd
    var pooled = embedding(reshape(hidden, [rows.count * length, c]), ids: extractRows, shape: [rows.count])
    if task == .similar {
      // The two orderings' representations are added before the head.
      let even = (0..<batch.count).map { Int32(2 * $0) }, odd = (0..<batch.count).map { Int32(2 * $0 + 1) }
      pooled = add(embedding(pooled, ids: even, shape: [batch.count]), embedding(pooled, ids: odd, shape: [batch.count]))
    }
    let scores = add(matmul(pooled, head["score.weight"]!, transposeB: true), head["score.bias"]!)
    let lm = lmCoefficient > 0 ? crossEntropy(gpt.logits(hidden), targets: targets) : nil
    return (scores, lm)
  }

  /// Task loss + λ·LM loss for `batch` (sequences and examples in the same order).
  public func loss(_ batch: [[[Int32]]], examples: [TaskExample], rng: DropoutRNG?)
    -> (total: Tensor, task: Float, lm: Float)
  {
    let (scores, lm) = outputs(batch, rng: rng)
    let taskLoss: Tensor
    switch task {
    case .classify, .entail:
      taskLoss = crossEntropy(scores, targets: examples.map { Int32($0.label) })
    case .similar:
      let target = Tensor(shape: [examples.count, 1], scalars: examples.map { -$0.score }, on: scores.device)
      let diff = add(scores, target)
      taskLoss = mean(mul(diff, diff))
    case .choice:
      // Each example's choices form one row of logits; rows may differ in length.
      var total: Tensor?
      var offset = 0
      for (k, example) in examples.enumerated() {
        let n = batch[k].count
        let row = reshape(embedding(scores, ids: (offset..<(offset + n)).map(Int32.init), shape: [n]), [1, n])
        let ce = crossEntropy(row, targets: [Int32(example.label)])
        total = total.map { add($0, ce) } ?? ce
        offset += n
      }
      taskLoss = scale(total!, 1 / Float(examples.count))
    }
    guard let lm else { return (taskLoss, taskLoss.item, 0) }
    return (add(taskLoss, scale(lm, lmCoefficient)), taskLoss.item, lm.item)
  }

  /// Predictions for `batch`: the label or choice index and its probability, or the score.
  public func predict(_ batch: [[[Int32]]]) -> [(index: Int, probability: Float, score: Float)] {
    withoutGrad {
      let saved = lmCoefficient
      lmCoefficient = 0
      defer { lmCoefficient = saved }
      let scores = outputs(batch, rng: nil).scores.scalars
      switch task {
      case .similar:
        return scores.map { (0, 1, $0) }
      case .classify, .entail:
        let k = labels.count
        return (0..<batch.count).map { softmaxArgmax(Array(scores[($0 * k)..<($0 * k + k)])) }
      case .choice:
        var offset = 0
        return batch.map { sequences in
          defer { offset += sequences.count }
          return softmaxArgmax(Array(scores[offset..<(offset + sequences.count)]))
        }
      }
    }
  }

  private func softmaxArgmax(_ logits: [Float]) -> (index: Int, probability: Float, score: Float) {
    let top = logits.max()!
    let exps = logits.map { Foundation.exp($0 - top) }
    let best = logits.firstIndex(of: top)!
    return (best, exps[best] / exps.reduce(0, +), top)
  }

  // MARK: Files

  /// Writes the model (`config.json` + `model.safetensors`, a HF GPT-2 folder with the grown
  /// vocabulary), `task_head.safetensors`, `task.json`, and the LoRA adapter if there is one
  /// (`adapter/`, PEFT's format, whose base model is `name`: the folder's final path when it
  /// is written somewhere else first).
  public func save(to folder: String, name: String? = nil) throws {
    try gpt.save(huggingFaceFolder: folder)
    try gpt.adapter?.save(peftFolder: folder + "/adapter", baseModel: name ?? folder)
    try head.save(safetensors: folder + "/task_head.safetensors")
    let info: [String: Any] = [
      "task": task.rawValue, "labels": labels, "lm_coef": Double(lmCoefficient),
      "special_tokens": ["start": Int(start), "delimiter": Int(delimiter), "extract": Int(extract)],
    ]
    let data = try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys])
    try writeAtomically(data + Data("\n".utf8), to: folder + "/task.json")
  }

  /// Reads a folder written by `save(to:)`.
  public init(folder: String) throws {
    try fileAccess(ModelError.file) { () throws(FileError) in try requireFolder(folder, holding: "a fine-tuned task model") }
    let path = folder + "/task.json"
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ModelError.file(.unreadable(path: path, reason: "no such file (expected a fine-tuned task model folder)"))
    }
    guard let info = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
      let task = (info["task"] as? String).flatMap(FineTuneTask.init(rawValue:)),
      let specials = info["special_tokens"] as? [String: Int],
      let start = specials["start"], let delimiter = specials["delimiter"], let extract = specials["extract"]
    else { throw ModelError.file(.corrupt(path: path, reason: "expected task, labels and special_tokens")) }
    let gpt = try GPT.load(huggingFaceFolder: folder)
    self.gpt = gpt
    (self.task, labels) = (task, info["labels"] as? [String] ?? [])
    lmCoefficient = (info["lm_coef"] as? NSNumber)?.floatValue ?? 0.5
    (self.start, self.delimiter, self.extract) = (Int32(start), Int32(delimiter), Int32(extract))
    guard [start, delimiter, extract].allSatisfy({ $0 < gpt.config.vocabSize }) else {
      throw ModelError.file(.corrupt(path: path, reason: "special token ids exceed the model's vocabulary"))
    }
    head = TaskModel.makeHead(task: task, labels: labels, width: gpt.config.nEmbd)
    try head.load(safetensors: folder + "/task_head.safetensors")
    if FileManager.default.fileExists(atPath: folder + "/adapter/adapter_config.json") {
      gpt.adapter = try LoRAAdapter(peftFolder: folder + "/adapter", for: gpt)
    }
  }
}

/// Rows of ids and targets laid out as one [rows, length] batch: ids padded with 0 and targets
/// with -100 (ignored) to the longest row. Padding after a row's end cannot change its
/// positions under causal attention.
public func padRows(_ rows: [(ids: [Int32], targets: [Int32])]) -> (ids: [Int32], targets: [Int32], length: Int) {
  let length = rows.map(\.ids.count).max() ?? 0
  var ids = [Int32](repeating: 0, count: rows.count * length)
  var targets = [Int32](repeating: -100, count: rows.count * length)
  for (r, row) in rows.enumerated() {
    for t in row.ids.indices {
      ids[r * length + t] = row.ids[t]
      targets[r * length + t] = row.targets[t]
    }
  }
  return (ids, targets, length)
}
