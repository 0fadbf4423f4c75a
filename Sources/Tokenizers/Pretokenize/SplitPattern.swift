import Foundation

/// How text is cut into pieces before byte-pair merging (merges never cross a piece boundary).
///
/// The two tiktoken patterns run on hand-written scanners (exact, and 10–100× faster than a
/// regex engine); any other pattern runs on Swift `Regex` with Unicode-scalar semantics, which
/// is exact for the regex syntax it supports but slow.
public enum SplitPattern: Sendable, Equatable, CustomStringConvertible {
  /// No pre-split: the whole text is one piece (minbpe's `BasicTokenizer`).
  case none
  /// The GPT-2 / `r50k_base` pattern.
  case gpt2
  /// The GPT-4 / `cl100k_base` pattern.
  case cl100k
  /// Any other regular expression; pieces are its matches, text between matches is dropped.
  case regex(String)

  /// tiktoken's GPT-2 (`r50k_base`) split pattern.
  public static let gpt2Pattern =
    #"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"#
  /// tiktoken's `cl100k_base` split pattern.
  public static let cl100kPattern =
    #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"#

  /// Parses the pattern line of a saved model or a CLI name: `gpt2`, `gpt4` / `cl100k`, `none`,
  /// an empty string (no split), or a regular expression.
  public init(parsing text: String) throws(TokenizerError) {
    switch text {
    case "", "none": self = .none
    case "gpt2", "r50k", SplitPattern.gpt2Pattern: self = .gpt2
    case "gpt4", "cl100k", "cl100k_base", SplitPattern.cl100kPattern: self = .cl100k
    default:
      do {
        _ = try Regex(text)
      } catch {
        throw TokenizerError.invalidPattern(text, String(describing: error))
      }
      self = .regex(text)
    }
  }

  /// The pattern as a regular expression (empty for `.none`), as written in `.model` files.
  public var source: String {
    switch self {
    case .none: return ""
    case .gpt2: return SplitPattern.gpt2Pattern
    case .cl100k: return SplitPattern.cl100kPattern
    case .regex(let pattern): return pattern
    }
  }

  public var description: String {
    switch self {
    case .none: return "none"
    case .gpt2: return "gpt2"
    case .cl100k: return "gpt4"
    case .regex(let pattern): return pattern
    }
  }

  /// Calls `body(start, end)` for every piece of `buffer[start..<end]`, in order.
  ///
  /// `buffer` must hold valid UTF-8 and `start`/`end` must be scalar boundaries. `$` in the
  /// patterns means `end`, so callers that cut text at special tokens get tiktoken's behaviour.
  public func forEachPiece(
    in buffer: UnsafeBufferPointer<UInt8>, from start: Int = 0, to end: Int? = nil,
    _ body: (Int, Int) throws -> Void
  ) rethrows {
    let end = end ?? buffer.count
    guard start < end, let base = buffer.baseAddress else { return }
    let cursor = UTF8Cursor(base: base, bmp: ScalarClassTable.shared.bmp)
    var i = start
    switch self {
    case .none:
      try body(start, end)
    case .gpt2:
      while i < end {
        let j = GPT2Split.pieceEnd(cursor, i, end)
        try body(i, j)
        i = j
      }
    case .cl100k:
      while i < end {
        let j = CL100kSplit.pieceEnd(cursor, i, end)
        try body(i, j)
        i = j
      }
    case .regex(let pattern):
      for (s, e) in regexPieces(pattern, UnsafeBufferPointer(rebasing: buffer[start..<end])) {
        try body(start + s, start + e)
      }
    }
  }

  /// The byte ranges of the pieces of `text`.
  func pieceRanges(of text: String) -> [Range<Int>] {
    var text = text
    return text.withUTF8 { buffer in
      var result: [Range<Int>] = []
      forEachPiece(in: buffer) { s, e in result.append(s..<e) }
      return result
    }
  }

  /// The pieces of `text` as strings (for display and tests).
  public func pieces(of text: String) -> [String] {
    let bytes = Array(text.utf8)
    return pieceRanges(of: text).map { String(decoding: bytes[$0], as: UTF8.self) }
  }
}

/// Byte ranges of the matches of `pattern` in `buffer` (Swift `Regex`, Unicode-scalar semantics).
/// With `onig`, `\d` and `\w` mean what they mean in Oniguruma (HF `tokenizers`): `\p{Nd}` and
/// `[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}]` (Swift's `\d` also takes `③`, its `\w` misses digits after Hangul).
func regexPieces(_ pattern: String, _ buffer: UnsafeBufferPointer<UInt8>, onig: Bool = false) -> [(Int, Int)] {
  guard let regex = CompiledPatterns.shared.regex(for: onig ? onigClasses(pattern) : pattern) else { return [] }
  let text = String(decoding: buffer, as: UTF8.self)
  let utf8 = text.utf8
  return text.matches(of: regex).map { match in
    (
      utf8.distance(from: utf8.startIndex, to: match.range.lowerBound),
      utf8.distance(from: utf8.startIndex, to: match.range.upperBound)
    )
  }
}

/// `pattern` with Oniguruma's `\d \D \w \W` written as explicit Unicode classes.
func onigClasses(_ pattern: String) -> String {
  let word = #"\p{Alphabetic}\p{M}\p{Nd}\p{Pc}"#
  var out = ""
  var inClass = false
  var chars = pattern.makeIterator()
  while let c = chars.next() {
    if c == "\\", let e = chars.next() {
      switch (e, inClass) {
      case ("d", _): out += #"\p{Nd}"#
      case ("D", false): out += #"\P{Nd}"#
      case ("w", true): out += word
      case ("w", false): out += "[" + word + "]"
      case ("W", false): out += "[^" + word + "]"
      default: out += "\\" + String(e)
      }
      continue
    }
    if c == "[" && !inClass { inClass = true } else if c == "]" && inClass { inClass = false }
    out.append(c)
  }
  return out
}

/// Compiled `Regex`es by pattern text, so that encoding many texts compiles a pattern once.
final class CompiledPatterns: @unchecked Sendable {
  static let shared = CompiledPatterns()

  private let lock = NSLock()
  private var cache: [String: Regex<AnyRegexOutput>] = [:]

  /// The compiled pattern; nil if it does not compile (`SplitPattern(parsing:)` rejects those).
  func regex(for pattern: String) -> Regex<AnyRegexOutput>? {
    lock.lock()
    defer { lock.unlock() }
    if let regex = cache[pattern] { return regex }
    guard let regex = try? Regex(pattern).matchingSemantics(.unicodeScalar) else { return nil }
    cache[pattern] = regex
    return regex
  }
}
