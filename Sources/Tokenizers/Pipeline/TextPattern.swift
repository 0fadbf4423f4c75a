/// What a `Split` pre-tokenizer or a `Replace` normalizer / decoder looks for: a literal
/// string (`{"String": ...}` in tokenizer.json) or a regular expression (`{"Regex": ...}`).
public enum TextPattern: Sendable, Equatable {
  case string(String)
  case regex(String)

  /// Byte ranges of the non-overlapping, non-empty matches in `text`, left to right.
  func byteMatches(in text: String) -> [Range<Int>] {
    switch self {
    case .string(let needle):
      let n = Array(needle.utf8)
      guard !n.isEmpty else { return [] }
      var text = text
      return text.withUTF8 { b in
        var result: [Range<Int>] = []
        var i = 0
        while i + n.count <= b.count {
          if b[i] == n[0], n.withUnsafeBufferPointer({ memoryEqual($0.baseAddress!, b.baseAddress! + i, n.count) }) {
            result.append(i..<(i + n.count))
            i += n.count
          } else {
            i += 1
          }
        }
        return result
      }
    case .regex(let pattern):
      var text = text
      return text.withUTF8 { b in regexPieces(pattern, b, onig: true).filter { $0.0 < $0.1 }.map { $0.0..<$0.1 } }
    }
  }

  /// `text` with every match replaced by `content`.
  func replacing(in text: String, with content: String) -> String {
    let matches = byteMatches(in: text)
    guard !matches.isEmpty else { return text }
    let bytes = Array(text.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var last = 0
    for m in matches {
      out += bytes[last..<m.lowerBound]
      out += content.utf8
      last = m.upperBound
    }
    out += bytes[last...]
    return String(decoding: out, as: UTF8.self)
  }

  init(json: JSONField) throws(TokenizerError) {
    if let s = try json.optional("String") {
      self = .string(try s.string)
    } else if let r = try json.optional("Regex") {
      let pattern = try r.string
      guard CompiledPatterns.shared.regex(for: onigClasses(pattern)) != nil else {
        throw r.error("the regular expression does not compile")
      }
      self = .regex(pattern)
    } else {
      throw json.error("expected {\"String\": ...} or {\"Regex\": ...}")
    }
  }

  var json: JSONValue {
    switch self {
    case .string(let s): return .members(["String": .string(s)])
    case .regex(let r): return .members(["Regex": .string(r)])
    }
  }
}
