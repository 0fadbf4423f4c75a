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
  /// boundary; a grapheme the tokens leave out (a character vocabulary that never saw it) is a
  /// segment with no ids. Otherwise (a normalizer changed the text, added template tokens) each
  /// token is a segment of its own text, the first as it decodes alone.
  public func segments(of text: String, ids: [Int]) -> [TokenSegment] {
    let input = Array(text.utf8)
    let pieces = ids.map { tokenBytes($0) ?? [] }
    var boundaries: [Int] = []  // where each grapheme ends
    var offset = 0
    for character in text {
      offset += character.utf8.count
      boundaries.append(offset)
    }
    var segments: [TokenSegment] = []
    var (start, end, next, pending) = (0, 0, 0, [Int]())
    var grapheme = 0  // the first grapheme not yet ended before `end`
    func segment(to end: Int) {
      segments.append(TokenSegment(text: String(decoding: input[start..<end], as: UTF8.self), ids: pending))
      (start, pending) = (end, [])
    }
    while end < input.count {
      while boundaries[grapheme] <= end { grapheme += 1 }
      if next < pieces.count, !pieces[next].isEmpty, input[end...].starts(with: pieces[next]) {
        end += pieces[next].count
        pending.append(ids[next])
        next += 1
        while grapheme < boundaries.count, boundaries[grapheme] < end { grapheme += 1 }
        if grapheme < boundaries.count, boundaries[grapheme] == end { segment(to: end) }
      } else if pending.isEmpty {
        end = boundaries[grapheme]  // a grapheme no token spells: left out
        segment(to: end)
      } else {
        break
      }
    }
    guard end == input.count, next == pieces.count else {
      // The first token as it decodes alone: `tokenBytes` is what a token adds after others
      // (a WordPiece word's joining space, which the text does not start with).
      var texts = pieces.map { String(decoding: $0, as: UTF8.self) }
      if let first = ids.first.flatMap({ try? decode([$0]) }), !first.isEmpty { texts[0] = first }
      return zip(ids, texts).map { TokenSegment(text: $1, ids: [$0]) }
    }
    return segments
  }
}
