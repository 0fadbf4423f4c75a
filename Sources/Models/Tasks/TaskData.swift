import FileSupport
import Foundation

/// The GPT-1 fine-tuning tasks (Radford et al. 2018, §3.3) and their input transformations.
public enum FineTuneTask: String, Codable, CaseIterable, Sendable {
  /// `start text extract` → one of the labels.
  case classify
  /// `start premise delim hypothesis extract` → one of the labels (entailment / neutral / …).
  case entail
  /// `start a delim b extract` and `start b delim a extract`, hidden states added → a score
  /// (regression, reported as Pearson / Spearman).
  case similar
  /// `start context delim choice_k extract` for each k → a scalar each, softmax over k.
  case choice
}

/// One labelled example: its texts (one for classify; two for entail and similar; the context
/// then the choices for choice), and its label index or score.
public struct TaskExample: Sendable, Equatable {
  public var texts: [String]
  /// Index into the dataset's labels (classify, entail) or of the right choice.
  public var label: Int
  /// The target score (similar).
  public var score: Float

  public init(texts: [String], label: Int = 0, score: Float = 0) {
    self.texts = texts
    self.label = label
    self.score = score
  }
}

/// A task's examples read from a file, with the label set.
///
/// Fields are found by their usual names: text / document / sentence (classify); premise /
/// sentence1 and hypothesis / sentence2 with label / gold_label (entail); text_a / sentence1,
/// text_b / sentence2 and score / labels.real-label / label (similar); context (+ question),
/// choices and label (choice). This covers NSMC, KorNLI, KLUE NLI/STS, KorSTS, the bigbench
/// sets and the multiple-choice JSONL in `../shared/data/tasks`.
public struct TaskDataset: Sendable {
  public let task: FineTuneTask
  public var examples: [TaskExample]
  /// Label names in index order (empty for similar and choice).
  public let labels: [String]

  public init(task: FineTuneTask, examples: [TaskExample], labels: [String]) {
    (self.task, self.examples, self.labels) = (task, examples, labels)
  }

  /// Reads `path`. With `labels` (those of the training set) an unknown label is an error;
  /// without, the labels are the sorted distinct values found.
  public init(reading path: String, task: FineTuneTask, labels known: [String]? = nil) throws(ModelError) {
    let records = try readRecords(path)
    var raw: [(texts: [String], label: String, line: Int)] = []
    var examples: [TaskExample] = []
    for r in records {
      switch task {
      case .classify:
        raw.append(([try r.required(["text", "document", "sentence", "review"], in: path)],
                    try r.required(["label", "labels", "gold_label"], in: path), r.line))
      case .entail:
        raw.append(([try r.required(["premise", "sentence1", "text_a"], in: path),
                     try r.required(["hypothesis", "sentence2", "text_b"], in: path)],
                    try r.required(["gold_label", "label"], in: path), r.line))
      case .similar:
        let text = try r.required(["score", "labels.real-label", "labels.label", "label"], in: path)
        guard let score = Float(text) else {
          throw .file(.malformed(path: path, line: r.line, reason: "score '\(text)' is not a number"))
        }
        examples.append(TaskExample(texts: [try r.required(["text_a", "sentence1"], in: path),
                                            try r.required(["text_b", "sentence2"], in: path)], score: score))
      case .choice:
        var context = try r.required(["context", "question", "goal"], in: path)
        if let question = r.text(["question"]), r.text(["context"]) != nil { context += " " + question }
        guard let choices = r.fields["choices"] as? [Any], choices.count >= 2 else {
          throw .file(.malformed(path: path, line: r.line, reason: "'choices' must be an array of at least two texts"))
        }
        let texts = choices.map { "\($0)" }
        let text = try r.required(["label", "answer"], in: path)
        guard let label = Int(text), texts.indices.contains(label) else {
          throw .file(.malformed(path: path, line: r.line, reason: "label '\(text)' is not a choice index 0..<\(texts.count)"))
        }
        examples.append(TaskExample(texts: [context] + texts, label: label))
      }
    }
    if task == .classify || task == .entail {
      let labels = known ?? Array(Set(raw.map(\.label))).sorted()
      let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
      for (texts, label, line) in raw {
        guard let k = index[label] else {
          throw .file(.malformed(path: path, line: line, reason: "label '\(label)' is not in the label set \(labels)"))
        }
        examples.append(TaskExample(texts: texts, label: k))
      }
      guard labels.count >= 2 else {
        throw .file(.malformed(path: path, line: 0, reason: "needs at least two different labels, found \(labels)"))
      }
      self.labels = labels
    } else {
      labels = []
    }
    self.task = task
    self.examples = examples
  }
}
