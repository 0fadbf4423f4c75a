/// A piece of text on its way through the pre-tokenizers. `atOrigin` is true when the piece
/// begins at the start of the input (Metaspace's `prepend_scheme: "first"` needs it).
public struct PreToken: Sendable, Equatable {
  public var text: String
  public var atOrigin: Bool
  public init(_ text: String, atOrigin: Bool = false) {
    self.text = text
    self.atOrigin = atOrigin
  }
}

/// What happens to the delimiters a pre-tokenizer finds (HF `SplitDelimiterBehavior`).
public enum SplitBehavior: String, Sendable, CaseIterable {
  case removed = "Removed"
  case isolated = "Isolated"
  case mergedWithPrevious = "MergedWithPrevious"
  case mergedWithNext = "MergedWithNext"
  case contiguous = "Contiguous"
}

/// The second stage of a pipeline (HF `pre_tokenizers`): cuts normalized text into words;
/// the model never merges across a word boundary.
public indirect enum PreTokenizer: Sendable, Equatable {
  /// Split on Unicode whitespace, which is dropped.
  case whitespaceSplit
  /// `\w+|[^\w\s]+`: runs of word characters and runs of other non-space characters.
  case whitespace
  /// Punctuation (ASCII punctuation or Unicode P*), each character on its own by default.
  case punctuation(SplitBehavior)
  /// GPT-2's byte-level pre-tokenizer: optional leading space, GPT-2 split, bytes → chars.
  case byteLevel(addPrefixSpace: Bool, trimOffsets: Bool, useRegex: Bool)
  /// Digits (Unicode N*): each on its own, or runs of them.
  case digits(individual: Bool)
  case split(pattern: TextPattern, behavior: SplitBehavior, invert: Bool)
  /// Spaces become `replacement` (▁), which is prepended (`always`, `first`, `never`) and split before.
  case metaspace(replacement: Unicode.Scalar, prependScheme: String, split: Bool)
  case charDelimiterSplit(Unicode.Scalar)
  /// BERT's: whitespace split, then each punctuation character on its own.
  case bert
  case sequence([PreTokenizer])

  /// The words of `text` (one normalized section of the input).
  public func preTokenize(_ text: String, atOrigin: Bool = true) -> [PreToken] {
    var pieces = [PreToken(text, atOrigin: atOrigin)]
    apply(to: &pieces)
    return pieces
  }

  func apply(to pieces: inout [PreToken]) {
    if case .sequence(let steps) = self {
      for step in steps { step.apply(to: &pieces) }
      return
    }
    var out: [PreToken] = []
    out.reserveCapacity(pieces.count * 2)
    for piece in pieces { split(piece, into: &out) }
    pieces = out
  }

  private func split(_ piece: PreToken, into out: inout [PreToken]) {
    switch self {
    case .whitespaceSplit:
      splitByScalar(piece, .removed, into: &out) { $0.properties.isWhitespace }
    case .whitespace:
      splitWordRuns(piece, into: &out)
    case .punctuation(let behavior):
      splitByScalar(piece, behavior, into: &out, isPunctuation)
    case .digits(let individual):
      splitByScalar(piece, individual ? .isolated : .contiguous, into: &out) { $0.properties.numericType != nil }
    case .charDelimiterSplit(let delimiter):
      splitByScalar(piece, .removed, into: &out) { $0 == delimiter }
    case .bert:
      var pieces: [PreToken] = []
      splitByScalar(piece, .removed, into: &pieces) { $0.properties.isWhitespace }
      for p in pieces { splitByScalar(p, .isolated, into: &out, isPunctuation) }
    case .split(let pattern, let behavior, let invert):
      let matches = pattern.byteMatches(in: piece.text)
      emit(piece, cut(piece.text.utf8.count, matches, invert: invert, behavior), into: &out)
    case .metaspace(let replacement, let scheme, let split):
      var text = piece.text.replacingScalar(" ", with: replacement)
      let prepend = !text.isEmpty && (scheme == "always" || (scheme == "first" && piece.atOrigin))
      if prepend && text.unicodeScalars.first != replacement { text = String(replacement) + text }
      let p = PreToken(text, atOrigin: piece.atOrigin)
      if split {
        splitByScalar(p, .mergedWithNext, into: &out) { $0 == replacement }
      } else {
        out.append(p)
      }
    case .byteLevel(let addPrefixSpace, _, let useRegex):
      var text = piece.text
      if addPrefixSpace && !text.isEmpty && text.utf8.first != 0x20 { text = " " + text }
      if useRegex {
        for (k, word) in SplitPattern.gpt2.pieces(of: text).enumerated() {
          out.append(PreToken(ByteLevel.encode(word), atOrigin: piece.atOrigin && k == 0))
        }
      } else if !text.isEmpty {
        out.append(PreToken(ByteLevel.encode(text), atOrigin: piece.atOrigin))
      }
    case .sequence:
      var pieces = [piece]
      apply(to: &pieces)
      out.append(contentsOf: pieces)
    }
  }
}

/// ASCII punctuation or a Unicode punctuation category (P*), as HF's `is_punc`.
func isPunctuation(_ s: Unicode.Scalar) -> Bool {
  if s.value < 0x80 {
    let v = s.value
    return (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v)
      || (0x7B...0x7E).contains(v)
  }
  switch s.properties.generalCategory {
  case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
    .finalPunctuation, .otherPunctuation:
    return true
  default: return false
  }
}

/// Cuts a piece of `count` bytes around the delimiter ranges `matches` (HF
/// `NormalizedString::split`); returns the byte ranges of the non-empty sub-pieces.
func cut(_ count: Int, _ matches: [Range<Int>], invert: Bool = false, _ behavior: SplitBehavior) -> [Range<Int>] {
  // The whole piece as alternating (range, is delimiter) parts.
  var parts: [(Range<Int>, Bool)] = []
  parts.reserveCapacity(matches.count * 2 + 1)
  var last = 0
  for m in matches {
    if last < m.lowerBound { parts.append((last..<m.lowerBound, invert)) }
    parts.append((m, !invert))
    last = m.upperBound
  }
  if last < count { parts.append((last..<count, invert)) }

  var result: [Range<Int>] = []
  result.reserveCapacity(parts.count)
  switch behavior {
  case .removed:
    for (r, isDelimiter) in parts where !isDelimiter { result.append(r) }
  case .isolated:
    for (r, _) in parts { result.append(r) }
  case .mergedWithPrevious:
    var previous = false
    for (r, isDelimiter) in parts {
      if isDelimiter && !previous, let top = result.last {
        result[result.count - 1] = top.lowerBound..<r.upperBound
      } else {
        result.append(r)
      }
      previous = isDelimiter
    }
  case .mergedWithNext:
    var next = false
    for (r, isDelimiter) in parts.reversed() {
      if isDelimiter && !next, let top = result.last {
        result[result.count - 1] = r.lowerBound..<top.upperBound
      } else {
        result.append(r)
      }
      next = isDelimiter
    }
    result.reverse()
  case .contiguous:
    var previous = false
    for (r, isDelimiter) in parts {
      if isDelimiter == previous, let top = result.last {
        result[result.count - 1] = top.lowerBound..<r.upperBound
      } else {
        result.append(r)
      }
      previous = isDelimiter
    }
  }
  return result.filter { !$0.isEmpty }
}

/// Appends the sub-pieces `ranges` (byte ranges) of `piece`.
private func emit(_ piece: PreToken, _ ranges: [Range<Int>], into out: inout [PreToken]) {
  if ranges.count == 1, ranges[0].count == piece.text.utf8.count {
    out.append(piece)
    return
  }
  var text = piece.text
  text.withUTF8 { b in
    for r in ranges {
      out.append(PreToken(String(decoding: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self),
                          atOrigin: piece.atOrigin && r.lowerBound == 0))
    }
  }
}

/// Splits `piece` with every scalar for which `isDelimiter` holds as a delimiter.
private func splitByScalar(
  _ piece: PreToken, _ behavior: SplitBehavior, into out: inout [PreToken], _ isDelimiter: (Unicode.Scalar) -> Bool
) {
  var matches: [Range<Int>] = []
  var offset = 0
  for s in piece.text.unicodeScalars {
    let n = UTF8.width(s)
    if isDelimiter(s) { matches.append(offset..<(offset + n)) }
    offset += n
  }
  if matches.isEmpty {
    if offset > 0 { out.append(piece) }
    return
  }
  emit(piece, cut(offset, matches, behavior), into: &out)
}

/// `\w+|[^\w\s]+` as onig reads it: `\w` is alphabetic, a mark, a decimal digit or connector punctuation.
private func splitWordRuns(_ piece: PreToken, into out: inout [PreToken]) {
  func kind(_ s: Unicode.Scalar) -> Int {
    if s.properties.isWhitespace { return 0 }
    if s.properties.isAlphabetic { return 1 }
    switch s.properties.generalCategory {
    case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation:
      return 1
    default: return 2
    }
  }
  var runs: [Range<Int>] = []
  var offset = 0
  var current = 0
  var start = 0
  for s in piece.text.unicodeScalars {
    let k = kind(s)
    if k != current {
      if current != 0 { runs.append(start..<offset) }
      start = offset
      current = k
    }
    offset += UTF8.width(s)
  }
  if current != 0 { runs.append(start..<offset) }
  emit(piece, runs, into: &out)
}

extension String {
  /// The string with every `scalar` replaced by `replacement`.
  func replacingScalar(_ scalar: Unicode.Scalar, with replacement: Unicode.Scalar) -> String {
    guard unicodeScalars.contains(scalar) else { return self }
    var view = String.UnicodeScalarView()
    for s in unicodeScalars { view.append(s == scalar ? replacement : s) }
    return String(view)
  }
}

// MARK: - tokenizer.json

extension PreTokenizer {
  init(json: JSONField) throws(TokenizerError) {
    func behavior(_ key: String, default fallback: SplitBehavior) throws(TokenizerError) -> SplitBehavior {
      guard let field = try json.optional(key) else { return fallback }
      let name = try field.string
      guard let b = SplitBehavior(rawValue: name) ?? SplitBehavior.allCases.first(where: {
        $0.rawValue.lowercased() == name.replacingOccurrences(of: "_", with: "")
      }) else {
        throw field.error("unknown behavior '\(name)' (known: \(SplitBehavior.allCases.map(\.rawValue).joined(separator: ", ")))")
      }
      return b
    }
    func scalar(_ key: String, default fallback: Unicode.Scalar) throws(TokenizerError) -> Unicode.Scalar {
      guard let field = try json.optional(key) else { return fallback }
      let s = try field.string
      guard s.unicodeScalars.count == 1 else { throw field.error("expected a single character") }
      return s.unicodeScalars.first!
    }
    switch try json.type {
    case "WhitespaceSplit": self = .whitespaceSplit
    case "Whitespace": self = .whitespace
    case "BertPreTokenizer": self = .bert
    case "Punctuation": self = .punctuation(try behavior("behavior", default: .isolated))
    case "ByteLevel":
      self = .byteLevel(
        addPrefixSpace: try json.bool("add_prefix_space", default: true),
        trimOffsets: try json.bool("trim_offsets", default: true), useRegex: try json.bool("use_regex", default: true))
    case "Digits": self = .digits(individual: try json.bool("individual_digits", default: false))
    case "Split":
      self = .split(
        pattern: try TextPattern(json: try json.at("pattern")), behavior: try behavior("behavior", default: .removed),
        invert: try json.bool("invert", default: false))
    case "Metaspace":
      let scheme = try json.string("prepend_scheme", default: "always")
      guard ["always", "first", "never"].contains(scheme) else {
        throw try json.at("prepend_scheme").error("expected always, first or never")
      }
      self = .metaspace(replacement: try scalar("replacement", default: "▁"), prependScheme: scheme,
                        split: try json.bool("split", default: true))
    case "CharDelimiterSplit": self = .charDelimiterSplit(try scalar("delimiter", default: " "))
    case "Sequence":
      var steps: [PreTokenizer] = []
      for item in try json.at("pretokenizers").array { steps.append(try PreTokenizer(json: item)) }
      self = .sequence(steps)
    case let type:
      throw json.unknownType(type, known: [
        "WhitespaceSplit", "Whitespace", "Punctuation", "ByteLevel", "Digits", "Split", "Metaspace",
        "CharDelimiterSplit", "BertPreTokenizer", "Sequence",
      ])
    }
  }

  var json: JSONValue {
    switch self {
    case .whitespaceSplit: return .members(["type": "WhitespaceSplit"])
    case .whitespace: return .members(["type": "Whitespace"])
    case .bert: return .members(["type": "BertPreTokenizer"])
    case .punctuation(let b): return .members(["type": "Punctuation", "behavior": .string(b.rawValue)])
    case .byteLevel(let prefix, let trim, let regex):
      return .members([
        "type": "ByteLevel", "add_prefix_space": .bool(prefix), "trim_offsets": .bool(trim), "use_regex": .bool(regex),
      ])
    case .digits(let individual): return .members(["type": "Digits", "individual_digits": .bool(individual)])
    case .split(let pattern, let behavior, let invert):
      return .members([
        "type": "Split", "pattern": pattern.json, "behavior": .string(behavior.rawValue), "invert": .bool(invert),
      ])
    case .metaspace(let replacement, let scheme, let split):
      return .members([
        "type": "Metaspace", "replacement": .string(String(replacement)), "prepend_scheme": .string(scheme),
        "split": .bool(split),
      ])
    case .charDelimiterSplit(let d): return .members(["type": "CharDelimiterSplit", "delimiter": .string(String(d))])
    case .sequence(let steps): return .members(["type": "Sequence", "pretokenizers": .array(steps.map(\.json))])
    }
  }
}

extension PreTokenizer {
  /// The 256 characters the byte-level pre-tokenizer writes bytes as (HF `ByteLevel.alphabet()`),
  /// the usual `initialAlphabet` of a byte-level BPE trainer.
  public static var byteLevelAlphabet: [Unicode.Scalar] { ByteLevel.alphabet }
}
