import Dispatch
import Foundation

/// The result of `PipelineTokenizer.encode`: ids, their token strings and type ids.
public struct PipelineEncoding: Sendable, Equatable {
  public var ids: [Int] = []
  public var tokens: [String] = []
  /// 0 for the first sequence, 1 for the second of a pair (as the template says).
  public var typeIds: [Int] = []

  public init(ids: [Int] = [], tokens: [String] = []) {
    self.ids = ids
    self.tokens = tokens
    typeIds = Array(repeating: 0, count: ids.count)
  }

  mutating func append(_ other: PipelineEncoding, typeId: Int) {
    ids += other.ids
    tokens += other.tokens
    typeIds += repeatElement(typeId, count: other.ids.count)
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

  /// Encodes `text` (and `pair`, the second sequence of a pair task).
  public func encoding(of text: String, pair: String? = nil, addSpecialTokens: Bool = true) -> PipelineEncoding {
    var cache = WordCache(preTokenizer)
    let a = encodeSequence(text, cache: &cache)
    let b = pair.map { encodeSequence($0, cache: &cache) }
    if addSpecialTokens, let postProcessor { return postProcessor.process(a, b) }
    var out = a
    if let b { out.append(b, typeId: 1) }
    return out
  }

  /// Encodes many texts on `threads` threads; the result does not depend on the thread count.
  public func encodeBatch(_ texts: [String], addSpecialTokens: Bool = true, threads: Int = 2) -> [PipelineEncoding] {
    let threads = max(1, min(threads, texts.count))
    let results = UnsafeMutableBufferPointer<PipelineEncoding>.allocate(capacity: texts.count)
    results.initialize(repeating: PipelineEncoding())
    defer { results.deallocate() }
    let shared = SendablePointer(results.baseAddress!)
    DispatchQueue.concurrentPerform(iterations: threads) { t in
      var cache = WordCache(preTokenizer)
      for i in (texts.count * t / threads)..<(texts.count * (t + 1) / threads) {
        var encoding = encodeSequence(texts[i], cache: &cache)
        if addSpecialTokens, let postProcessor { encoding = postProcessor.process(encoding, nil) }
        shared.pointer[i] = encoding
      }
    }
    return Array(results)
  }

  private func encodeSequence(_ text: String, cache: inout WordCache) -> PipelineEncoding {
    var out = PipelineEncoding()
    out.ids.reserveCapacity(text.utf8.count / 2)
    out.tokens.reserveCapacity(text.utf8.count / 2)
    var atOrigin = true
    for (section, token) in rawMatcher.split(text) {
      defer { atOrigin = false }
      if let token {
        out.ids.append(token.id)
        out.tokens.append(token.content)
        continue
      }
      let normalized = normalizer?.normalize(section) ?? section
      for (piece, token) in normalizedMatcher.split(normalized) {
        if let token {
          out.ids.append(token.id)
          out.tokens.append(token.content)
        } else {
          encodeWords(piece, atOrigin: atOrigin, cache: &cache, into: &out)
        }
      }
    }
    out.typeIds = Array(repeating: 0, count: out.ids.count)
    return out
  }

  /// Pre-tokenizes `text` and runs the model on each word, through the word cache. Cutting
  /// pre-tokenizers and GPT-2's byte-level one find words as byte ranges (no string per word);
  /// the cache is keyed by those bytes (for byte-level: the bytes before the byte → char map).
  private func encodeWords(_ text: String, atOrigin: Bool, cache: inout WordCache, into out: inout PipelineEncoding) {
    var text = text
    if let options = preTokenizer?.byteLevelSplit {
      if options.addPrefixSpace && !text.isEmpty && text.utf8.first != 0x20 { text = " " + text }
      text.withUTF8 { b in
        SplitPattern.gpt2.forEachPiece(in: b) { s, e in
          cache.encode(b.baseAddress! + s, e - s, with: model, into: &out) { ByteLevel.encode($0) }
        }
      }
    } else if cache.scanner != nil {
      text.withUTF8 { b in
        cache.scanner!.scan(b)
        for r in cache.scanner!.ranges {
          cache.encode(b.baseAddress! + r.lowerBound, r.count, with: model, into: &out) { $0 }
        }
      }
    } else {
      for var word in words(text, atOrigin: atOrigin) {
        word.withUTF8 { b in
          if let p = b.baseAddress { cache.encode(p, b.count, with: model, into: &out) { $0 } }
        }
      }
    }
  }

  private func words(_ text: String, atOrigin: Bool) -> [String] {
    guard let preTokenizer else { return text.isEmpty ? [] : [text] }
    return preTokenizer.preTokenize(text, atOrigin: atOrigin).map(\.text)
  }

  /// The words the normalizer and pre-tokenizer make of `text` (HF `pre_tokenize_str`).
  public func preTokenize(_ text: String) -> [String] {
    words(normalizer?.normalize(text) ?? text, atOrigin: true)
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

  public func encode(_ text: String) throws -> [Int] { encoding(of: text).ids }

  /// Encodes without the post-processor's template tokens; added tokens are matched.
  public func encodeOrdinary(_ text: String) -> [Int] { encoding(of: text, addSpecialTokens: false).ids }

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
  // Entry k's ids and tokens are ids[start[k]..<start[k + 1]], laid end to end.
  private var ids: [Int] = []
  private var tokens: [String] = []
  private var start: [Int] = [0]
  var scanner: WordScanner?

  init(_ preTokenizer: PreTokenizer?) { scanner = preTokenizer.flatMap(WordScanner.init) }

  /// Appends the tokens of the word with bytes `p[0..<n]`; on a miss the model sees `word(text)`.
  mutating func encode(
    _ p: UnsafePointer<UInt8>, _ n: Int, with model: any SubwordModel, into out: inout PipelineEncoding,
    _ word: (String) -> String
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
      return
    }
    let first = out.ids.count
    model.tokenize(word(String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)),
                   into: &out.ids, tokens: &out.tokens)
    if model.isDeterministic && start.count <= 1 << 16 {
      _ = table.findOrInsert(p, n)
      ids.append(contentsOf: out.ids[first...])
      tokens.append(contentsOf: out.tokens[first...])
      start.append(ids.count)
    }
  }
}
