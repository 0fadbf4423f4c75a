import FileSupport
import Foundation
import TensorEngine

/// The token shards of one split (`train` or `val`) of a prepared dataset, and nanoGPT's
/// `get_batch`: random windows of `length + 1` tokens, inputs and next-token targets.
public struct TokenDataset: Sendable {
  public let shards: [TokenShard]
  /// The split's name (`train`, `val`), for messages; nil when opened from files.
  public let split: String?
  private let total: Int

  /// Opens `files` (llm.c shards or nanoGPT raw `.bin`).
  public init(files: [String], split: String? = nil) throws(TrainingError) {
    guard !files.isEmpty else { throw .invalidData("no token files given") }
    var shards: [TokenShard] = []
    for file in files { shards.append(try TokenShard(path: file)) }
    (self.shards, self.split) = (shards, split)
    total = shards.reduce(0) { $0 + $1.count }
  }

  /// Opens the shards of `split` in a folder written by `swiftgpt prepare` (`train_000000.bin`, ...)
  /// or by nanoGPT (`train.bin`).
  public init(folder: String, split: String) throws(TrainingError) {
    let files = Self.fileNames(in: folder, split: split).map { folder + "/" + $0 }
    guard !files.isEmpty else {
      throw .file(.unreadable(path: folder, reason: "no \(split)*.bin token files (run `swiftgpt prepare` first)"))
    }
    try self.init(files: files, split: split)
  }

  /// The token files of `split` in `folder`, in the order they are read: `split*.bin`, sorted.
  static func fileNames(in folder: String, split: String) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    return names.filter { $0.hasPrefix(split) && $0.hasSuffix(".bin") }.sorted()
  }

  /// Total number of tokens.
  public var count: Int { total }

  /// The largest token id + 1 over all shards (a full scan).
  public func maxTokenID() -> Int32 {
    var m: Int32 = -1
    for shard in shards { for i in 0..<shard.count { m = max(m, shard[i]) } }
    return m
  }

  /// Throws unless some shard holds a window of `length + 1` tokens (a training example).
  public func checkWindow(length: Int) throws(TrainingError) {
    guard !shards.contains(where: { $0.count > length }) else { return }
    throw .invalidData("the \(split.map { $0 + " " } ?? "")split has \(total) tokens; a window of \(length) needs \(length + 1) in one shard "
      + "(lower --block-size, or prepare more text)")
  }

  /// A batch of `batch` random windows (`inputs` and `targets`, each batch × length, row-major):
  /// a window start is drawn uniformly among all positions that leave `length + 1` tokens in
  /// its shard.
  public func batch(_ batch: Int, length: Int, rng: inout RandomGenerator) throws(TrainingError) -> (inputs: [Int32], targets: [Int32]) {
    try checkWindow(length: length)
    let starts = shards.map { max(0, $0.count - length) }
    let choices = starts.reduce(0, +)
    var inputs = [Int32](repeating: 0, count: batch * length)
    var targets = inputs
    var window = [Int32](repeating: 0, count: length + 1)
    for b in 0..<batch {
      var r = Int.random(in: 0..<choices, using: &rng)
      var s = 0
      while r >= starts[s] { r -= starts[s]; s += 1 }
      window.withUnsafeMutableBufferPointer { shards[s].copy(from: r, count: length + 1, into: $0.baseAddress!) }
      for t in 0..<length {
        inputs[b * length + t] = window[t]
        targets[b * length + t] = window[t + 1]
      }
    }
    return (inputs, targets)
  }
}
