import Foundation

/// The first stage of a pipeline (HF `normalizers`): rewrites the text before it is split.
public indirect enum Normalizer: Sendable, Equatable {
  case nfc, nfd, nfkc, nfkd
  /// Per-scalar lowercase, as Rust's `char::to_lowercase` (`ΣΑΣ` → `σασ`, no final sigma).
  case lowercase
  /// Removes Unicode whitespace at the start and/or the end.
  case strip(left: Bool, right: Bool)
  /// Replaces every match of `pattern` with `content`.
  case replace(pattern: TextPattern, content: String)
  /// Puts `prepend` in front of non-empty text.
  case prepend(String)
  /// Removes combining marks (general category Mn); usually after NFD.
  case stripAccents
  /// BERT's normalizer: clean control characters, pad CJK ideographs with spaces, strip
  /// accents (by default when lowercasing), lowercase.
  case bert(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool?, lowercase: Bool)
  case sequence([Normalizer])

  /// The normalized text.
  public func normalize(_ text: String) -> String {
    switch self {
    case .nfc: return composedFormIsItself(text) ? text : text.precomposedStringWithCanonicalMapping
    case .nfd: return text.utf8.allSatisfy { $0 < 0x80 } ? text : text.decomposedStringWithCanonicalMapping
    case .nfkc:
      // Foundation's NFKC leaves Hangul jamo from compatibility decompositions (ㄱㅏ) uncomposed;
      // the canonical composition after it finishes the job (가, as Unicode and HF have it).
      return composedFormIsItself(text) ? text
        : text.precomposedStringWithCompatibilityMapping.precomposedStringWithCanonicalMapping
    case .nfkd: return text.utf8.allSatisfy { $0 < 0x80 } ? text : text.decomposedStringWithCompatibilityMapping
    case .lowercase: return lowercased(text)
    case .strip(let left, let right):
      var scalars = Substring(text).unicodeScalars[...]
      if left { while let s = scalars.first, s.properties.isWhitespace { scalars.removeFirst() } }
      if right { while let s = scalars.last, s.properties.isWhitespace { scalars.removeLast() } }
      return String(String.UnicodeScalarView(scalars))
    case .replace(let pattern, let content):
      return pattern.replacing(in: text, with: content)
    case .prepend(let prefix): return text.isEmpty ? text : prefix + text
    case .stripAccents:
      var view = String.UnicodeScalarView()
      view.append(contentsOf: text.unicodeScalars.lazy.filter { $0.properties.generalCategory != .nonspacingMark })
      return String(view)
    case .bert(let clean, let chinese, let strip, let lower):
      var view = String.UnicodeScalarView()
      for s in text.unicodeScalars { appendBERTCleaned(s, clean: clean, chinese: chinese, to: &view) }
      var result = String(view)
      if strip ?? lower { result = Normalizer.sequence([.nfd, .stripAccents]).normalize(result) }
      return lower ? lowercased(result) : result
    case .sequence(let steps):
      return steps.reduce(text) { $1.normalize($0) }
    }
  }
}

/// Whether NFC and NFKC leave `text` as it is, known without normalizing: every scalar is ASCII,
/// Latin-1 below U+00A0, a Hangul syllable or a CJK unified ideograph (none of them decomposes,
/// and none composes with another of them).
@inline(__always)
func composedFormIsItself(_ text: String) -> Bool { text.unicodeScalars.allSatisfy(composedFormKeeps) }

/// A scalar NFC and NFKC leave as it is and that composes with nothing (see `composedFormIsItself`).
@inline(__always)
func composedFormKeeps(_ s: Unicode.Scalar) -> Bool {
  s.value < 0xA0 || (0xAC00...0xD7A3).contains(s.value) || (0x4E00...0x9FFF).contains(s.value)
}

/// Rust's `char::to_lowercase` applied to each scalar on its own.
func lowercased(_ text: String) -> String {
  if text.utf8.allSatisfy({ $0 < 0x80 }) { return text.lowercased() }
  var out = String.UnicodeScalarView()
  for s in text.unicodeScalars { appendLowercase(s, to: &out) }
  return String(out)
}

/// Scripts without case, known without looking the scalar's properties up (a lookup per
/// Hangul syllable was the lowercase step's main cost): Hangul syllables and jamo, CJK
/// ideographs, kana, bopomofo and CJK punctuation.
@inline(__always)
func hasNoCase(_ s: Unicode.Scalar) -> Bool {
  let v = s.value
  return (0xAC00...0xD7A3).contains(v) || (0x4E00...0x9FFF).contains(v) || (0x3000...0x318F).contains(v)
    || (0x1100...0x11FF).contains(v)
}

/// `s` lowercased as Rust's `char::to_lowercase` does (one scalar or more).
@inline(__always)
func appendLowercase<C: RangeReplaceableCollection>(_ s: Unicode.Scalar, to out: inout C) where C.Element == Unicode.Scalar {
  if s.value < 0x80 {
    out.append(s.value >= 0x41 && s.value <= 0x5A ? Unicode.Scalar(s.value + 32)! : s)
  } else if hasNoCase(s) || !s.properties.changesWhenLowercased {
    out.append(s)
  } else {
    out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
  }
}

/// BERT's cleaning of one scalar: NUL, U+FFFD and control characters dropped, whitespace a
/// space (`clean`); a CJK ideograph padded with spaces (`chinese`).
func appendBERTCleaned<C: RangeReplaceableCollection>(
  _ s: Unicode.Scalar, clean: Bool, chinese: Bool, to out: inout C
) where C.Element == Unicode.Scalar {
  if clean {
    if s.value == 0 || s.value == 0xFFFD || isControl(s) { return }
    if s.properties.isWhitespace {
      out.append(" ")
      return
    }
  }
  if chinese && isChineseCharacter(s) { out.append(contentsOf: [" ", s, " "]) } else { out.append(s) }
}

/// BERT's control characters: Cc/Cf/Cn/Co except tab, newline and carriage return.
func isControl(_ s: Unicode.Scalar) -> Bool {
  if s == "\t" || s == "\n" || s == "\r" { return false }
  switch s.properties.generalCategory {
  case .control, .format, .unassigned, .privateUse: return true
  default: return false
  }
}

/// The CJK Unified Ideograph blocks BERT pads with spaces.
func isChineseCharacter(_ s: Unicode.Scalar) -> Bool {
  switch s.value {
  case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
    0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
    return true
  default: return false
  }
}

// MARK: - tokenizer.json

extension Normalizer {
  init(json: JSONField) throws(TokenizerError) {
    switch try json.type {
    case "NFC": self = .nfc
    case "NFD": self = .nfd
    case "NFKC": self = .nfkc
    case "NFKD": self = .nfkd
    case "Lowercase": self = .lowercase
    case "StripAccents": self = .stripAccents
    case "Strip":
      self = .strip(left: try json.bool("strip_left", default: true), right: try json.bool("strip_right", default: true))
    case "Replace":
      self = .replace(pattern: try TextPattern(json: try json.at("pattern")), content: try json.at("content").string)
    case "Prepend": self = .prepend(try json.at("prepend").string)
    case "BertNormalizer":
      self = .bert(
        cleanText: try json.bool("clean_text", default: true),
        handleChineseChars: try json.bool("handle_chinese_chars", default: true),
        stripAccents: try json.optional("strip_accents")?.bool, lowercase: try json.bool("lowercase", default: true))
    case "Sequence": self = .sequence(try json.list("normalizers") { (item) throws(TokenizerError) in try Normalizer(json: item) })
    case let type:
      throw json.unknownType(type, known: [
        "NFC", "NFD", "NFKC", "NFKD", "Lowercase", "Strip", "StripAccents", "Replace", "Prepend", "BertNormalizer",
        "Sequence",
      ])
    }
  }

  var json: JSONValue {
    switch self {
    case .nfc: return .members(["type": "NFC"])
    case .nfd: return .members(["type": "NFD"])
    case .nfkc: return .members(["type": "NFKC"])
    case .nfkd: return .members(["type": "NFKD"])
    case .lowercase: return .members(["type": "Lowercase"])
    case .stripAccents: return .members(["type": "StripAccents"])
    case .strip(let left, let right):
      return .members(["type": "Strip", "strip_left": .bool(left), "strip_right": .bool(right)])
    case .replace(let pattern, let content):
      return .members(["type": "Replace", "pattern": pattern.json, "content": .string(content)])
    case .prepend(let prefix): return .members(["type": "Prepend", "prepend": .string(prefix)])
    case .bert(let clean, let chinese, let strip, let lower):
      return .members([
        "type": "BertNormalizer", "clean_text": .bool(clean), "handle_chinese_chars": .bool(chinese),
        "strip_accents": strip.map(JSONValue.bool) ?? .null, "lowercase": .bool(lower),
      ])
    case .sequence(let steps): return .members(["type": "Sequence", "normalizers": .array(steps.map(\.json))])
    }
  }
}

extension JSONValue: ExpressibleByStringLiteral {
  public init(stringLiteral value: String) { self = .string(value) }
}
