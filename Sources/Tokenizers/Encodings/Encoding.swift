/// A pretrained byte-level BPE encoding with tiktoken's exact semantics: `gpt2` (= `r50k_base`)
/// and `cl100k_base` ship inside the library; any other `.tiktoken` rank file can be loaded.
///
///     let enc = try Encoding.named("cl100k_base")
///     enc.encodeOrdinary("hello world")            // [15339, 1917]
///     try enc.encode("<|endoftext|>", allowedSpecial: .all)   // [100257]
public struct Encoding: BytePairTokenizer {
  public let name: String
  public let codec: BytePairCodec

  /// The names `named(_:)` accepts.
  public static let names = ["gpt2", "r50k_base", "cl100k_base"]

  /// Loads a built-in encoding. Each call parses the embedded rank file (tens of milliseconds);
  /// keep the result.
  public static func named(_ name: String) throws(TokenizerError) -> Encoding {
    switch name {
    case "gpt2", "r50k_base":
      return try Encoding(
        name: name, ranks: embeddedGpt2Ranks, pattern: .gpt2, specialTokens: ["<|endoftext|>": 50256])
    case "cl100k_base":
      return try Encoding(
        name: name, ranks: embeddedCl100kBaseRanks, pattern: .cl100k,
        specialTokens: [
          "<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
          "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276,
        ])
    default:
      throw .unknownEncoding(name)
    }
  }

  /// An encoding from the text of a tiktoken rank file.
  public init(
    name: String, ranks: String, pattern: SplitPattern, specialTokens: [String: Int] = [:]
  ) throws(TokenizerError) {
    let table = try RankFile.parse(ranks, path: name)
    let specials = try SpecialTokens(specialTokens)
    if let clash = specials.ids.first(where: { $0.value < table.count }) {
      throw .invalidSpecialToken("\(clash.key) has id \(clash.value), which is already a token of the rank file")
    }
    self.name = name
    self.codec = BytePairCodec(model: try BytePairModel(ranks: table), pattern: pattern, specialTokens: specials)
  }

  /// An encoding from a `.tiktoken` rank file on disk.
  public init(
    rankFile path: String, pattern: SplitPattern, specialTokens: [String: Int] = [:]
  ) throws(TokenizerError) {
    try self.init(name: path, ranks: try readText(path), pattern: pattern, specialTokens: specialTokens)
  }
}

extension BytePairTokenizer {
  /// Writes the mergeable tokens (not the special tokens) as a tiktoken rank file, which
  /// `tiktoken.load.load_tiktoken_bpe` and `Encoding(rankFile:pattern:)` read back.
  public func saveTiktokenRanks(to path: String) throws(TokenizerError) {
    try writeText(path, RankFile.render(codec.model.tokens))
  }
}
