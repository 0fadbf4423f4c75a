/// SentencePiece's normalizer: the rewrite rules of a `.model` file (`precompiled_charsmap`, a
/// darts-clone double-array trie over UTF-8 prefixes and the strings they become), then
/// whitespace handling: leading, trailing and repeated spaces removed, a space added in front
/// (`add_dummy_prefix`), spaces written as `▁` (`escape_whitespaces`).
struct SentencePieceNormalizer: Sendable {
  /// The rules' trie and the `\0`-separated replacement strings (nil: no rules, identity).
  private let trie: DoubleArray?
  private let replacements: [UInt8]
  let addDummyPrefix: Bool
  let removeExtraWhitespaces: Bool
  let escapeWhitespaces: Bool
  let treatWhitespaceAsSuffix: Bool
  /// Text that is copied unchanged (user-defined symbols), longest first.
  var userDefined: PieceMatcher?

  static let space: [UInt8] = Array("▁".utf8)

  init(
    charsMap: [UInt8], addDummyPrefix: Bool, removeExtraWhitespaces: Bool, escapeWhitespaces: Bool,
    treatWhitespaceAsSuffix: Bool
  ) throws(TokenizerError) {
    self.addDummyPrefix = addDummyPrefix
    self.removeExtraWhitespaces = removeExtraWhitespaces
    self.escapeWhitespaces = escapeWhitespaces
    self.treatWhitespaceAsSuffix = treatWhitespaceAsSuffix
    guard !charsMap.isEmpty else {
      trie = nil
      replacements = []
      return
    }
    // <trie size: UInt32 LE><trie units: UInt32 LE ...><replacement strings>
    guard charsMap.count > 4 else { throw Self.broken("it is shorter than its header") }
    let size = Int(charsMap[0]) | Int(charsMap[1]) << 8 | Int(charsMap[2]) << 16 | Int(charsMap[3]) << 24
    guard size % 4 == 0, size > 0, 4 + size < charsMap.count else { throw Self.broken("its trie size \(size) does not fit") }
    trie = DoubleArray(units: stride(from: 4, to: 4 + size, by: 4).map { i in
      UInt32(charsMap[i]) | UInt32(charsMap[i + 1]) << 8 | UInt32(charsMap[i + 2]) << 16 | UInt32(charsMap[i + 3]) << 24
    })
    replacements = Array(charsMap[(4 + size)...])
  }

  private static func broken(_ reason: String) -> TokenizerError {
    .invalidJSON(field: "normalizer_spec.precompiled_charsmap", reason: "the normalization rules are broken: \(reason)")
  }

  /// The normalized text (SentencePiece `Normalizer::Normalize`).
  func normalize(_ text: String) -> [UInt8] {
    let input = Array(text.utf8)
    var i = 0
    if removeExtraWhitespaces {
      while i < input.count {
        let p = prefix(input, at: i)
        guard p.bytes(input, replacements).elementsEqual(" ".utf8) else { break }
        i += p.consumed
      }
    }
    guard i < input.count else { return [] }
    var out: [UInt8] = []
    out.reserveCapacity(input.count * 3)
    let space = escapeWhitespaces ? Self.space : [0x20]
    if !treatWhitespaceAsSuffix && addDummyPrefix { out += space }
    var previousIsSpace = removeExtraWhitespaces
    while i < input.count {
      let p = prefix(input, at: i)
      var bytes = p.bytes(input, replacements)
      while previousIsSpace, bytes.first == 0x20 { bytes = bytes.dropFirst() }
      if !bytes.isEmpty {
        for b in bytes { if b == 0x20 && escapeWhitespaces { out += Self.space } else { out.append(b) } }
        previousIsSpace = bytes.last == 0x20
      }
      i += p.consumed
      if !removeExtraWhitespaces { previousIsSpace = false }
    }
    if removeExtraWhitespaces {
      while out.count >= space.count && out.suffix(space.count).elementsEqual(space) { out.removeLast(space.count) }
    }
    if treatWhitespaceAsSuffix && addDummyPrefix { out += space }
    return out
  }

  /// What the text at `i` becomes: `range` of the input (kept) or of the replacements, and how
  /// many input bytes that takes.
  private struct Prefix {
    var range: Range<Int>
    var replaced: Bool
    var consumed: Int

    func bytes(_ input: [UInt8], _ replacements: [UInt8]) -> ArraySlice<UInt8> {
      replaced ? replacements[range] : input[range]
    }
  }

  /// A user-defined symbol as it is, else the longest rule, else one character.
  private func prefix(_ input: [UInt8], at i: Int) -> Prefix {
    if let userDefined, let n = userDefined.longestMatch(input, at: i) { return Prefix(range: i..<(i + n), replaced: false, consumed: n) }
    if let (length, value) = longestRule(input, at: i) {
      var end = value
      while end < replacements.count && replacements[end] != 0 { end += 1 }
      return Prefix(range: value..<end, replaced: true, consumed: length)
    }
    let n = min(utf8Length(input[i]), input.count - i)
    return Prefix(range: i..<(i + n), replaced: false, consumed: n)
  }

  /// The longest rule at `i` among the first 32 found (as SentencePiece keeps them), with its value.
  private func longestRule(_ input: [UInt8], at i: Int) -> (length: Int, value: Int)? {
    guard let trie else { return nil }
    var best: (Int, Int)?
    var found = 0
    input.withUnsafeBufferPointer { b in
      trie.forEachPrefix(b, from: i) { length, value in
        best = (length, value)
        found += 1
        return found < 32
      }
    }
    return best
  }
}

/// The length of the UTF-8 sequence a lead byte starts (1 for a stray byte).
@inline(__always)
func utf8Length(_ lead: UInt8) -> Int {
  lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
}

/// Finds the longest of a set of byte strings at a position (SentencePiece's `PrefixMatcher`).
struct PieceMatcher: Sendable {
  private var table = ByteStringTable(capacity: 16)
  private var longest = 0

  init?(_ pieces: [String]) {
    guard !pieces.isEmpty else { return nil }
    for piece in pieces {
      var bytes = Array(piece.utf8)
      _ = bytes.withUnsafeMutableBufferPointer { table.findOrInsert($0.baseAddress!, $0.count) }
      longest = max(longest, bytes.count)
    }
  }

  func longestMatch(_ input: [UInt8], at i: Int) -> Int? {
    input.withUnsafeBufferPointer { b in
      for n in stride(from: min(longest, b.count - i), through: 1, by: -1) where table.find(b.baseAddress! + i, n) != nil {
        return n
      }
      return nil
    }
  }
}
