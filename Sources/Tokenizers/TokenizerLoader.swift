import FileSupport
import Foundation

/// Opens a tokenizer from a name or a path:
/// - `gpt2`, `r50k_base`, `cl100k_base`: the built-in encodings;
/// - `NAME.model`: a minbpe / `RegexTokenizer` model (text starting `minbpe`), else a
///   SentencePiece model;
/// - `NAME.json`: a HF `tokenizer.json` (a `PipelineTokenizer`), or a `CharTokenizer` vocabulary;
/// - a folder holding `tokenizer.json`;
/// - `NAME.tiktoken`: a rank file, split with `pattern`.
public func loadTokenizer(_ spec: String, pattern: SplitPattern = .cl100k) throws(TokenizerError) -> any Tokenizer {
  if Encoding.names.contains(spec) { return try Encoding.named(spec) }
  if spec.hasSuffix(".model") {
    let head = FileHandle(forReadingAtPath: spec).map { handle in
      defer { try? handle.close() }
      return (try? handle.read(upToCount: 6)) ?? Data()
    }
    if let head, head != Data("minbpe".utf8) { return try SentencePieceTokenizer(file: spec) }
    return try RegexTokenizer(modelFile: spec)
  }
  if spec.hasSuffix(".json") {
    // A HF tokenizer.json has a `model`; a char tokenizer file has none. The document is read
    // and parsed once; text that is not JSON gets the HF reader's error, naming the byte.
    let document = Result { () throws(TokenizerError) in try JSONValue(parsing: try readText(spec)) }
    if case .success(.object(let members)) = document, !members.contains(where: { $0.key == "model" }) {
      return try CharTokenizer(file: spec)
    }
    return try PipelineTokenizer(document: { () throws(TokenizerError) in try document.get() }, path: spec)
  }
  if FileManager.default.fileExists(atPath: spec + "/tokenizer.json") { return try PipelineTokenizer(file: spec) }
  if spec.hasSuffix(".tiktoken") { return try Encoding(rankFile: spec, pattern: pattern) }
  // A bare name is an encoding name unless a file or folder has it (e.g. a dataset folder).
  if !spec.contains("/") && !spec.contains(".") && !FileManager.default.fileExists(atPath: spec) { throw .unknownEncoding(spec) }
  throw .file(.unreadable(path: spec, reason: "unknown tokenizer format (expected .model (minbpe or SentencePiece), .json, .tiktoken or a folder with tokenizer.json)"))
}
