import Foundation
import TensorEngine

/// How well a task model does on a labelled set.
public struct TaskMetrics: Sendable, CustomStringConvertible {
  public var count: Int
  /// Fraction right (classify, entail, choice).
  public var accuracy: Double?
  /// Accuracy of always answering the most frequent label (classify, entail).
  public var majorityBaseline: Double?
  /// Correlations of predicted and true scores (similar).
  public var pearson: Double?
  public var spearman: Double?

  public var description: String {
    if let pearson, let spearman {
      return String(format: "Pearson %.4f, Spearman %.4f on %d pairs", pearson, spearman, count)
    }
    var text = String(format: "accuracy %.4f on %d examples", accuracy ?? 0, count)
    if let majorityBaseline { text += String(format: " (majority class %.4f)", majorityBaseline) }
    return text
  }
}

extension TaskModel {
  /// Token sequences of every example, cut to `maxLength`.
  public func encode(_ data: TaskDataset, maxLength: Int, encode: (String) throws -> [Int]) rethrows -> [[[Int32]]] {
    try data.examples.map { try sequences($0, maxLength: maxLength, encode: encode) }
  }

  /// Accuracy (or correlations) on `data`.
  public func evaluate(_ data: TaskDataset, batchSize: Int = 16, maxLength: Int? = nil,
                       encode: (String) throws -> [Int]) throws -> TaskMetrics {
    metrics(try predictions(data, batchSize: batchSize, maxLength: maxLength, encode: encode), for: data)
  }

  /// The prediction for every example of `data`, in batches.
  public func predictions(_ data: TaskDataset, batchSize: Int = 16, maxLength: Int? = nil,
                          encode: (String) throws -> [Int]) throws -> [(index: Int, probability: Float, score: Float)] {
    let inputs = try self.encode(data, maxLength: min(maxLength ?? gpt.config.blockSize, gpt.config.blockSize), encode: encode)
    var predictions: [(index: Int, probability: Float, score: Float)] = []
    for first in stride(from: 0, to: inputs.count, by: batchSize) {
      predictions += predict(Array(inputs[first..<min(first + batchSize, inputs.count)]))
    }
    return predictions
  }

  /// Accuracy (or correlations) of `predictions` against `data`'s labels.
  public func metrics(_ predictions: [(index: Int, probability: Float, score: Float)], for data: TaskDataset) -> TaskMetrics {
    var metrics = TaskMetrics(count: data.examples.count)
    if task == .similar {
      let (x, y) = (predictions.map { Double($0.score) }, data.examples.map { Double($0.score) })
      metrics.pearson = pearson(x, y)
      metrics.spearman = pearson(ranks(x), ranks(y))
    } else {
      let right = zip(predictions, data.examples).filter { $0.index == $1.label }.count
      metrics.accuracy = Double(right) / Double(max(1, data.examples.count))
      if task != .choice {
        var counts: [Int: Int] = [:]
        for e in data.examples { counts[e.label, default: 0] += 1 }
        metrics.majorityBaseline = Double(counts.values.max() ?? 0) / Double(max(1, data.examples.count))
      }
    }
    return metrics
  }
}

/// Pearson's correlation coefficient.
func pearson(_ x: [Double], _ y: [Double]) -> Double {
  let n = Double(x.count)
  let (mx, my) = (x.reduce(0, +) / n, y.reduce(0, +) / n)
  var (sxy, sxx, syy) = (0.0, 0.0, 0.0)
  for (a, b) in zip(x, y) {
    sxy += (a - mx) * (b - my)
    sxx += (a - mx) * (a - mx)
    syy += (b - my) * (b - my)
  }
  return sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : 0
}

/// Ranks (1-based, ties averaged), for Spearman's correlation.
func ranks(_ x: [Double]) -> [Double] {
  let order = x.indices.sorted { x[$0] < x[$1] }
  var result = [Double](repeating: 0, count: x.count)
  var i = 0
  while i < order.count {
    var j = i
    while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
    for k in i...j { result[order[k]] = Double(i + j) / 2 + 1 }
    i = j + 1
  }
  return result
}
