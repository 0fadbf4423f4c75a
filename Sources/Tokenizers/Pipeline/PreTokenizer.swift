/// A piece of text on its way through the pre-tokenizers. `atOrigin` is true when the piece
/// begins at the start of the input (Metaspace's `prepend_scheme: "first"` needs it).
public struct PreToken: Sendable, Equatable {
  public var text: String
  public var atOrigin: Bool
  /// When offsets are asked for: for each byte of `text`, the byte of the pre-tokenizer's
  /// input it came from (byte-level and Metaspace rewrite the text).
  var origins: [Int32]?

  public init(_ text: String, atOrigin: Bool = false) {
    self.text = text
    self.atOrigin = atOrigin
  }

  init(_ text: String, atOrigin: Bool, origins: [Int32]?) {
    self.text = text
    self.atOrigin = atOrigin
    self.origins = origins
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
  case byteLevel(ByteLevelOptions)
  /// Digits (Unicode N*): each on its own, or runs of them.
  case digits(individual: Bool)
  case split(pattern: TextPattern, behavior: SplitBehavior, invert: Bool)
  /// Spaces become `replacement` (▁), which is prepended (`always`, `first`, `never`) and split before.
  case metaspace(MetaspaceOptions)
  case charDelimiterSplit(Unicode.Scalar)
  /// BERT's: whitespace split, then each punctuation character on its own.
  case bert
  case sequence([PreTokenizer])

  /// The words of `text` (one normalized section of the input); with `origins`, each word
  /// knows which bytes of `text` its bytes came from.
  public func preTokenize(_ text: String, atOrigin: Bool = true) -> [PreToken] { preTokenize(text, atOrigin: atOrigin, origins: false) }

  func preTokenize(_ text: String, atOrigin: Bool, origins: Bool) -> [PreToken] {
    var pieces = [PreToken(text, atOrigin: atOrigin, origins: origins ? (0..<Int32(text.utf8.count)).map { $0 } : nil)]
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
      splitByScalar(piece, .removed, into: &out) { ScalarClass.of($0) & ScalarClass.whitespace != 0 }
    case .whitespace:
      splitWordRuns(piece, into: &out)
    case .punctuation(let behavior):
      splitByScalar(piece, behavior, into: &out, isPunctuation)
    case .digits(let individual):
      splitByScalar(piece, individual ? .isolated : .contiguous, into: &out) { ScalarClass.of($0) & ScalarClass.number != 0 }
    case .charDelimiterSplit(let delimiter):
      splitByScalar(piece, .removed, into: &out) { $0 == delimiter }
    case .bert:
      var pieces: [PreToken] = []
      splitByScalar(piece, .removed, into: &pieces) { ScalarClass.of($0) & ScalarClass.whitespace != 0 }
      for p in pieces { splitByScalar(p, .isolated, into: &out, isPunctuation) }
    case .split(let pattern, let behavior, let invert):
      let matches = pattern.byteMatches(in: piece.text)
      emit(piece, cut(piece.text.utf8.count, matches, invert: invert, behavior), into: &out)
    case .metaspace(let options):
      let replacement = options.replacement
      var p = piece
      p.replaceScalar(" ", with: replacement)
      if !p.text.isEmpty && p.text.unicodeScalars.first != replacement
        && (options.prependScheme == "always" || (options.prependScheme == "first" && piece.atOrigin)) {
        p.prepend(String(replacement))
      }
      if options.split {
        splitByScalar(p, .mergedWithNext, into: &out) { $0 == replacement }
      } else {
        out.append(p)
      }
    case .byteLevel(let options):
      var p = piece
      if options.addPrefixSpace && !p.text.isEmpty && p.text.utf8.first != 0x20 { p.prepend(" ") }
      let ranges = options.useRegex ? SplitPattern.gpt2.pieceRanges(of: p.text) : p.text.isEmpty ? [] : [0..<p.text.utf8.count]
      for (k, r) in ranges.enumerated() {
        let word = String(decoding: p.text.utf8.dropFirst(r.lowerBound).prefix(r.count), as: UTF8.self)
        let text = ByteLevel.encode(word)
        var origins: [Int32]?
        if let from = p.origins {
          origins = []
          for (b, i) in zip(word.utf8, r) { origins! += repeatElement(from[i], count: ByteLevel.characterWidths[Int(b)]) }
        }
        out.append(PreToken(text, atOrigin: piece.atOrigin && k == 0, origins: origins))
      }
    case .sequence:
      var pieces = [piece]
      apply(to: &pieces)
      out.append(contentsOf: pieces)
    }
  }
}

/// Finds word boundaries for pre-tokenizers that only cut the text (whitespace, punctuation,
/// digits; alone or in a sequence): the fast path of training and encoding, with no string
/// made per word and scratch buffers reused from call to call.
struct WordScanner {
  private var steps: [(mask: UInt8, behavior: SplitBehavior)] = []
  private var next: [Range<Int>] = []
  private var matches: [Range<Int>] = []
  private var parts: [(Range<Int>, Bool)] = []
  /// The words found by the last `scan`.
  private(set) var ranges: [Range<Int>] = []

  /// Nil when a step rewrites text (byte-level, metaspace) or needs a pattern.
  init?(_ preTokenizer: PreTokenizer) {
    func flatten(_ p: PreTokenizer) -> Bool {
      switch p {
      case .sequence(let inner): return inner.allSatisfy(flatten)
      case .bert: steps += [(ScalarClass.whitespace, .removed), (ScalarClass.punctuation, .isolated)]
      case .whitespaceSplit: steps.append((ScalarClass.whitespace, .removed))
      case .punctuation(let b): steps.append((ScalarClass.punctuation, b))
      case .digits(let individual): steps.append((ScalarClass.number, individual ? .isolated : .contiguous))
      default: return false
      }
      return true
    }
    guard flatten(preTokenizer) else { return nil }
  }

  /// Cuts `b` (valid UTF-8) into words; their byte ranges are in `ranges`.
  mutating func scan(_ b: UnsafeBufferPointer<UInt8>) {
    ranges.removeAll(keepingCapacity: true)
    guard let base = b.baseAddress, !b.isEmpty else { return }
    ranges.append(0..<b.count)
    let cursor = UTF8Cursor(base: base, bmp: ScalarClassTable.shared.bmp)
    for (mask, behavior) in steps {
      next.removeAll(keepingCapacity: true)
      for r in ranges {
        matches.removeAll(keepingCapacity: true)
        var i = r.lowerBound
        while i < r.upperBound {
          let (cls, n) = cursor.classify(at: i)
          if cls & mask != 0 { matches.append((i - r.lowerBound)..<(i - r.lowerBound + n)) }
          i += n
        }
        if matches.isEmpty {
          next.append(r)
        } else {
          cut(r.count, matches, behavior, offset: r.lowerBound, parts: &parts, into: &next)
        }
      }
      swap(&ranges, &next)
    }
  }
}

/// ASCII punctuation or a Unicode punctuation category (P*), as HF's `is_punc`.
func isPunctuation(_ s: Unicode.Scalar) -> Bool { ScalarClass.of(s) & ScalarClass.punctuation != 0 }

/// Cuts a piece of `count` bytes around the delimiter ranges `matches` (HF
/// `NormalizedString::split`); returns the byte ranges of the non-empty sub-pieces.
func cut(_ count: Int, _ matches: [Range<Int>], invert: Bool = false, _ behavior: SplitBehavior) -> [Range<Int>] {
  var parts: [(Range<Int>, Bool)] = []
  var result: [Range<Int>] = []
  cut(count, matches, invert: invert, behavior, offset: 0, parts: &parts, into: &result)
  return result
}

/// `cut` appending to `result`, with ranges moved by `offset` and `parts` as scratch space.
func cut(
  _ count: Int, _ matches: [Range<Int>], invert: Bool = false, _ behavior: SplitBehavior, offset: Int,
  parts: inout [(Range<Int>, Bool)], into result: inout [Range<Int>]
) {
  // The whole piece as alternating (range, is delimiter) parts.
  parts.removeAll(keepingCapacity: true)
  var last = 0
  for m in matches {
    if last < m.lowerBound { parts.append((last..<m.lowerBound, invert)) }
    parts.append((m, !invert))
    last = m.upperBound
  }
  if last < count { parts.append((last..<count, invert)) }

  let first = result.count
  switch behavior {
  case .removed:
    for (r, isDelimiter) in parts where !isDelimiter { result.append(r) }
  case .isolated:
    for (r, _) in parts { result.append(r) }
  case .mergedWithPrevious:
    var previous = false
    for (r, isDelimiter) in parts {
      if isDelimiter && !previous && result.count > first {
        result[result.count - 1] = result[result.count - 1].lowerBound..<r.upperBound
      } else {
        result.append(r)
      }
      previous = isDelimiter
    }
  case .mergedWithNext:
    var next = false
    for (r, isDelimiter) in parts.reversed() {
      if isDelimiter && !next && result.count > first {
        result[result.count - 1] = r.lowerBound..<result[result.count - 1].upperBound
      } else {
        result.append(r)
      }
      next = isDelimiter
    }
    result[first...].reverse()
  case .contiguous:
    var previous = false
    for (r, isDelimiter) in parts {
      if isDelimiter == previous && result.count > first {
        result[result.count - 1] = result[result.count - 1].lowerBound..<r.upperBound
      } else {
        result.append(r)
      }
      previous = isDelimiter
    }
  }
  // Drop empty ranges and apply the offset.
  var write = first
  for k in first..<result.count where !result[k].isEmpty {
    result[write] = (result[k].lowerBound + offset)..<(result[k].upperBound + offset)
    write += 1
  }
  result.removeLast(result.count - write)
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
                          atOrigin: piece.atOrigin && r.lowerBound == 0, origins: piece.origins.map { Array($0[r]) }))
    }
  }
}

/// Splits `piece` with every scalar for which `isDelimiter` holds as a delimiter.
private func splitByScalar(
  _ piece: PreToken, _ behavior: SplitBehavior, into out: inout [PreToken], _ isDelimiter: (Unicode.Scalar) -> Bool
) {
  var text = piece.text
  let (matches, count): ([Range<Int>], Int) = text.withUTF8 { b in
    var matches: [Range<Int>] = []
    var i = 0
    while i < b.count {
      let c = b[i]
      var n = 1
      let s: Unicode.Scalar
      if c < 0x80 {
        s = Unicode.Scalar(c)
      } else {
        let cursor = UTF8Cursor(base: b.baseAddress!, bmp: ScalarClassTable.shared.bmp)
        let (v, m) = cursor.scalar(at: i)
        s = Unicode.Scalar(v)!
        n = m
      }
      if isDelimiter(s) { matches.append(i..<(i + n)) }
      i += n
    }
    return (matches, b.count)
  }
  if matches.isEmpty {
    if count > 0 { out.append(piece) }
    return
  }
  emit(piece, cut(count, matches, behavior), into: &out)
}

/// `\w+|[^\w\s]+` as onig reads it: `\w` is alphabetic, a mark, a decimal digit or connector punctuation.
private func splitWordRuns(_ piece: PreToken, into out: inout [PreToken]) {
  func kind(_ s: Unicode.Scalar) -> Int {
    let c = ScalarClass.of(s)
    return c & ScalarClass.word != 0 ? 1 : c & ScalarClass.whitespace != 0 ? 0 : 2
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

extension PreToken {
  /// Every `scalar` replaced by `replacement`, whose bytes come from where the scalar's did.
  mutating func replaceScalar(_ scalar: Unicode.Scalar, with replacement: Unicode.Scalar) {
    // In valid UTF-8 a scalar's bytes never match inside another scalar.
    let target = Array(String(scalar).utf8)
    let bytes = Array(String(replacement).utf8)
    let old = Array(text.utf8)
    guard old.contains(target[0]) else { return }
    var out: [UInt8] = []
    out.reserveCapacity(old.count + 8)
    var newOrigins: [Int32] = []
    var i = 0
    while i < old.count {
      let matches = old[i] == target[0] && old[i...].starts(with: target)
      let run = matches ? target.count : 1
      if matches { out += bytes } else { out.append(old[i]) }
      if let from = origins { newOrigins += repeatElement(from[i], count: matches ? bytes.count : 1) }
      i += run
    }
    text = String(decoding: out, as: UTF8.self)
    if origins != nil { origins = newOrigins }
  }

  /// `prefix` in front, its bytes coming from where the first byte did (HF `prepend`).
  mutating func prepend(_ prefix: String) {
    if let from = origins, let first = from.first { origins = Array(repeatElement(first, count: prefix.utf8.count)) + from }
    text = prefix + text
  }
}

extension String {
  /// The string with every `scalar` replaced by `replacement`.
  func replacingScalar(_ scalar: Unicode.Scalar, with replacement: Unicode.Scalar) -> String {
    var token = PreToken(self, atOrigin: false, origins: nil)
    token.replaceScalar(scalar, with: replacement)
    return token.text
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
    switch try json.type {
    case "WhitespaceSplit": self = .whitespaceSplit
    case "Whitespace": self = .whitespace
    case "BertPreTokenizer": self = .bert
    case "Punctuation": self = .punctuation(try behavior("behavior", default: .isolated))
    case "ByteLevel": self = .byteLevel(try ByteLevelOptions(json: json))
    case "Digits": self = .digits(individual: try json.bool("individual_digits", default: false))
    case "Split":
      self = .split(
        pattern: try TextPattern(json: try json.at("pattern")), behavior: try behavior("behavior", default: .removed),
        invert: try json.bool("invert", default: false))
    case "Metaspace": self = .metaspace(try MetaspaceOptions(json: json))
    case "CharDelimiterSplit": self = .charDelimiterSplit(try json.scalar("delimiter", default: " "))
    case "Sequence": self = .sequence(try json.list("pretokenizers") { (item) throws(TokenizerError) in try PreTokenizer(json: item) })
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
    case .byteLevel(let options): return options.json
    case .digits(let individual): return .members(["type": "Digits", "individual_digits": .bool(individual)])
    case .split(let pattern, let behavior, let invert):
      return .members([
        "type": "Split", "pattern": pattern.json, "behavior": .string(behavior.rawValue), "invert": .bool(invert),
      ])
    case .metaspace(let options): return options.json
    case .charDelimiterSplit(let d): return .members(["type": "CharDelimiterSplit", "delimiter": .string(String(d))])
    case .sequence(let steps): return .members(["type": "Sequence", "pretokenizers": .array(steps.map(\.json))])
    }
  }
}

extension PreTokenizer {
  /// The 256 characters the byte-level pre-tokenizer writes bytes as (HF `ByteLevel.alphabet()`),
  /// the usual `initialAlphabet` of a byte-level BPE trainer.
  public static var byteLevelAlphabet: [Unicode.Scalar] { ByteLevel.alphabet }

  /// The options of GPT-2's byte-level split when it is the pre-tokenizer (alone or in a
  /// sequence) and splits with the regex — the case the fast paths handle.
  var byteLevelSplit: ByteLevelOptions? {
    switch self {
    case .byteLevel(let options) where options.useRegex: return options
    case .sequence(let steps) where steps.count == 1: return steps[0].byteLevelSplit
    default: return nil
    }
  }

  /// Whether a byte-level step is part of this pre-tokenizer.
  public var isByteLevel: Bool {
    switch self {
    case .byteLevel: return true
    case .sequence(let steps): return steps.contains(where: \.isByteLevel)
    default: return false
    }
  }
}
