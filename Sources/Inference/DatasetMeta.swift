import FileSupport
import Foundation
import Tokenizers

/// `meta.json`, as `swiftgpt prepare` writes it into a dataset folder and every checkpoint
/// carries: the vocabulary size, the tokenizer, the token counts.
public struct DatasetMeta: Codable, Equatable, Sendable {
  /// Number of token ids the model needs (tokenizer's vocabulary size).
  public var vocabSize: Int
  /// The tokenizer: a built-in encoding name, or a file name inside the dataset folder.
  public var tokenizer: String
  public var trainTokens: Int
  public var valTokens: Int
  /// Bytes per token in the shards (2: uint16, 4: uint32).
  public var tokenBytes: Int
  /// The end-of-text token put before each input file, if the tokenizer has one.
  public var endOfText: Int?

  enum CodingKeys: String, CodingKey {
    case vocabSize = "vocab_size", tokenizer, trainTokens = "train_tokens", valTokens = "val_tokens"
    case tokenBytes = "token_bytes", endOfText = "end_of_text"
  }

  /// Reads `meta.json` from a dataset folder.
  public init(folder: String) throws(FileError) {
    let path = folder + "/meta.json"
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .unreadable(path: path, reason: "no such file (prepare the data with `swiftgpt prepare`)")
    }
    do { self = try JSONDecoder().decode(DatasetMeta.self, from: data) } catch {
      throw .corrupt(path: path, reason: "not a SwiftGPT dataset meta.json")
    }
  }

  public init(vocabSize: Int, tokenizer: String, trainTokens: Int = 0, valTokens: Int = 0, tokenBytes: Int = 2,
              endOfText: Int? = nil) {
    (self.vocabSize, self.tokenizer, self.trainTokens, self.valTokens) = (vocabSize, tokenizer, trainTokens, valTokens)
    (self.tokenBytes, self.endOfText) = (tokenBytes, endOfText)
  }

  /// Writes `meta.json` into `folder`, atomically.
  public func write(folder: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeAtomically(try! encoder.encode(self), to: folder + "/meta.json")
  }
}

extension DatasetMeta {
  /// The files that name and hold a tokenizer saved in `folder`: `meta.json`, the file it names
  /// and minbpe's readable `tokenizer.vocab` when there.
  public func tokenizerFiles(in folder: String) throws -> [String: Data] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    var files = ["meta.json": try encoder.encode(self)]
    if let tokenizer = FileManager.default.contents(atPath: folder + "/" + tokenizer) { files[self.tokenizer] = tokenizer }
    if let vocab = FileManager.default.contents(atPath: folder + "/tokenizer.vocab") { files["tokenizer.vocab"] = vocab }
    return files
  }

  /// The tokenizer this meta names — its file in `folder`, or a built-in encoding — or nil when
  /// it names none.
  public func openTokenizer(in folder: String) throws -> (any Tokenizer)? {
    guard !tokenizer.isEmpty else { return nil }
    let file = folder + "/" + tokenizer
    return try loadTokenizer(FileManager.default.fileExists(atPath: file) ? file : tokenizer)
  }
}
