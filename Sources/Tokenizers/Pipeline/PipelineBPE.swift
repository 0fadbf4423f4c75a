/// HF's BPE model: a word is split into characters (all but the first carry
/// `continuingSubwordPrefix`, the last carries `endOfWordSuffix`), then the pair with the
/// lowest merge rank is merged, leftmost first, until no merge applies.
///
/// A character missing from the vocabulary becomes `<0xXX>` byte tokens (`byteFallback`), else
/// the unknown token (consecutive ones fused with `fuseUnk`), else it is dropped — as HF does.
///
/// With `dropout` p (BPE-dropout, Provilkov et al. 2020, as HF applies it) each merge the
/// encoder picks is skipped with probability p and tried again after the next merge that is
/// made; a word stops merging when every possible merge was skipped. The encoding is then
/// random (the system generator, as HF's), for regularising training.
public struct PipelineBPE: SubwordModel {
  public let vocab: Vocabulary
  /// Merge rules in rank order.
  public let merges: [(String, String)]
  public let unknownToken: String?
  public let continuingSubwordPrefix: String?
  public let endOfWordSuffix: String?
  public let fuseUnknown: Bool
  public let byteFallback: Bool
  /// A word that is itself in the vocabulary is one token, without merging.
  public let ignoreMerges: Bool
  /// The probability of skipping each merge (nil or 0: none; 1: no merges).
  public let dropout: Double?

  private let ranks: PairTable
  private let mergedIds: [Int32]
  private let unknownId: Int?
  /// Id of a character by (is first, is last), keyed by scalar value.
  private let charIds: [[UInt32: Int32]]

  public init(
    vocab: Vocabulary, merges: [(String, String)], unknownToken: String? = nil, continuingSubwordPrefix: String? = nil,
    endOfWordSuffix: String? = nil, fuseUnknown: Bool = false, byteFallback: Bool = false, ignoreMerges: Bool = false,
    dropout: Double? = nil
  ) throws(TokenizerError) {
    if let dropout, !(0...1).contains(dropout) {
      throw .invalidJSON(field: "model.dropout", reason: "must be between 0 and 1, got \(dropout)")
    }
    self.dropout = dropout
    self.vocab = vocab
    self.merges = merges
    self.unknownToken = unknownToken
    self.continuingSubwordPrefix = continuingSubwordPrefix
    self.endOfWordSuffix = endOfWordSuffix
    self.fuseUnknown = fuseUnknown
    self.byteFallback = byteFallback
    self.ignoreMerges = ignoreMerges
    if let unknownToken {
      guard let id = vocab.id(unknownToken) else {
        throw .invalidJSON(field: "model.unk_token", reason: "'\(unknownToken)' is not in the vocabulary")
      }
      unknownId = id
    } else {
      unknownId = nil
    }
    var ranks = PairTable(capacity: merges.count)
    var mergedIds: [Int32] = []
    mergedIds.reserveCapacity(merges.count)
    for (rank, (a, b)) in merges.enumerated() {
      let field = "model.merges[\(rank)]"
      guard let left = vocab.id(a) else { throw .invalidJSON(field: field, reason: "'\(a)' is not in the vocabulary") }
      guard let right = vocab.id(b) else { throw .invalidJSON(field: field, reason: "'\(b)' is not in the vocabulary") }
      let merged = a + PipelineBPE.dropPrefix(b, continuingSubwordPrefix)
      guard let id = vocab.id(merged) else {
        throw .invalidJSON(field: field, reason: "the merged token '\(merged)' is not in the vocabulary")
      }
      // A repeated rule keeps its first rank.
      if ranks.insert(UInt32(left), UInt32(right), UInt32(mergedIds.count)) {
        mergedIds.append(Int32(id))
      }
    }
    self.ranks = ranks
    self.mergedIds = mergedIds
    var charIds = [[UInt32: Int32]](repeating: [:], count: 4)
    let prefix = continuingSubwordPrefix ?? ""
    let suffix = endOfWordSuffix ?? ""
    for (token, id) in vocab.entries {
      for kind in 0..<4 {
        let first = kind & 1 != 0
        let last = kind & 2 != 0
        let p = first ? 0 : prefix.utf8.count
        let q = last ? suffix.utf8.count : 0
        guard (first || token.startsWithBytes(prefix)) && (!last || token.endsWithBytes(suffix)),
              token.utf8.count > p + q else { continue }
        let scalars = token.trimmingBytes(prefix: p, suffix: q).unicodeScalars
        if scalars.count == 1 { charIds[kind][scalars.first!.value] = Int32(id) }
      }
    }
    self.charIds = charIds
  }

  static func dropPrefix(_ token: String, _ prefix: String?) -> String {
    guard let prefix, token.startsWithBytes(prefix) else { return token }
    return token.trimmingBytes(prefix: prefix.utf8.count)
  }

  public func tokenize(_ word: String, into ids: inout [Int], tokens: inout [String], spans: inout [Range<Int>]) {
    let firstNew = ids.count
    defer { for id in ids[firstNew...] { tokens.append(vocab.tokens[id]!) } }
    if ignoreMerges, let id = vocab.id(word) {
      ids.append(id)
      spans.append(0..<word.utf8.count)
      return
    }
    var symbols: [Int32] = []
    var symbolSpans: [Range<Int>] = []
    symbols.reserveCapacity(word.utf8.count)
    symbolSpans.reserveCapacity(word.utf8.count)
    var unknown = false  // an unknown token is pending (for fusing)
    let scalars = word.unicodeScalars
    var index = scalars.startIndex
    var isFirst = true
    var position = 0
    while index < scalars.endIndex {
      let s = scalars[index]
      index = scalars.index(after: index)
      let isLast = index == scalars.endIndex
      // As HF, spans count the bytes of the symbols made so far (a dropped character none).
      let span = position..<(position + UTF8.width(s))
      if let id = charIds[(isFirst ? 1 : 0) | (isLast ? 2 : 0)][s.value] {
        symbols.append(id)
        symbolSpans.append(span)
        position = span.upperBound
        unknown = false
      } else if byteFallback, let bytes = fallbackIds(s, isFirst: isFirst, isLast: isLast) {
        symbols.append(contentsOf: bytes)
        for k in bytes.indices { symbolSpans.append((position + k)..<(position + k + 1)) }
        position += bytes.count
        unknown = false
      } else if let unknownId {
        if unknown && fuseUnknown {
          symbolSpans[symbolSpans.count - 1] = symbolSpans[symbolSpans.count - 1].lowerBound..<span.upperBound
        } else {
          symbols.append(Int32(unknownId))
          symbolSpans.append(span)
        }
        position = span.upperBound
        unknown = true
      }
      isFirst = false
    }
    merge(&symbols, &symbolSpans)
    for s in symbols { ids.append(Int(s)) }
    spans.append(contentsOf: symbolSpans)
  }

  /// The `<0xXX>` ids of the character as HF spells it (with prefix / suffix), if all exist.
  private func fallbackIds(_ s: Unicode.Scalar, isFirst: Bool, isLast: Bool) -> [Int32]? {
    var text = String(s)
    if !isFirst, let prefix = continuingSubwordPrefix { text = prefix + text }
    if isLast, let suffix = endOfWordSuffix { text += suffix }
    var result: [Int32] = []
    for b in text.utf8 {
      guard let id = vocab.id(byteFallbackToken(b)) else { return nil }
      result.append(Int32(id))
    }
    return result
  }

  /// Whether a word always encodes the same way (no dropout), so encodings may be cached.
  public var isDeterministic: Bool { (dropout ?? 0) == 0 }

  /// Applies merges to `symbols`: lowest rank first, leftmost among equal ranks. With dropout,
  /// a picked merge is skipped with probability p until the next merge is made.
  private func merge(_ symbols: inout [Int32], _ spans: inout [Range<Int>]) {
    let p = dropout ?? 0
    var generator = SystemRandomNumberGenerator()
    var skipped = Set<Int>()  // positions whose merge was dropped since the last merge
    while symbols.count > 1 {
      var best = UInt32.max
      var at = -1
      for i in 0..<(symbols.count - 1) where !skipped.contains(i) {
        let r = ranks.get(UInt32(bitPattern: symbols[i]), UInt32(bitPattern: symbols[i + 1]))
        if r < best {
          best = r
          at = i
        }
      }
      guard at >= 0 else { return }
      if p > 0 && Double.random(in: 0..<1, using: &generator) < p {
        skipped.insert(at)
        continue
      }
      symbols[at] = mergedIds[Int(best)]
      symbols.remove(at: at + 1)
      spans[at] = spans[at].lowerBound..<spans[at + 1].upperBound
      spans.remove(at: at + 1)
      skipped.removeAll()
    }
  }

  // MARK: tokenizer.json

  init(json: JSONField) throws(TokenizerError) {
    let dropout = try json.optional("dropout").map { field throws(TokenizerError) in
      let value = try field.double
      guard (0...1).contains(value) else { throw field.error("must be between 0 and 1, got \(value)") }
      return value
    }
    let vocab = try Vocabulary(json: try json.at("vocab"))
    var merges: [(String, String)] = []
    for item in try json.optional("merges")?.array ?? [] {
      switch item.value {
      case .array(let pair):
        guard pair.count == 2, case .string(let a) = pair[0], case .string(let b) = pair[1] else {
          throw item.error("expected a pair of strings")
        }
        merges.append((a, b))
      case .string(let line):
        let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw item.error("expected \"left right\"") }
        merges.append((String(parts[0]), String(parts[1])))
      default: throw item.error("expected a pair of strings")
      }
    }
    try self.init(
      vocab: vocab, merges: merges, unknownToken: try json.optional("unk_token")?.string,
      continuingSubwordPrefix: try json.optional("continuing_subword_prefix")?.string,
      endOfWordSuffix: try json.optional("end_of_word_suffix")?.string, fuseUnknown: try json.bool("fuse_unk", default: false),
      byteFallback: try json.bool("byte_fallback", default: false), ignoreMerges: try json.bool("ignore_merges", default: false),
      dropout: dropout)
  }

  public var json: JSONValue {
    .members([
      "type": "BPE", "dropout": dropout.map { .double($0) } ?? .null, "unk_token": .optional(unknownToken),
      "continuing_subword_prefix": .optional(continuingSubwordPrefix), "end_of_word_suffix": .optional(endOfWordSuffix),
      "fuse_unk": .bool(fuseUnknown), "byte_fallback": .bool(byteFallback), "ignore_merges": .bool(ignoreMerges),
      "vocab": vocab.json, "merges": .array(merges.map { .array([.string($0.0), .string($0.1)]) }),
    ])
  }
}

extension PipelineBPE {
  /// A BPE model with no vocabulary (the model of a pipeline before training).
  public static let empty = try! PipelineBPE(vocab: Vocabulary(), merges: [])
}
