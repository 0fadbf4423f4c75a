/// A token added on top of the model's vocabulary (HF `AddedToken`): matched in the raw
/// input before anything else runs, never split or merged.
public struct AddedToken: Sendable, Equatable {
  public var id: Int
  public var content: String
  /// Only matches as a whole word (not inside a run of word characters).
  public var singleWord: Bool
  /// Also takes the whitespace on its left / right.
  public var leftStrip: Bool
  public var rightStrip: Bool
  /// Matched in the normalized text rather than the raw input.
  public var normalized: Bool
  /// Skipped by `decode(skipSpecialTokens: true)`.
  public var special: Bool

  public init(id: Int, content: String, singleWord: Bool = false, leftStrip: Bool = false, rightStrip: Bool = false,
              normalized: Bool? = nil, special: Bool = true) {
    self.id = id
    self.content = content
    self.singleWord = singleWord
    self.leftStrip = leftStrip
    self.rightStrip = rightStrip
    self.normalized = normalized ?? !special
    self.special = special
  }

  init(json: JSONField) throws(TokenizerError) {
    let content = try json.at("content").string
    guard !content.isEmpty else { throw try json.at("content").error("an added token cannot be empty") }
    self.init(
      id: try json.at("id").int, content: content, singleWord: try json.bool("single_word", default: false),
      leftStrip: try json.bool("lstrip", default: false), rightStrip: try json.bool("rstrip", default: false),
      normalized: try json.optional("normalized")?.bool, special: try json.bool("special", default: false))
  }

  var json: JSONValue {
    .members([
      "id": .int(id), "content": .string(content), "single_word": .bool(singleWord), "lstrip": .bool(leftStrip),
      "rstrip": .bool(rightStrip), "normalized": .bool(normalized), "special": .bool(special),
    ])
  }
}

/// Finds added tokens in text: leftmost match first, the longest token at a position.
struct AddedTokenMatcher: Sendable {
  private let tokens: [(bytes: [UInt8], token: AddedToken)]
  /// Whether some token starts with each byte value.
  private let starts: [Bool]

  init(_ tokens: [AddedToken]) {
    self.tokens = tokens.map { (Array($0.content.utf8), $0) }.sorted { $0.bytes.count > $1.bytes.count }
    var starts = [Bool](repeating: false, count: 256)
    for (bytes, _) in self.tokens { starts[Int(bytes[0])] = true }
    self.starts = starts
  }

  var isEmpty: Bool { tokens.isEmpty }

  /// Cuts `text` into plain sections and added tokens, in order, with their byte ranges (a
  /// token's range takes in the whitespace it strips).
  func split(_ text: String) -> [(text: String, range: Range<Int>, token: AddedToken?)] {
    guard !tokens.isEmpty, text.utf8.contains(where: { starts[Int($0)] }) else { return [(text, 0..<text.utf8.count, nil)] }
    let b = Array(text.utf8)
    var parts: [(String, Range<Int>, AddedToken?)] = []
    var plainStart = 0
    var i = 0
    func isWordByte(_ k: Int) -> Bool {
      // A word character next to the match (ASCII alphanumerics, `_`, or any non-ASCII letter byte).
      guard k >= 0 && k < b.count else { return false }
      let c = b[k]
      return c >= 0x80 || (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7A) || c == 0x5F
    }
    while i < b.count {
      var found: AddedToken?
      var length = 0
      for (bytes, token) in tokens where i + bytes.count <= b.count && b[i] == bytes[0] {
        if b[i..<(i + bytes.count)].elementsEqual(bytes) {
          if token.singleWord && (isWordByte(i - 1) || isWordByte(i + bytes.count)) { continue }
          found = token
          length = bytes.count
          break
        }
      }
      guard let token = found else {
        i += 1
        continue
      }
      var start = i
      var end = i + length
      if token.leftStrip { while start > plainStart, isSpace(b[start - 1]) { start -= 1 } }
      if token.rightStrip { while end < b.count, isSpace(b[end]) { end += 1 } }
      if plainStart < start { parts.append((String(decoding: b[plainStart..<start], as: UTF8.self), plainStart..<start, nil)) }
      parts.append((token.content, start..<end, token))
      plainStart = end
      i = end
    }
    if plainStart < b.count { parts.append((String(decoding: b[plainStart...], as: UTF8.self), plainStart..<b.count, nil)) }
    return parts
  }

  private func isSpace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }
}
