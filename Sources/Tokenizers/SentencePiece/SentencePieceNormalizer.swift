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
    var text = text
    return text.withUTF8 { input in replacements.withUnsafeBufferPointer { normalize(input, replacements: $0) } }
  }

  private func normalize(_ input: UnsafeBufferPointer<UInt8>, replacements: UnsafeBufferPointer<UInt8>) -> [UInt8] {
    /// The bytes the text at `i` becomes, and how many input bytes that takes: a user-defined
    /// symbol as it is, else the longest rule's replacement, else one character.
    func prefix(at i: Int) -> (bytes: UnsafeBufferPointer<UInt8>, consumed: Int) {
      if let userDefined, let n = userDefined.longestMatch(input, at: i) { return (.init(rebasing: input[i..<(i + n)]), n) }
      if let (length, value) = longestRule(input, at: i) {
        var end = value
        while end < replacements.count && replacements[end] != 0 { end += 1 }
        return (.init(rebasing: replacements[value..<end]), length)
      }
      let n = min(utf8Length(input[i]), input.count - i)
      return (.init(rebasing: input[i..<(i + n)]), n)
    }
    var i = 0
    if removeExtraWhitespaces {
      while i < input.count {
        let p = prefix(at: i)
        guard p.bytes.count == 1 && p.bytes[0] == 0x20 else { break }
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
      let p = prefix(at: i)
      var bytes = p.bytes[...]
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

  /// The longest rule at `i` among the first 32 found (as SentencePiece keeps them), with its value.
  private func longestRule(_ input: UnsafeBufferPointer<UInt8>, at i: Int) -> (length: Int, value: Int)? {
    guard let trie else { return nil }
    var best: (Int, Int)?
    var found = 0
    trie.forEachPrefix(input, from: i) { length, value in
      best = (length, value)
      found += 1
      return found < 32
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
    input.withUnsafeBufferPointer { longestMatch($0, at: i) }
  }

  func longestMatch(_ input: UnsafeBufferPointer<UInt8>, at i: Int) -> Int? {
    for n in stride(from: min(longest, input.count - i), through: 1, by: -1) where table.find(input.baseAddress! + i, n) != nil {
      return n
    }
    return nil
  }
}
