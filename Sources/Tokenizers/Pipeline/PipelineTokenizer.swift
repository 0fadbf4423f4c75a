import Dispatch
import Foundation

/// The result of `PipelineTokenizer.encoding(of:)`: ids, token strings, type ids, where each
/// token is in the text, and the masks — HF's `Encoding`.
public struct PipelineEncoding: Sendable, Equatable {
  public var ids: [Int] = []
  public var tokens: [String] = []
  /// 0 for the first sequence, 1 for the second of a pair (as the template says).
  public var typeIds: [Int] = []
  /// Each token's span in its own sequence's text in characters (Unicode scalars, as Python
  /// counts them): HF's `offsets`. A token the post-processor added has `0..<0`.
  public var offsets: [Range<Int>] = []
  /// The same spans in UTF-8 bytes.
  public var byteOffsets: [Range<Int>] = []
  /// 1 for a token the post-processor added, else 0.
  public var specialTokensMask: [Int] = []
  /// 1 for a token of the text, 0 for padding.
  public var attentionMask: [Int] = []
  /// The parts truncation cut off, each an encoding of its own (HF `overflowing`).
  public var overflowing: [PipelineEncoding] = []

  public init(ids: [Int] = [], tokens: [String] = []) {
    self.ids = ids
    self.tokens = tokens
    typeIds = Array(repeating: 0, count: ids.count)
    offsets = Array(repeating: 0..<0, count: ids.count)
    byteOffsets = offsets
    specialTokensMask = typeIds
    attentionMask = Array(repeating: 1, count: ids.count)
  }

  /// Tokens a post-processor adds: no place in the text, marked special.
  init(special ids: [Int], tokens: [String]) {
    self.init(ids: ids, tokens: tokens)
    specialTokensMask = Array(repeating: 1, count: ids.count)
  }

  /// Whether every token has its offsets (encodings made for ids alone have none).
  var hasOffsets: Bool { offsets.count == ids.count }

  /// `other`'s tokens after ours (its overflowing parts are not taken).
  mutating func append(_ other: PipelineEncoding) {
    if hasOffsets && other.hasOffsets {
      offsets += other.offsets
      byteOffsets += other.byteOffsets
    } else {
      offsets.removeAll()
      byteOffsets.removeAll()
    }
    ids += other.ids
    tokens += other.tokens
    typeIds += other.typeIds
    specialTokensMask += other.specialTokensMask
    attentionMask += other.attentionMask
  }

  /// A token found in the text, at `bytes` of it.
  mutating func appendToken(_ id: Int, _ token: String, bytes: Range<Int>?) {
    ids.append(id)
    tokens.append(token)
    if let bytes { byteOffsets.append(bytes) }
  }
}

/// A Hugging-Face-`tokenizers`-style tokenizer: normalizer → pre-tokenizer → model (BPE,
/// WordPiece, Unigram) → post-processor, with added tokens and a decoder. It reads and writes
/// `tokenizer.json` (`init(file:)`, `save(to:)`) and encodes exactly as HF does.
///
/// Unlike tiktoken-style tokenizers, special-token text in the input *is* the special token
/// (HF semantics), and `encode` adds the post-processor's tokens (`addSpecialTokens`).
public struct PipelineTokenizer: Tokenizer {
  public var normalizer: Normalizer? { didSet { refreshAddedTokens() } }
  public var preTokenizer: PreTokenizer?
  public var model: any SubwordModel
  public var postProcessor: PostProcessor?
  public var decoder: Decoder?
  public private(set) var addedTokens: [AddedToken]
  /// Applied by `encoding(of:)` and `encodeBatch` (HF's `enable_truncation`).
  public var truncation: Truncation?
  /// Applied by `encoding(of:)` and `encodeBatch` (HF's `enable_padding`).
  public var padding: Padding?
  private var rawMatcher = AddedTokenMatcher([])
  /// Added tokens with `normalized: true`, matched by their normalized content in normalized text.
  private var normalizedMatcher = AddedTokenMatcher([])
  /// Each added token's string as HF shows and decodes it: its content, normalized for a
  /// `normalized` token (`New York` under `Lowercase` is `new york`).
  private var addedTokenStrings: [Int: String] = [:]

  public init(
    normalizer: Normalizer? = nil, preTokenizer: PreTokenizer? = nil, model: any SubwordModel,
    postProcessor: PostProcessor? = nil, decoder: Decoder? = nil, addedTokens: [AddedToken] = []
  ) {
    self.normalizer = normalizer
    self.preTokenizer = preTokenizer
    self.model = model
    self.postProcessor = postProcessor
    self.decoder = decoder
    self.addedTokens = addedTokens
    refreshAddedTokens()
  }

  /// Rebuilds the added-token matchers: a `normalized` token is matched, shown and decoded by its
  /// content run through the normalizer, as HF's `AddedVocabulary` does.
  private mutating func refreshAddedTokens() {
    rawMatcher = AddedTokenMatcher(addedTokens.filter { !$0.normalized })
    let normalized = addedTokens.filter(\.normalized).map { token in
      var token = token
      token.content = normalizer?.normalize(token.content) ?? token.content
      return token
    }
    normalizedMatcher = AddedTokenMatcher(normalized.filter { !$0.content.isEmpty })
    addedTokenStrings = [:]
    for token in addedTokens + normalized { addedTokenStrings[token.id] = token.content }
  }

  // MARK: Encoding

  /// Encodes `text` (and `pair`, the second sequence of a pair task), with each token's
  /// offsets; `truncation` and `padding` apply. Errors: a truncation the sequences cannot meet.
  public func encoding(of text: String, pair: String? = nil, addSpecialTokens: Bool = true) throws(TokenizerError) -> PipelineEncoding {
    var cache = WordCache(preTokenizer)
    let out = try encoding(of: text, pair: pair, addSpecialTokens: addSpecialTokens, offsets: true, cache: &cache)
    guard let padding else { return out }
    return out.padded(to: padding.length(for: [out]), padding)
  }

  /// One encoding before padding; without `offsets` (the ids-only path) nothing is truncated.
  private func encoding(
    of text: String, pair: String?, addSpecialTokens: Bool, offsets: Bool, cache: inout WordCache
  ) throws(TokenizerError) -> PipelineEncoding {
    var a = encodeSequence(text, cache: &cache, offsets: offsets)
    var b = pair.map { p in
      var b = encodeSequence(p, cache: &cache, offsets: offsets)
      b.typeIds = Array(repeating: 1, count: b.ids.count)
      return b
    }
    if offsets, let truncation {
      let added = addSpecialTokens ? postProcessor?.addedTokenCount(pair: pair != nil) ?? 0 : 0
      guard truncation.maxLength >= added else {
        throw .truncation("the maximum length \(truncation.maxLength) is less than the \(added) special tokens added; raise it")
      }
      try truncation.truncate(&a, &b, maxLength: truncation.maxLength - added)
    }
    if offsets, let addPrefixSpace = postProcessor?.offsetTrimming {
      a = a.trimmingOffsets(addPrefixSpace, text: text)
      if let pair { b = b?.trimmingOffsets(addPrefixSpace, text: pair) }
    }
    if let postProcessor { return postProcessor.process(a, b, addSpecialTokens: addSpecialTokens) }
    return PipelineEncoding.merge([a] + (b.map { [$0] } ?? []))
  }

  /// Encodes many texts on `threads` threads, then pads them together (`padding`); the result
  /// does not depend on the thread count. Errors: the first text truncation fails on.
  public func encodeBatch(_ texts: [String], addSpecialTokens: Bool = true, threads: Int = 2) throws(TokenizerError) -> [PipelineEncoding] {
    let threads = max(1, min(threads, texts.count))
    let results = UnsafeMutableBufferPointer<Result<PipelineEncoding, TokenizerError>>.allocate(capacity: texts.count)
    results.initialize(repeating: .success(PipelineEncoding()))
    defer { results.deallocate() }
    let shared = SendablePointer(results.baseAddress!)
    DispatchQueue.concurrentPerform(iterations: threads) { t in
      var cache = WordCache(preTokenizer)
      for i in (texts.count * t / threads)..<(texts.count * (t + 1) / threads) {
        shared.pointer[i] = Result { () throws(TokenizerError) in
          try encoding(of: texts[i], pair: nil, addSpecialTokens: addSpecialTokens, offsets: true, cache: &cache)
        }
      }
    }
    var encodings: [PipelineEncoding] = []
    encodings.reserveCapacity(texts.count)
    for result in results { encodings.append(try result.get()) }
    guard let padding else { return encodings }
    let length = padding.length(for: encodings)
    return encodings.map { $0.padded(to: length, padding) }
  }

  /// One sequence through added tokens, normalizer, pre-tokenizer and model; with `offsets`,
  /// each token's span in `text` too (bytes, then characters).
  private func encodeSequence(_ text: String, cache: inout WordCache, offsets: Bool) -> PipelineEncoding {
    var out = PipelineEncoding()
    out.ids.reserveCapacity(text.utf8.count / 2)
    out.tokens.reserveCapacity(text.utf8.count / 2)
    var atOrigin = true
    for (section, range, token) in rawMatcher.split(text) {
      defer { atOrigin = false }
      if let token {
        out.appendToken(token.id, token.content, bytes: offsets ? range : nil)
        continue
      }
      let normalized: String
      var place: TextPlace?
      if offsets, let normalizer {
        let (text, sources) = normalizer.normalizedWithSources(section)
        normalized = text
        place = TextPlace(normalized: normalized, sources: sources, base: range.lowerBound)
      } else {
        normalized = normalizer?.normalize(section) ?? section
        if offsets { place = TextPlace(normalized: normalized, sources: nil, base: range.lowerBound) }
      }
      for (piece, pieceRange, token) in normalizedMatcher.split(normalized) {
        place?.pieceStart = pieceRange.lowerBound
        if let token {
          out.appendToken(token.id, token.content, bytes: place?.original(first: 0, last: pieceRange.count - 1))
        } else {
          encodeWords(piece, atOrigin: atOrigin, cache: &cache, into: &out, place: place)
        }
      }
    }
    out.typeIds = Array(repeating: 0, count: out.ids.count)
    out.specialTokensMask = out.typeIds
    out.attentionMask = Array(repeating: 1, count: out.ids.count)
    if offsets { out.offsets = characterOffsets(out.byteOffsets, in: text) }
    return out
  }

  /// Pre-tokenizes `text` and runs the model on each word, through the word cache. Cutting
  /// pre-tokenizers and GPT-2's byte-level one find words as byte ranges (no string per word);
  /// the cache is keyed by those bytes (for byte-level: the bytes before the byte → char map).
  /// With `place`, each token's span in the original text is appended to `byteOffsets`.
  private func encodeWords(
    _ text: String, atOrigin: Bool, cache: inout WordCache, into out: inout PipelineEncoding, place: TextPlace?
  ) {
    var text = text
    var origins: [Int32] = []  // for each byte of the word the model sees, its byte in `text`
    /// The last word's tokens' spans in the original text; `pieceByte` takes a byte of the
    /// `count` the model saw to its byte in `text`.
    func addOffsets(count: Int, _ pieceByte: (Int) -> Int) {
      guard let place else { return }
      for span in cache.spans {
        let first = min(span.lowerBound, count - 1)
        out.byteOffsets.append(place.original(first: pieceByte(first), last: pieceByte(min(max(span.upperBound - 1, first), count - 1))))
      }
    }
    if let options = preTokenizer?.byteLevelSplit {
      let shift = options.addPrefixSpace && !text.isEmpty && text.utf8.first != 0x20 ? 1 : 0
      if shift == 1 { text = " " + text }
      text.withUTF8 { b in
        SplitPattern.gpt2.forEachPiece(in: b) { s, e in
          cache.encode(b.baseAddress! + s, e - s, with: model, into: &out, spans: place != nil) { ByteLevel.encode($0) }
          if place != nil {
            origins.removeAll(keepingCapacity: true)
            for i in s..<e {
              origins.append(contentsOf: repeatElement(Int32(max(i - shift, 0)), count: ByteLevel.characterWidths[Int(b[i])]))
            }
            addOffsets(count: origins.count) { Int(origins[$0]) }
          }
        }
      }
    } else if cache.scanner != nil {
      text.withUTF8 { b in
        cache.scanner!.scan(b)
        for r in cache.scanner!.ranges {
          cache.encode(b.baseAddress! + r.lowerBound, r.count, with: model, into: &out, spans: place != nil) { $0 }
          // The model sees the word's own bytes.
          addOffsets(count: r.count) { r.lowerBound + $0 }
        }
      }
    } else {
      for var word in words(text, atOrigin: atOrigin, origins: place != nil) {
        word.text.withUTF8 { b in
          guard let p = b.baseAddress else { return }
          cache.encode(p, b.count, with: model, into: &out, spans: place != nil) { $0 }
        }
        if let from = word.origins { addOffsets(count: from.count) { Int(from[$0]) } }
      }
    }
  }

  private func words(_ text: String, atOrigin: Bool, origins: Bool = false) -> [PreToken] {
    guard let preTokenizer else {
      return text.isEmpty ? [] : [PreToken(text, atOrigin: atOrigin, origins: origins ? (0..<Int32(text.utf8.count)).map { $0 } : nil)]
    }
    return preTokenizer.preTokenize(text, atOrigin: atOrigin, origins: origins)
  }

  /// The words the normalizer and pre-tokenizer make of `text` (HF `pre_tokenize_str`).
  public func preTokenize(_ text: String) -> [String] {
    words(normalizer?.normalize(text) ?? text, atOrigin: true).map(\.text)
  }

  // MARK: Decoding

  /// The token string of `id` (added token or model vocabulary).
  public func token(_ id: Int) -> String? { addedTokenStrings[id] ?? model.vocab.token(id) }

  /// The id of a token string.
  public func id(of token: String) -> Int? {
    addedTokens.first { $0.content.utf8.elementsEqual(token.utf8) }?.id ?? model.vocab.id(token)
  }

  /// Decodes `ids`; special added tokens are left out unless `skipSpecialTokens` is false.
  /// An id that is no token is an error. As in HF, a special token is known by its string, so
  /// a `normalized` one whose normalized content differs from its content is not left out.
  public func decode(_ ids: [Int], skipSpecialTokens: Bool) throws(TokenizerError) -> String {
    var tokens: [String] = []
    tokens.reserveCapacity(ids.count)
    let special = skipSpecialTokens ? Set(addedTokens.filter(\.special).map(\.content)) : []
    for id in ids {
      if let added = addedTokenStrings[id] {
        if !special.contains(added) { tokens.append(added) }
      } else if let token = model.vocab.token(id) {
        tokens.append(token)
      } else {
        throw .invalidTokenID(id)
      }
    }
    return decoder?.decode(tokens) ?? tokens.joined(separator: " ")
  }

  // MARK: Tokenizer

  public var vocabSize: Int { max(model.vocab.size, (addedTokens.map(\.id).max() ?? -1) + 1) }

  /// The ids of the whole text with the post-processor's tokens; unlike `encoding(of:)`, no
  /// truncation or padding (generation and data preparation want every token).
  public func encode(_ text: String) throws -> [Int] { ids(text, addSpecialTokens: true) }

  /// Encodes without the post-processor's template tokens; added tokens are matched.
  public func encodeOrdinary(_ text: String) -> [Int] { ids(text, addSpecialTokens: false) }

  /// The ids of the whole text (no offsets, truncation or padding: the fast path).
  private func ids(_ text: String, addSpecialTokens: Bool) -> [Int] {
    var cache = WordCache(preTokenizer)
    return (try? encoding(of: text, pair: nil, addSpecialTokens: addSpecialTokens, offsets: false, cache: &cache).ids) ?? []
  }

  /// Decodes with HF's default: special tokens left out.
  public func decode(_ ids: [Int]) throws -> String { try decode(ids, skipSpecialTokens: true) }

  /// The bytes a token contributes after the first position (what streaming prints).
  public func tokenBytes(_ id: Int) -> [UInt8]? {
    guard let token = token(id) else { return nil }
    if case .byteLevel = decoder {
      var bytes: [UInt8] = []
      ByteLevel.decode(token, into: &bytes)
      return bytes
    }
    return Array((decoder?.decodeChain(["", token]).joined() ?? " " + token).utf8)
  }

  public var specialTokens: SpecialTokens {
    (try? SpecialTokens(Dictionary(addedTokens.filter(\.special).map { ($0.content, $0.id) }) { a, _ in a }))
      ?? SpecialTokens()
  }
}

/// Words already run through the model (ids and tokens), keyed by their bytes, plus the
/// scanner's reusable buffers: one per encode call or batch thread.
struct WordCache {
  private var table = ByteStringTable(capacity: 4096)
  // Entry k's ids, tokens and spans are ids[start[k]..<start[k + 1]], laid end to end.
  private var ids: [Int] = []
  private var tokens: [String] = []
  private var cachedSpans: [Range<Int>] = []
  private var start: [Int] = [0]
  var scanner: WordScanner?
  /// The spans of the last word's tokens (the range of its bytes each stands for), when asked.
  private(set) var spans: [Range<Int>] = []

  init(_ preTokenizer: PreTokenizer?) { scanner = preTokenizer.flatMap(WordScanner.init) }

  /// Appends the tokens of the word with bytes `p[0..<n]`; on a miss the model sees `word(text)`.
  /// With `spans`, their spans are left in `spans`.
  mutating func encode(
    _ p: UnsafePointer<UInt8>, _ n: Int, with model: any SubwordModel, into out: inout PipelineEncoding,
    spans wantSpans: Bool, _ word: (String) -> String
  ) {
    if model.isDeterministic, let k = table.find(p, n) {
      let range = start[k]..<start[k + 1]
      if range.count == 1 {
        out.ids.append(ids[range.lowerBound])
        out.tokens.append(tokens[range.lowerBound])
      } else {
        out.ids.append(contentsOf: ids[range])
        out.tokens.append(contentsOf: tokens[range])
      }
      if wantSpans {
        spans.removeAll(keepingCapacity: true)
        spans.append(contentsOf: cachedSpans[range])
      }
      return
    }
    let first = out.ids.count
    spans.removeAll(keepingCapacity: true)
    model.tokenize(word(String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)),
                   into: &out.ids, tokens: &out.tokens, spans: &spans)
    if model.isDeterministic && start.count <= 1 << 16 {
      _ = table.findOrInsert(p, n)
      ids.append(contentsOf: out.ids[first...])
      tokens.append(contentsOf: out.tokens[first...])
      cachedSpans.append(contentsOf: spans)
      start.append(ids.count)
    }
  }
}

/// Where a normalized piece of a sequence lies in the original text: the normalized section,
/// the original byte range of each of its bytes (nil when the normalizer left it unchanged),
/// and the section's and the piece's starts.
struct TextPlace {
  let normalized: [UInt8]
  let sources: [Range<Int>]?
  let base: Int
  var pieceStart = 0

  init(normalized: String, sources: [Range<Int>]?, base: Int) {
    self.normalized = Array(normalized.utf8)
    self.sources = sources
    self.base = base
  }

  /// The original bytes of the piece's bytes `first...last`: from the start of the first's
  /// character to the end of the last's (HF `convert_offsets`).
  func original(first: Int, last: Int) -> Range<Int> {
    let (a, b) = (pieceStart + first, pieceStart + max(first, last))
    if let sources { return (base + sources[a].lowerBound)..<(base + sources[b].upperBound) }
    var lower = a
    while lower > 0 && normalized[lower] & 0xC0 == 0x80 { lower -= 1 }
    var upper = b + 1
    while upper < normalized.count && normalized[upper] & 0xC0 == 0x80 { upper += 1 }
    return (base + lower)..<(base + upper)
  }
}

/// Character (scalar) offsets in `text` as byte offsets.
func byteOffsets(_ offsets: [Range<Int>], in text: String) -> [Range<Int>] {
  var start = [0]
  start.reserveCapacity(text.utf8.count + 1)
  for s in text.unicodeScalars { start.append(start.last! + UTF8.width(s)) }
  return offsets.map { r in
    r.upperBound < start.count ? start[r.lowerBound]..<start[r.upperBound] : r
  }
}

/// Byte offsets in `text` as character (scalar) offsets, as HF's Python binding converts them:
/// a byte inside a character counts as that character; an end at the text's end is its
/// length; a start past the end is left as it is.
func characterOffsets(_ offsets: [Range<Int>], in text: String) -> [Range<Int>] {
  guard !offsets.isEmpty else { return [] }
  let characterOf = characterIndices(text)
  let n = characterOf.count
  let characters = n == 0 ? 0 : characterOf[n - 1] + 1
  return offsets.map { r in
    guard r.lowerBound < n else { return r }
    let end = r.upperBound < n ? characterOf[r.upperBound] : characters
    return characterOf[r.lowerBound]..<max(end, characterOf[r.lowerBound])
  }
}

/// For each byte of `text`, the index of the character (Unicode scalar) it belongs to.
func characterIndices(_ text: String) -> [Int] {
  var characterOf: [Int] = []
  characterOf.reserveCapacity(text.utf8.count)
  var k = -1
  for b in text.utf8 {
    if b & 0xC0 != 0x80 { k += 1 }
    characterOf.append(k)
  }
  return characterOf
}
