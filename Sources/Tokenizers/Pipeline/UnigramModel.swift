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
  private let maxPieceLength: Int  // in scalars

  public init(pieces: [(String, Double)], unknownId: Int?, byteFallback: Bool = false) throws(TokenizerError) {
    var vocab = Vocabulary()
    for (k, (piece, _)) in pieces.enumerated() {
      guard vocab.id(piece) == nil else {
        throw .invalidJSON(field: "model.vocab[\(k)]", reason: "piece '\(piece)' appears twice")
      }
      vocab.add(piece)
    }
    if let unknownId, !(0..<pieces.count).contains(unknownId) {
      throw .invalidJSON(field: "model.unk_id", reason: "\(unknownId) is not a piece id")
    }
    self.vocab = vocab
    scores = pieces.map(\.1)
    self.unknownId = unknownId
    self.byteFallback = byteFallback
    minScore = scores.min() ?? 0
    maxPieceLength = pieces.map { $0.0.unicodeScalars.count }.max() ?? 1
  }

  public func tokenize(_ word: String, into ids: inout [Int], tokens: inout [String], spans: inout [Range<Int>]) {
    let scalars = Array(word.unicodeScalars)
    let n = scalars.count
    guard n > 0 else { return }
    // best[i]: best score of a segmentation of scalars[..<i], the start and id of its last piece.
    var best = [(score: Double, start: Int, id: Int)](repeating: (0, -1, -1), count: n + 1)
    let unknownScore = minScore - 10
    for start in 0..<n where start == 0 || best[start].start >= 0 {
      let base = best[start].score
      var hasSingle = false
      var view = String.UnicodeScalarView()
      for end in (start + 1)...min(n, start + maxPieceLength) {
        view.append(scalars[end - 1])
        guard let id = vocab.id(String(view)) else { continue }
        let score = base + scores[id]
        if best[end].start < 0 || score > best[end].score { best[end] = (score, start, id) }
        if end == start + 1 { hasSingle = true }
      }
      if !hasSingle, let unknownId {
        let score = base + unknownScore
        if best[start + 1].start < 0 || score > best[start + 1].score { best[start + 1] = (score, start, unknownId) }
      }
    }
    guard best[n].start >= 0 else { return }  // no unknown piece and an uncovered character
    // Walk back, fusing runs of unknowns into one piece.
    var byteStart = [0]  // of each scalar, and the end
    for s in scalars { byteStart.append(byteStart.last! + UTF8.width(s)) }
    var pieces: [(text: String, id: Int?, span: Range<Int>)] = []
    var end = n
    while end > 0 {
      let node = best[end]
      let text = String(String.UnicodeScalarView(scalars[node.start..<end]))
      if node.id == unknownId, let last = pieces.last, last.id == nil {
        pieces[pieces.count - 1].text = text + last.text
        pieces[pieces.count - 1].span = byteStart[node.start]..<last.span.upperBound
      } else {
        pieces.append((text, node.id == unknownId ? nil : node.id, byteStart[node.start]..<byteStart[end]))
      }
      end = node.start
    }
    for (text, id, span) in pieces.reversed() {
      if let id = id ?? vocab.id(text) {
        ids.append(id)
        tokens.append(text)
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
