import FileSupport
import Foundation
import Inference
import Tokenizers

/// A dataset folder opened for training: the shards and `meta.json` that `swiftgpt prepare`
/// wrote, checked against each other, or nanoGPT's `train.bin` / `val.bin` with the vocabulary
/// inferred (`DatasetMeta(inferringFrom:)`).
public struct PreparedDataset {
  public let folder: String
  public let meta: DatasetMeta
  /// Whether `meta` was inferred: the folder has no `meta.json` (nanoGPT data).
  public let inferred: Bool
  public let train: TokenDataset
  /// The validation split, nil when it has no tokens.
  public let val: TokenDataset?

  /// Opens `folder`. The token counts of `meta.json` must equal the shards' (an interrupted
  /// `prepare` or shards copied from elsewhere would train on a mix), and shards named as
  /// `prepare` names them need their `meta.json`.
  public init(folder: String) throws(TrainingError) {
    let folder = normalizedPath(folder)
    let metaPath = folder + "/meta.json"
    self.folder = folder
    if FileManager.default.fileExists(atPath: metaPath) {
      meta = try fileAccess(TrainingError.file) { () throws(FileError) in try DatasetMeta(folder: folder) }
      inferred = false
    } else {
      let shards = TokenDataset.fileNames(in: folder, split: "train") + TokenDataset.fileNames(in: folder, split: "val")
      if shards.contains(where: DatasetPreparer.isShard) {
        throw .file(.unreadable(path: metaPath, reason: "no such file beside the shards `swiftgpt prepare` wrote "
          + "(an interrupted prepare?); prepare the data again"))
      }
      meta = try DatasetMeta(inferringFrom: folder)
      inferred = true
    }
    train = try TokenDataset(folder: folder, split: "train")
    let val = TokenDataset.fileNames(in: folder, split: "val").isEmpty ? nil : try TokenDataset(folder: folder, split: "val")
    let widths = Set((train.shards + (val?.shards ?? [])).map(\.tokenWidth))
    guard train.count == meta.trainTokens, (val?.count ?? 0) == meta.valTokens, widths == [meta.tokenBytes] else {
      throw .file(.corrupt(path: metaPath, reason: "it counts \(meta.trainTokens) train and \(meta.valTokens) val tokens of "
        + "\(meta.tokenBytes) bytes, but the shards hold \(train.count) and \(val?.count ?? 0) of \(widths.sorted().map(String.init).joined(separator: "/")) "
        + "(an interrupted `swiftgpt prepare`?); prepare the data again"))
    }
    self.val = val.flatMap { $0.count > 0 ? $0 : nil }
  }

  /// The tokenizer `meta.json` names, or nil when it names none: opening it before training
  /// means a run never ends in a checkpoint that nothing can sample.
  public func openTokenizer() throws -> (any Tokenizer)? { try meta.openTokenizer(in: folder) }

  /// The tokenizer files every checkpoint of a run on this dataset carries.
  public func tokenizerFiles() throws -> [String: Data] { try meta.tokenizerFiles(in: folder) }
}
