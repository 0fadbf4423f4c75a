/// Tokens grouped so that each group covers whole user-perceived characters (graphemes) of the
/// text, as tiktokenizer shows them: a Hangul syllable or an emoji that byte-level BPE splits
/// into two or three tokens is one segment holding all their ids, never broken bytes.
public struct TokenSegment: Sendable, Equatable {
  public var text: String
  public var ids: [Int]

  public init(text: String, ids: [Int]) {
    self.text = text
    self.ids = ids
  }
}

extension Tokenizer {
  /// The segments of `ids`, the tokens of `text`. When the tokens' bytes spell the text (byte-
  /// level tokenizers), a segment ends at the first token boundary that is also a grapheme
  /// boundary. Otherwise (a normalizer changed the text, added template tokens) each token is
  /// a segment of its own text.
  public func segments(of text: String, ids: [Int]) -> [TokenSegment] {
    let input = Array(text.utf8)
    let pieces = ids.map { tokenBytes($0) ?? [] }
    guard pieces.reduce(0, { $0 + $1.count }) == input.count, Array(pieces.joined()) == input else {
      return zip(ids, pieces).map { TokenSegment(text: String(decoding: $1, as: UTF8.self), ids: [$0]) }
    }
    var boundaries = Set<Int>()
    var offset = 0
    for character in text {
      offset += character.utf8.count
      boundaries.insert(offset)
    }
    var segments: [TokenSegment] = []
    var (start, end, pending) = (0, 0, [Int]())
    for (id, piece) in zip(ids, pieces) {
      end += piece.count
      pending.append(id)
      if boundaries.contains(end) {
        segments.append(TokenSegment(text: String(decoding: input[start..<end], as: UTF8.self), ids: pending))
        (start, pending) = (end, [])
      }
    }
    if !pending.isEmpty { segments.append(TokenSegment(text: String(decoding: input[start...], as: UTF8.self), ids: pending)) }
    return segments
  }
}
