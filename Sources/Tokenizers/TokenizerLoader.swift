/// Opens a tokenizer from a name or a path:
/// - `gpt2`, `r50k_base`, `cl100k_base`: the built-in encodings;
/// - `NAME.model`: a minbpe / `RegexTokenizer` model;
/// - `NAME.json`: a `CharTokenizer` vocabulary;
/// - `NAME.tiktoken`: a rank file, split with `pattern`.
public func loadTokenizer(_ spec: String, pattern: SplitPattern = .cl100k) throws(TokenizerError) -> any Tokenizer {
  if Encoding.names.contains(spec) { return try Encoding.named(spec) }
  if spec.hasSuffix(".model") { return try RegexTokenizer(modelFile: spec) }
  if spec.hasSuffix(".json") { return try CharTokenizer(file: spec) }
  if spec.hasSuffix(".tiktoken") { return try Encoding(rankFile: spec, pattern: pattern) }
  if !spec.contains("/") && !spec.contains(".") { throw .unknownEncoding(spec) }
  throw .unreadableFile(path: spec, reason: "unknown tokenizer format (expected .model, .json or .tiktoken)")
}
