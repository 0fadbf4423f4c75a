/// One learned merge: tokens `left` and `right` become a new token.
public struct Merge: Sendable, Equatable, Hashable {
  public let left: Int
  public let right: Int
  public init(_ left: Int, _ right: Int) {
    self.left = left
    self.right = right
  }
}

/// minbpe's `RegexTokenizer`: byte-level BPE trained on text split by a pattern, with special
/// tokens. Ids 0–255 are the bytes, id `256 + i` is merge `i`, special tokens come after.
///
///     let tok = try RegexTokenizer.train(text: corpus, vocabSize: 512, pattern: .cl100k)
///     let ids = try tok.encode("hello")
///     try tok.save(prefix: "ko")          // ko.model + ko.vocab
public struct RegexTokenizer: BytePairTokenizer {
  public let merges: [Merge]
  public let codec: BytePairCodec

  /// A tokenizer with the given merges (none: the 256 byte tokens) and special tokens.
  public init(pattern: SplitPattern = .cl100k, merges: [Merge] = [], specialTokens: [String: Int] = [:])
    throws(TokenizerError)
  {
    for (i, merge) in merges.enumerated() where !(0..<(256 + i)).contains(merge.left) || !(0..<(256 + i)).contains(merge.right) {
      throw .invalidTokenID(max(merge.left, merge.right))
    }
    let specials = try SpecialTokens(specialTokens)
    if let clash = specials.ids.first(where: { $0.value < 256 + merges.count }) {
      throw .invalidSpecialToken("\(clash.key) has id \(clash.value), which is already a byte or merged token")
    }
    self.merges = merges
    self.codec = BytePairCodec(
      model: BytePairModel(merges: merges.map { (UInt32($0.left), UInt32($0.right)) }),
      pattern: pattern, specialTokens: specials)
  }

  /// Trains on pre-counted pieces. `vocabSize` counts the 256 bytes, the merges and the
  /// `specialTokens`, which get the ids after the last merge, in the order given.
  /// `progress(merges done, merges wanted)` is called as training goes.
  public static func train(
    _ counts: PieceCounts, vocabSize: Int, specialTokens: [String] = [],
    progress: ((Int, Int) -> Void)? = nil
  ) throws(TokenizerError) -> RegexTokenizer {
    let minimum = 256 + specialTokens.count
    guard vocabSize >= minimum else { throw .vocabularyTooSmall(requested: vocabSize, minimum: minimum, of: "256 bytes + special tokens") }
    guard counts.distinctPieces > 0 else { throw .emptyCorpus }
    guard Set(specialTokens).count == specialTokens.count else {
      throw .invalidSpecialToken("a special token is listed twice")
    }
    let wanted = vocabSize - minimum
    let learned = BPETrainer.train(counts, merges: wanted) { progress?($0, wanted) }
    let merges = learned.map { Merge(Int($0.0), Int($0.1)) }
    var specials: [String: Int] = [:]
    for (k, token) in specialTokens.enumerated() { specials[token] = 256 + merges.count + k }
    return try RegexTokenizer(pattern: counts.pattern, merges: merges, specialTokens: specials)
  }

  /// Trains on one text (minbpe's `train(text, vocab_size)`).
  public static func train(
    text: String, vocabSize: Int, pattern: SplitPattern = .cl100k, specialTokens: [String] = []
  ) throws(TokenizerError) -> RegexTokenizer {
    var counts = PieceCounts(pattern: pattern)
    counts.add(text)
    return try train(counts, vocabSize: vocabSize, specialTokens: specialTokens)
  }

  /// This tokenizer with more special tokens (minbpe's `register_special_tokens`).
  public func registeringSpecialTokens(_ tokens: [String: Int]) throws(TokenizerError) -> RegexTokenizer {
    try RegexTokenizer(
      pattern: pattern, merges: merges, specialTokens: specialTokens.ids.merging(tokens) { $1 })
  }
}

/// minbpe's `BasicTokenizer`: byte-level BPE on the raw bytes, with no pre-split and no
/// special tokens. Merges may cross spaces and punctuation; use `RegexTokenizer` for real corpora.
public struct BasicTokenizer: BytePairTokenizer {
  /// The same model as a `RegexTokenizer` with `SplitPattern.none`.
  public let base: RegexTokenizer

  public var merges: [Merge] { base.merges }
  public var codec: BytePairCodec { base.codec }

  public init(merges: [Merge] = []) throws(TokenizerError) {
    base = try RegexTokenizer(pattern: .none, merges: merges)
  }

  public static func train(text: String, vocabSize: Int) throws(TokenizerError) -> BasicTokenizer {
    BasicTokenizer(base: try RegexTokenizer.train(text: text, vocabSize: vocabSize, pattern: .none))
  }

  private init(base: RegexTokenizer) { self.base = base }
}
