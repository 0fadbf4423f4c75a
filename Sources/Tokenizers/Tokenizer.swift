import Dispatch

/// What every SwiftGPT tokenizer does: text ↔ token ids.
public protocol Tokenizer: Sendable {
  /// One more than the largest token id (tiktoken's `n_vocab`; there may be unused ids).
  var vocabSize: Int { get }
  /// Encodes `text`. Text that spells a special token is an error (as in tiktoken); byte-pair
  /// tokenizers offer `encode(_:allowedSpecial:disallowedSpecial:)` to choose otherwise.
  func encode(_ text: String) throws -> [Int]
  /// Encodes `text` as model input, the way pretraining data is encoded: special-token text is
  /// plain text for tiktoken-style tokenizers (as in llm.c's data scripts), a HF pipeline
  /// matches its added tokens (as HF does) but adds no template tokens.
  func encodeOrdinary(_ text: String) throws -> [Int]
  /// Decodes ids to text; bytes that are not valid UTF-8 become U+FFFD.
  func decode(_ ids: [Int]) throws -> String
  /// The bytes of one token, or nil if `id` is not a token.
  func tokenBytes(_ id: Int) -> [UInt8]?
  /// The special tokens (text → id); empty if there are none.
  var specialTokens: SpecialTokens { get }
}

extension BytePairTokenizer {
  /// Where each of `ids` (the encoding of `text`) lies in `text`, in characters (Unicode
  /// scalars) and in bytes: a byte-level BPE token is its bytes, so the spans follow one
  /// another; a token holding part of a character counts as that whole character, as
  /// tiktoken's `decode_with_offsets` does.
  public func offsets(of ids: [Int], in text: String) -> (characters: [Range<Int>], bytes: [Range<Int>]) {
    let characterOf = characterIndices(text)
    let characterCount = characterOf.last.map { $0 + 1 } ?? 0
    var bytes: [Range<Int>] = []
    var characters: [Range<Int>] = []
    var position = 0
    for id in ids {
      let span = position..<min(position + (tokenBytes(id)?.count ?? 0), characterOf.count)
      bytes.append(span)
      characters.append(span.isEmpty ? characterCount..<characterCount : characterOf[span.lowerBound]..<(characterOf[span.upperBound - 1] + 1))
      position = span.upperBound
    }
    return (characters, bytes)
  }
}

/// The engine shared by every byte-level BPE tokenizer: vocabulary, split pattern and
/// special tokens. Obtain one from `Encoding`, `RegexTokenizer` or `BasicTokenizer`.
public struct BytePairCodec: Sendable {
  let model: BytePairModel
  public let pattern: SplitPattern
  public let specialTokens: SpecialTokens

  init(model: BytePairModel, pattern: SplitPattern, specialTokens: SpecialTokens) {
    self.model = model
    self.pattern = pattern
    self.specialTokens = specialTokens
  }

  /// Encodes `buffer[start..<end]` as ordinary text (no special tokens), appending to `out`.
  func encodeOrdinary(_ buffer: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, into out: inout [Int]) {
    let base = buffer.baseAddress!
    pattern.forEachPiece(in: buffer, from: start, to: end) { s, e in
      model.encodePiece(base + s, e - s, into: &out)
    }
  }
}

/// A byte-level BPE tokenizer: `Encoding` (tiktoken's), `RegexTokenizer`, `BasicTokenizer`.
public protocol BytePairTokenizer: Tokenizer {
  var codec: BytePairCodec { get }
}

extension BytePairTokenizer {
  public var pattern: SplitPattern { codec.pattern }
  public var specialTokens: SpecialTokens { codec.specialTokens }

  public var vocabSize: Int {
    max(codec.model.count, (codec.specialTokens.ids.values.max() ?? -1) + 1)
  }

  /// Encodes `text` as plain text: special-token text is split and merged like any other.
  public func encodeOrdinary(_ text: String) -> [Int] {
    var text = text
    return text.withUTF8 { buffer in
      var out: [Int] = []
      out.reserveCapacity(buffer.count / 3 + 1)
      if !buffer.isEmpty { codec.encodeOrdinary(buffer, 0, buffer.count, into: &out) }
      return out
    }
  }

  /// Encodes `text`, refusing special-token text (tiktoken's default).
  public func encode(_ text: String) throws -> [Int] {
    try encode(text, allowedSpecial: .none)
  }

  /// Encodes `text` with tiktoken's special-token rules: `allowedSpecial` tokens become their
  /// ids; text that spells a `disallowedSpecial` token (by default: every special token not
  /// allowed) is an error; any other special-token text is encoded as plain text.
  public func encode(
    _ text: String, allowedSpecial: SpecialTokenSet, disallowedSpecial: SpecialTokenSet = .all
  ) throws -> [Int] {
    let specials = codec.specialTokens
    let allowed = try specials.resolve(allowedSpecial)
    let disallowed = disallowedSpecial == .all
      ? Set(specials.ids.values).subtracting(allowed) : try specials.resolve(disallowedSpecial)
    var text = text
    return try text.withUTF8 { buffer in
      if let (_, _, id) = specials.firstMatch(in: buffer, from: 0, wanted: disallowed) {
        throw TokenizerError.disallowedSpecialToken(specials.name(of: id)!)
      }
      var out: [Int] = []
      out.reserveCapacity(buffer.count / 3 + 1)
      var start = 0
      while true {
        let match = specials.firstMatch(in: buffer, from: start, wanted: allowed)
        let end = match?.0 ?? buffer.count
        if start < end { codec.encodeOrdinary(buffer, start, end, into: &out) }
        guard let (_, after, id) = match else { break }
        out.append(id)
        start = after
      }
      return out
    }
  }

  public func tokenBytes(_ id: Int) -> [UInt8]? {
    let tokens = codec.model.tokens
    if id >= 0, id < tokens.count, tokens.length(id) > 0 { return Array(tokens[id]) }
    return codec.specialTokens.name(of: id).map { Array($0.utf8) }
  }

  /// The bytes of `ids` concatenated (tiktoken's `decode_bytes`).
  public func decodeBytes(_ ids: [Int]) throws -> [UInt8] {
    let tokens = codec.model.tokens
    var out: [UInt8] = []
    out.reserveCapacity(ids.count * 4)
    for id in ids {
      if id >= 0, id < tokens.count, tokens.length(id) > 0 {
        out.append(contentsOf: tokens[id])
      } else if let name = codec.specialTokens.name(of: id) {
        out.append(contentsOf: name.utf8)
      } else {
        throw TokenizerError.invalidTokenID(id)
      }
    }
    return out
  }

  /// Decodes `ids` to text; invalid UTF-8 becomes U+FFFD (tiktoken's `errors="replace"`).
  public func decode(_ ids: [Int]) throws -> String {
    String(decoding: try decodeBytes(ids), as: UTF8.self)
  }
}

extension BytePairTokenizer {
  /// Encodes many texts as plain text on `threads` threads (tiktoken's
  /// `encode_ordinary_batch`). Each thread takes a contiguous share, so the result order and
  /// ids are the same for any thread count.
  public func encodeOrdinaryBatch(_ texts: [String], threads: Int = 2) -> [[Int]] {
    let threads = max(1, min(threads, texts.count))
    let encode: @Sendable (String) -> [Int] = encodeOrdinary  // the non-throwing byte-pair one
    guard threads > 1 else { return texts.map(encode) }
    let results = UnsafeMutableBufferPointer<[Int]>.allocate(capacity: texts.count)
    results.initialize(repeating: [])
    defer { results.deallocate() }
    let shared = SendablePointer(results.baseAddress!)
    DispatchQueue.concurrentPerform(iterations: threads) { t in
      let range = (texts.count * t / threads)..<(texts.count * (t + 1) / threads)
      for i in range { shared.pointer[i] = encode(texts[i]) }
    }
    return Array(results)
  }
}

/// A pointer handed to worker threads that write disjoint elements.
struct SendablePointer<T>: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<T>
  init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
