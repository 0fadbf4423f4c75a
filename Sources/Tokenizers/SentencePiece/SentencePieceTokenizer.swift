import FileSupport
import Foundation
import SwiftProtobuf

/// A SentencePiece model (a `.model` file, the protobuf `ModelProto`): Unigram or BPE, with
/// its normalizer, user-defined and control symbols and byte fallback. It encodes and decodes
/// exactly as the `sentencepiece` library does, and writes `.model` files that library loads.
public struct SentencePieceTokenizer: Tokenizer {
  public enum Kind: Sendable { case unigram, bpe }

  /// What a piece is (SentencePiece's `ModelProto.SentencePiece.Type`).
  public enum PieceType: Int, Sendable {
    case normal = 1, unknown, control, userDefined, unused, byte
  }

  public struct Piece: Sendable, Equatable {
    public var text: String
    /// Log probability (Unigram) or merge priority (BPE).
    public var score: Float
    public var type: PieceType
    public init(_ text: String, score: Float, type: PieceType = .normal) {
      self.text = text
      self.score = score
      self.type = type
    }
  }

  public let kind: Kind
  public let pieces: [Piece]
  /// Unknown characters become their UTF-8 bytes as `<0xXX>` pieces instead of the unknown piece.
  public let byteFallback: Bool
  public let unknownId: Int
  let normalizer: SentencePieceNormalizer
  private let denormalizer: SentencePieceNormalizer?
  /// The file as read (or built), so that writing it keeps every field.
  private let proto: Sentencepiece_ModelProto
  /// Normal, user-defined and unused pieces (the model's vocabulary) by their bytes.
  private let vocabulary: ByteStringTable
  private let vocabularyIds: [Int]
  /// The same pieces as a trie (Unigram's Viterbi walks it from each position).
  private let trie: DoubleArray
  /// Control, unknown and byte pieces, looked up first (SentencePiece's reserved ids).
  private let reserved: [ExactString: Int]
  private let longestPiece: Int
  private let minScore: Float
  /// Each piece's score and what the Unigram search does with it, by id (the search's hot data).
  private let unigramPieces: [(score: Float, kind: UnigramKind)]
  private enum UnigramKind: UInt8 { case normal, userDefined, unused }
  private let unknownSurface: String
  /// The id of each byte's `<0xXX>` piece, when byte fallback is on.
  private let byteIds: [Int]

  /// Reads a `.model` file.
  public init(file path: String) throws(TokenizerError) {
    let data = try fileAccess(TokenizerError.file) { () throws(FileError) in try readFile(path) }
    do {
      try self.init(proto: try Sentencepiece_ModelProto(serializedBytes: data))
    } catch let error as TokenizerError {
      throw .file(.malformed(path: path, line: 0, reason: error.description))
    } catch {
      throw .file(.malformed(path: path, line: 0, reason: "not a SentencePiece model (\(error))"))
    }
  }

  init(proto: Sentencepiece_ModelProto) throws(TokenizerError) {
    let spec = proto.trainerSpec
    switch spec.modelType {
    case .unigram: kind = .unigram
    case .bpe: kind = .bpe
    case .word, .char:
      throw .invalidJSON(field: "trainer_spec.model_type", reason: "\(spec.modelType) models are not supported (Unigram and BPE are)")
    }
    self.proto = proto
    byteFallback = spec.byteFallback
    unknownSurface = spec.unkSurface
    var pieces: [Piece] = []
    var reserved: [ExactString: Int] = [:]
    var unknown: Int?
    var userDefined: [String] = []
    var byteIds = [Int](repeating: -1, count: 256)
    var vocabulary = ByteStringTable(capacity: 1024)
    var vocabularyIds: [Int] = []
    for (id, p) in proto.pieces.enumerated() {
      guard let type = PieceType(rawValue: p.type.rawValue) else {
        throw .invalidJSON(field: "pieces[\(id)].type", reason: "unknown piece type \(p.type.rawValue)")
      }
      guard !p.piece.isEmpty else { throw .invalidJSON(field: "pieces[\(id)]", reason: "a piece cannot be empty") }
      pieces.append(Piece(p.piece, score: p.score, type: type))
      switch type {
      case .normal, .userDefined, .unused:
        var bytes = Array(p.piece.utf8)
        let (index, inserted) = bytes.withUnsafeMutableBufferPointer { vocabulary.findOrInsert($0.baseAddress!, $0.count) }
        guard inserted else { throw .invalidJSON(field: "pieces[\(id)]", reason: "\(p.piece.debugDescription) appears twice") }
        precondition(index == vocabularyIds.count)
        vocabularyIds.append(id)
        if type == .userDefined { userDefined.append(p.piece) }
      case .unknown, .control, .byte:
        guard reserved.updateValue(id, forKey: ExactString(p.piece)) == nil else {
          throw .invalidJSON(field: "pieces[\(id)]", reason: "\(p.piece.debugDescription) appears twice")
        }
        if type == .unknown { unknown = id }
        if type == .byte {
          guard spec.byteFallback, let b = pieceByte(p.piece) else {
            throw .invalidJSON(field: "pieces[\(id)]", reason: "byte piece \(p.piece.debugDescription) in a model without byte fallback")
          }
          byteIds[Int(b)] = id
        }
      }
    }
    guard let unknown else { throw .invalidJSON(field: "pieces", reason: "the model has no unknown piece") }
    if spec.byteFallback, let missing = byteIds.firstIndex(of: -1) {
      throw .invalidJSON(field: "pieces", reason: "byte fallback without the piece \(byteFallbackToken(UInt8(missing)))")
    }
    self.pieces = pieces
    self.vocabulary = vocabulary
    self.vocabularyIds = vocabularyIds
    trie = try DoubleArray(vocabularyIds.map { (Array(proto.pieces[$0].piece.utf8), UInt32($0)) }
      .sorted { $0.0.lexicographicallyPrecedes($1.0) })
    // A text is one piece, reserved or not (the library says "already defined").
    for (key, id) in reserved {
      var bytes = Array(key.string.utf8)
      if bytes.withUnsafeMutableBufferPointer({ vocabulary.find($0.baseAddress!, $0.count) }) != nil {
        throw .invalidJSON(field: "pieces[\(id)]", reason: "\(key.string.debugDescription) appears twice")
      }
    }
    self.reserved = reserved
    self.byteIds = byteIds
    unknownId = unknown
    longestPiece = proto.pieces.map { $0.piece.utf8.count }.max() ?? 1
    minScore = pieces.filter { $0.type == .normal }.map(\.score).min() ?? .greatestFiniteMagnitude
    unigramPieces = pieces.map { ($0.score, $0.type == .userDefined ? .userDefined : $0.type == .unused ? .unused : .normal) }
    func normalizer(_ n: Sentencepiece_NormalizerSpec) throws(TokenizerError) -> SentencePieceNormalizer {
      try SentencePieceNormalizer(
        charsMap: Array(n.precompiledCharsmap), addDummyPrefix: n.addDummyPrefix,
        removeExtraWhitespaces: n.removeExtraWhitespaces, escapeWhitespaces: n.escapeWhitespaces,
        treatWhitespaceAsSuffix: spec.treatWhitespaceAsSuffix)
    }
    var main = try normalizer(proto.normalizerSpec)
    main.userDefined = PieceMatcher(userDefined)
    self.normalizer = main
    denormalizer = proto.hasDenormalizerSpec && !proto.denormalizerSpec.precompiledCharsmap.isEmpty
      ? try normalizer(proto.denormalizerSpec) : nil
  }

  // MARK: Encoding

  /// The id of a piece (SentencePiece's `PieceToId`: reserved pieces first, unknown if none).
  public func id(of piece: String) -> Int {
    if let id = reserved[ExactString(piece)] { return id }
    var bytes = Array(piece.utf8)
    return bytes.withUnsafeMutableBufferPointer { b in
      b.isEmpty ? nil : vocabulary.find(b.baseAddress!, b.count).map { vocabularyIds[$0] }
    } ?? unknownId
  }

  /// The pieces of `text` with their ids, as `SentencePieceProcessor.encode(out_type=str)`.
  public func encodePieces(_ text: String) -> [(piece: String, id: Int)] {
    var out: [(String, Int)] = []
    forEachPiece(text) { piece, id, continuesUnknown in
      if continuesUnknown { out[out.count - 1].0 += piece() } else { out.append((piece(), id)) }
    }
    return out
  }

  /// The ids of `encodePieces`, without making each piece's string.
  private func encodeIds(_ text: String) -> [Int] {
    var out: [Int] = []
    forEachPiece(text) { _, id, continuesUnknown in if !continuesUnknown { out.append(id) } }
    return out
  }

  /// Calls `body` with each piece of `text`'s segmentation: its text (made only when asked),
  /// its id, and whether it continues a run of unknown pieces (which makes one piece). With byte
  /// fallback an unknown piece comes as its bytes' `<0xXX>` pieces instead.
  private func forEachPiece(_ text: String, _ body: (() -> String, Int, Bool) -> Void) {
    let normalized = normalizer.normalize(text)
    guard !normalized.isEmpty else { return }
    var previousUnknown = false
    for (range, id) in kind == .unigram ? viterbi(normalized) : mergePairs(normalized) {
      let bytes = normalized[range]
      let isUnknown = pieces[id].type == .unknown
      if isUnknown && byteFallback {
        for b in bytes { body({ self.pieces[self.byteIds[Int(b)]].text }, byteIds[Int(b)], false) }
      } else {
        body({ String(decoding: bytes, as: UTF8.self) }, id, isUnknown && previousUnknown)
      }
      previousUnknown = isUnknown
    }
  }

  public func encode(_ text: String) throws -> [Int] { encodeIds(text) }

  public func encodeOrdinary(_ text: String) throws -> [Int] { encodeIds(text) }

  /// The id of the vocabulary piece `normalized[range]`, if any.
  private func vocabularyId(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
    vocabulary.find(b.baseAddress! + range.lowerBound, range.count).map { vocabularyIds[$0] }
  }

  /// SentencePiece's Unigram `EncodeOptimized` as the 0.2.3 library runs it: the best-scoring
  /// segmentation over UTF-8 positions; a character no piece starts with is an unknown piece
  /// scored `min score − 10`; a user-defined piece of `length` bytes scores `(length − 1) × 0.1`
  /// (so it wins). The sums are the library's `float`s, and they stay small the same way: when
  /// the best score at the current position leaves ±10⁵, every score reached so far is rebased
  /// on it. Matching this type for type keeps near ties breaking as the library breaks them.
  private func viterbi(_ normalized: [UInt8]) -> [(Range<Int>, Int)] {
    /// The best path ending at a position: its score, where its last piece starts (−1: none yet), that piece.
    struct Node { var score: Float = 0, start: Int32 = -1, id: Int32 = -1 }
    let n = normalized.count
    var nodes = [Node](repeating: Node(), count: n + 1)
    let unknownScore = minScore - 10
    nodes.withUnsafeMutableBufferPointer { best in
      normalized.withUnsafeBufferPointer { b in
        /// The furthest position any piece has reached (the rebase covers up to it).
        var reached = 0
        var start = 0
        while start < n {
          var base = best[start].score
          if base < -1e5 || base > 1e5 {
            for p in start...max(start, reached) where p == start || best[p].start != -1 { best[p].score -= base }
            base = 0
          }
          let width = min(utf8Length(b[start]), n - start)
          var hasSingle = false
          trie.forEachPrefix(b, from: start) { length, id in
            let piece = unigramPieces[id]
            guard piece.kind != .unused else { return true }
            let end = start + length
            reached = max(reached, end)
            let candidate = (piece.kind == .userDefined ? Float(Double(length - 1) * 0.1) : piece.score) + base
            if best[end].start == -1 || candidate > best[end].score { best[end] = Node(score: candidate, start: Int32(start), id: Int32(id)) }
            if length == width { hasSingle = true }
            return true
          }
          if !hasSingle {
            let end = start + width
            reached = max(reached, end)
            let candidate = unknownScore + base
            if best[end].start == -1 || candidate > best[end].score { best[end] = Node(score: candidate, start: Int32(start), id: Int32(unknownId)) }
          }
          start += width
        }
      }
    }
    var out: [(Range<Int>, Int)] = []
    var end = n
    while end > 0 {
      let node = nodes[end]
      out.append((Int(node.start)..<end, Int(node.id)))
      end = Int(node.start)
    }
    return out.reversed()
  }

  /// SentencePiece's BPE: characters (user-defined pieces whole and frozen), then the
  /// adjacent pair whose join is the best-scoring piece is merged, leftmost first, until none
  /// is a piece. A symbol that is no piece is unknown. As the library: a max-heap of candidate
  /// pairs over a linked list of symbols (a popped pair whose sides have changed is stale), so
  /// a long text costs O(n log n); an unused piece is merged through and split back into the
  /// two symbols its text was last made of.
  private func mergePairs(_ normalized: [UInt8]) -> [(Range<Int>, Int)] {
    var symbols: [BPESymbol] = []
    var i = 0
    while i < normalized.count {
      let m = normalizer.userDefined?.longestMatch(normalized, at: i)
      let w = m ?? min(utf8Length(normalized[i]), normalized.count - i)
      let k = Int32(symbols.count)
      symbols.append(BPESymbol(start: Int32(i), length: Int32(w), previous: k - 1, next: k + 1, frozen: m != nil))
      i += w
    }
    guard !symbols.isEmpty else { return [] }
    symbols[symbols.count - 1].next = -1
    /// An unused piece's text → the length of the left symbol it was joined from.
    var unusedSplits: [ArraySlice<UInt8>: Int] = [:]
    var agenda = Heap<SymbolPair>()
    normalized.withUnsafeBufferPointer { b in
      /// Queues the join of `left` and `right` if it is a piece.
      func consider(_ symbols: inout [BPESymbol], _ left: Int32, _ right: Int32) {
        guard left >= 0, right >= 0 else { return }
        let (l, r) = (symbols[Int(left)], symbols[Int(right)])
        guard !l.frozen, !r.frozen else { return }
        let range = Int(l.start)..<Int(l.start + l.length + r.length)
        guard let id = vocabularyId(b, range) else { return }
        agenda.push(SymbolPair(score: pieces[id].score, left: left, right: right, size: l.length + r.length))
        if pieces[id].type == .unused { unusedSplits[normalized[range]] = Int(l.length) }
      }
      for k in 1..<Int32(symbols.count) { consider(&symbols, k - 1, k) }
      while let top = agenda.pop() {
        let (l, r) = (Int(top.left), Int(top.right))
        guard symbols[l].length > 0, symbols[r].length > 0, symbols[l].length + symbols[r].length == top.size else { continue }
        symbols[l].length = top.size
        symbols[r].length = 0
        let after = symbols[r].next
        symbols[l].next = after
        if after >= 0 { symbols[Int(after)].previous = top.left }
        consider(&symbols, symbols[l].previous, top.left)
        consider(&symbols, top.left, after)
      }
    }
    var out: [(Range<Int>, Int)] = []
    func resegment(_ range: Range<Int>) {
      // `id(of:)` of the symbol's text, without making the string when it is a vocabulary piece
      // (no reserved piece has a vocabulary piece's text).
      let id = normalized.withUnsafeBufferPointer { vocabularyId($0, range) } ?? id(of: String(decoding: normalized[range], as: UTF8.self))
      if pieces[id].type == .unused, let left = unusedSplits[normalized[range]] {
        resegment(range.lowerBound..<(range.lowerBound + left))
        resegment((range.lowerBound + left)..<range.upperBound)
      } else {
        out.append((range, id))
      }
    }
    var k = 0
    while k >= 0 {
      let s = symbols[k]
      resegment(Int(s.start)..<Int(s.start + s.length))
      k = Int(s.next)
    }
    return out
  }

  // MARK: Decoding

  /// Decodes as `SentencePieceProcessor.decode`: `▁` is a space (the first one dropped when the
  /// model adds or removes spaces), control pieces are invisible, the unknown piece is
  /// ` ⁇ `, byte pieces are joined into UTF-8 (a byte that is no character is U+FFFD).
  public func decode(_ ids: [Int]) throws -> String {
    var text: [UInt8] = []
    var bytes: [UInt8] = []
    var expectLeadingSpace = true
    var leadingSpaceSeen = false
    let dropsLeadingSpace = proto.normalizerSpec.addDummyPrefix || proto.normalizerSpec.removeExtraWhitespaces
    func flushBytes() {
      var k = 0
      while k < bytes.count {
        let width = validUTF8Length(bytes, at: k)
        if width == 0 {
          text += Array("\u{FFFD}".utf8)
          k += 1
        } else {
          text += bytes[k..<(k + width)]
          k += width
        }
      }
      bytes.removeAll()
    }
    for id in ids {
      guard id >= 0 && id < pieces.count else { throw TokenizerError.invalidTokenID(id) }
      let piece = pieces[id]
      if piece.type == .byte {
        bytes.append(pieceByte(piece.text)!)
        continue
      }
      flushBytes()
      if leadingSpaceSeen || !text.isEmpty { expectLeadingSpace = false }
      leadingSpaceSeen = false
      switch piece.type {
      case .control: continue
      case .unknown: text += Array(unknownSurface.utf8)
      default:
        var surface = Array(piece.text.utf8)[...]
        if expectLeadingSpace && dropsLeadingSpace && surface.starts(with: SentencePieceNormalizer.space) {
          surface = surface.dropFirst(SentencePieceNormalizer.space.count)
          leadingSpaceSeen = !proto.normalizerSpec.removeExtraWhitespaces
        }
        text += replacingSpaceSymbol(surface)
      }
    }
    flushBytes()
    let decoded = String(decoding: text, as: UTF8.self)
    guard let denormalizer else { return decoded }
    return String(decoding: denormalizer.normalize(decoded), as: UTF8.self)
  }

  private func replacingSpaceSymbol(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var k = bytes.startIndex
    while k < bytes.endIndex {
      if bytes[k...].starts(with: SentencePieceNormalizer.space) {
        out.append(0x20)
        k += 3
      } else {
        out.append(bytes[k])
        k += 1
      }
    }
    return out
  }

  // MARK: Tokenizer

  public var vocabSize: Int { pieces.count }

  public func tokenBytes(_ id: Int) -> [UInt8]? {
    guard id >= 0 && id < pieces.count else { return nil }
    let piece = pieces[id]
    switch piece.type {
    case .byte: return [pieceByte(piece.text)!]
    case .control: return []
    case .unknown: return Array(unknownSurface.utf8)
    default: return replacingSpaceSymbol(Array(piece.text.utf8)[...])
    }
  }

  /// The control pieces (`<s>`, `</s>`, …), which text never encodes to.
  public var specialTokens: SpecialTokens {
    (try? SpecialTokens(Dictionary(pieces.enumerated().filter { $0.element.type == .control }.map { ($0.element.text, $0.offset) }) { a, _ in a }))
      ?? SpecialTokens()
  }

  // MARK: Writing

  /// The model as `.model` bytes (every field read is kept).
  public var serialized: [UInt8] { (try? proto.serializedBytes()) ?? [] }

  /// Writes the `.model` file atomically.
  public func save(to path: String) throws(TokenizerError) {
    let bytes = serialized
    try fileAccess(TokenizerError.file) { () throws(FileError) in try writeAtomically(Data(bytes), to: path) }
  }
}

/// The byte of a `<0xXX>` piece.
func pieceByte(_ piece: String) -> UInt8? {
  let b = Array(piece.utf8)
  guard b.count == 6, b[0] == UInt8(ascii: "<"), b[1] == UInt8(ascii: "0"), b[2] == UInt8(ascii: "x"), b[5] == UInt8(ascii: ">")
  else { return nil }
  return UInt8(String(decoding: b[3..<5], as: UTF8.self), radix: 16)
}

/// The length of the valid UTF-8 character at `k`, or 0 if it is not one.
func validUTF8Length(_ bytes: [UInt8], at k: Int) -> Int {
  let lead = bytes[k]
  if lead < 0x80 { return 1 }
  let n = lead >= 0xC2 && lead < 0xE0 ? 2 : lead >= 0xE0 && lead < 0xF0 ? 3 : lead >= 0xF0 && lead < 0xF5 ? 4 : 0
  guard n > 0, k + n <= bytes.count else { return 0 }
  let scalar = String(decoding: bytes[k..<(k + n)], as: UTF8.self).unicodeScalars
  return scalar.count == 1 && scalar.first != "\u{FFFD}" ? n : 0
}

/// A symbol of SentencePiece's BPE: its bytes (`length` 0 once merged into its left
/// neighbour), its neighbours in the list (−1 at the ends), and whether it is a user-defined
/// piece (never merged).
private struct BPESymbol {
  var start: Int32
  var length: Int32
  var previous: Int32
  var next: Int32
  var frozen: Bool
}

/// A candidate merge of SentencePiece's BPE, in the library's `SymbolPairComparator` order:
/// the higher score first, then the leftmost pair.
private struct SymbolPair: HeapElement {
  var score: Float
  var left: Int32
  var right: Int32
  var size: Int32
  func precedes(_ other: Self) -> Bool { score > other.score || (score == other.score && left < other.left) }
}
