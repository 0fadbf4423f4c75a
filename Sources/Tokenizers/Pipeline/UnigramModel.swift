/// SentencePiece's Unigram model (for loading and encoding): the segmentation of a word with
/// the highest total log-probability (Viterbi). A character no piece covers becomes the
/// unknown piece, scored `min score − 10`; runs of unknowns are fused; with `byteFallback`
/// an unknown run is spelled as `<0xXX>` byte pieces instead.
public struct UnigramModel: SubwordModel {
  public let vocab: Vocabulary
  /// Log-probability of each piece, by id.
  public let scores: [Double]
  public let unknownId: Int?
  public let byteFallback: Bool
  private let minScore: Double
  /// The pieces as a trie of their bytes, valued by id.
  private let trie: DoubleArray

  public init(pieces: [(String, Double)], unknownId: Int?, byteFallback: Bool = false) throws(TokenizerError) {
    var vocab = Vocabulary()
    for (k, (piece, _)) in pieces.enumerated() {
      guard !piece.isEmpty, vocab.id(piece) == nil else {
        throw .invalidJSON(field: "model.vocab[\(k)]", reason: "piece '\(piece)' is empty or appears twice")
      }
      vocab.add(piece)
    }
    if let unknownId, !(0..<pieces.count).contains(unknownId) {
      throw .invalidJSON(field: "model.unk_id", reason: "\(unknownId) is not a piece id")
    }
    self.vocab = vocab
    trie = try DoubleArray(pieces.enumerated().map { (Array($0.element.0.utf8), UInt32($0.offset)) })
    scores = pieces.map(\.1)
    self.unknownId = unknownId
    self.byteFallback = byteFallback
    minScore = scores.min() ?? 0
  }

  /// HF's `encode_optimized` over the word's UTF-8: for each character start, every piece
  /// that starts there (walking the trie); the best total score wins, the first found among equals.
  public func tokenize(_ word: String, into ids: inout [Int], tokens: inout [String], spans: inout [Range<Int>]) {
    var word = word
    word.withUTF8 { b in
      let n = b.count
      guard n > 0 else { return }
      // best[i]: the best score of b[..<i], the start and id of its last piece (on the stack, not
      // an array per word).
      withUnsafeTemporaryAllocation(of: (score: Double, start: Int, id: Int).self, capacity: n + 1) { best in
        best.initialize(repeating: (0, -1, -1))
        let unknownScore = minScore - 10
        var start = 0
        while start < n {
          let width = min(utf8Length(b[start]), n - start)
          if start == 0 || best[start].start >= 0 {
            let base = best[start].score
            var hasSingle = false
            trie.forEachPrefix(b, from: start) { length, id in
              let score = base + scores[id]
              if best[start + length].start < 0 || score > best[start + length].score { best[start + length] = (score, start, id) }
              if length == width { hasSingle = true }
              return true
            }
            if !hasSingle, let unknownId {
              let score = base + unknownScore
              if best[start + width].start < 0 || score > best[start + width].score { best[start + width] = (score, start, unknownId) }
            }
          }
          start += width
        }
        guard best[n].start >= 0 else { return }  // no unknown piece and an uncovered character
        // Walk back, fusing runs of unknowns into one piece.
        var pieces: [(span: Range<Int>, id: Int?)] = []
        var end = n
        while end > 0 {
          let node = best[end]
          if node.id == unknownId, let last = pieces.last, last.id == nil {
            pieces[pieces.count - 1].span = node.start..<last.span.upperBound
          } else {
            pieces.append((node.start..<end, node.id == unknownId ? nil : node.id))
          }
          end = node.start
        }
        for (span, id) in pieces.reversed() {
          let text = String(decoding: UnsafeBufferPointer(rebasing: b[span]), as: UTF8.self)
          if let id {
            ids.append(id)
            tokens.append(vocab.tokens[id]!)
            spans.append(span)
          } else if byteFallback, let bytes = byteIds(text) {
            ids.append(contentsOf: bytes)
            for b in bytes {
              tokens.append(vocab.tokens[b]!)
              spans.append(span)
            }
          } else if let unknownId {
            ids.append(unknownId)
            tokens.append(text)
            spans.append(span)
          }
        }
      }
    }
  }

  private func byteIds(_ text: String) -> [Int]? {
    var result: [Int] = []
    for b in text.utf8 {
      guard let id = vocab.id(byteFallbackToken(b)) else { return nil }
      result.append(id)
    }
    return result
  }

  init(json: JSONField) throws(TokenizerError) {
    var pieces: [(String, Double)] = []
    for item in try json.at("vocab").array {
      let pair = try item.array
      guard pair.count == 2 else { throw item.error("expected [piece, score]") }
      pieces.append((try pair[0].string, try pair[1].double))
    }
    try self.init(pieces: pieces, unknownId: try json.optional("unk_id")?.int,
                  byteFallback: try json.bool("byte_fallback", default: false))
  }

  public var json: JSONValue {
    .members([
      "type": "Unigram", "unk_id": unknownId.map(JSONValue.int) ?? .null,
      "vocab": .array(scores.indices.map { .array([.string(vocab.tokens[$0]!), .double(scores[$0])]) }),
      "byte_fallback": .bool(byteFallback),
    ])
  }
}
