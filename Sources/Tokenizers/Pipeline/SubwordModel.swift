/// The third stage of a pipeline (HF `models`): turns one word into token ids.
public protocol SubwordModel: Sendable {
  /// Appends the ids of `word` to `ids`, their token strings to `tokens` (an unknown piece's
  /// string is the unknown token, or for Unigram the text it stands for, as in HF) and the
  /// range of the word's UTF-8 bytes each stands for to `spans` (HF's token offsets, with
  /// its quirks: a character BPE drops moves the later spans back).
  func tokenize(_ word: String, into ids: inout [Int], tokens: inout [String], spans: inout [Range<Int>])
  /// The vocabulary (token ↔ id).
  var vocab: Vocabulary { get }
  /// The model as tokenizer.json writes it.
  var json: JSONValue { get }
  /// Whether a word always gets the same tokens (so they may be cached); false for BPE with
  /// dropout.
  var isDeterministic: Bool { get }
}

extension SubwordModel {
  public var isDeterministic: Bool { true }
}

/// A string compared and hashed by its UTF-8 bytes. Swift's `String` equality is canonical
/// equivalence (`"é" == "e\u{301}"`), but tokens that differ in bytes are different tokens.
public struct ExactString: Hashable, Sendable {
  public let string: String
  public init(_ string: String) { self.string = string }

  public static func == (a: ExactString, b: ExactString) -> Bool {
    let (x, y) = (a.string.utf8, b.string.utf8)
    guard x.count == y.count else { return false }
    return x.withContiguousStorageIfAvailable { p in
      y.withContiguousStorageIfAvailable { q in memoryEqual(p.baseAddress!, q.baseAddress!, p.count) }
    }.flatMap { $0 } ?? x.elementsEqual(y)
  }

  public func hash(into hasher: inout Hasher) {
    if string.utf8.withContiguousStorageIfAvailable({ hasher.combine(bytes: UnsafeRawBufferPointer($0)) }) == nil {
      for b in string.utf8 { hasher.combine(b) }
    }
  }
}

/// A token ↔ id table (tokens compared by bytes); ids need not be dense.
public struct Vocabulary: Sendable, Equatable {
  /// Token of each id (nil where no token has the id).
  public private(set) var tokens: [String?] = []
  private var table: [ExactString: Int] = [:]

  public static func == (a: Vocabulary, b: Vocabulary) -> Bool { a.table == b.table }

  /// The id of `token` (byte-exact), or nil.
  public func id(_ token: String) -> Int? { table[ExactString(token)] }

  public init() {}

  /// Reads a `{"token": id, ...}` object. Two tokens with one id, and an id far beyond the
  /// number of tokens (it would size a model's embedding), are errors.
  init(json: JSONField) throws(TokenizerError) {
    let members = try json.members
    for (token, field) in members {
      let id = try field.int
      guard id >= 0 && id < Self.idLimit(members.count) else {
        throw field.error("id \(id) is out of range for a vocabulary of \(members.count) tokens")
      }
      guard table[ExactString(token)] == nil else { throw field.error("token appears twice") }
      if let other = self.token(id) { throw field.error("id \(id) is also the id of \(other.debugDescription)") }
      add(token, id: id)
    }
  }

  /// The ids a vocabulary of `count` tokens may use: a few holes are allowed, not an id that
  /// would make a model's vocabulary many times the tokenizer's.
  static func idLimit(_ count: Int) -> Int { min(1 << 24, 2 * count + 1024) }

  /// Adds `token` with the next free id (or `id`), returning its id.
  @discardableResult
  public mutating func add(_ token: String, id: Int? = nil) -> Int {
    if let existing = table[ExactString(token)] { return existing }
    let id = id ?? tokens.count
    if id >= tokens.count { tokens.append(contentsOf: repeatElement(nil, count: id + 1 - tokens.count)) }
    tokens[id] = token
    table[ExactString(token)] = id
    return id
  }

  public var count: Int { table.count }

  /// Every (token, id) pair, in no particular order.
  public var entries: [(token: String, id: Int)] { table.map { ($0.key.string, $0.value) } }

  /// One more than the largest id.
  public var size: Int { tokens.count }

  public func token(_ id: Int) -> String? { id >= 0 && id < tokens.count ? tokens[id] : nil }

  /// `{"token": id, ...}` in id order.
  public var json: JSONValue {
    .object(tokens.enumerated().compactMap { id, token in token.map { JSONMember($0, .int(id)) } })
  }
}

/// Parses the `model` member of a tokenizer.json.
func subwordModel(json: JSONField) throws(TokenizerError) -> any SubwordModel {
  // HF writes `type`; very old files omit it, and the vocabulary's shape says which model it is.
  let hasMerges = try json.optional("merges") != nil
  let type = try json.optional("type")?.string ?? (hasMerges ? "BPE" : "WordPiece")
  switch type {
  case "BPE": return try PipelineBPE(json: json)
  case "WordPiece": return try WordPieceModel(json: json)
  case "Unigram": return try UnigramModel(json: json)
  default: throw json.unknownType(type, known: ["BPE", "WordPiece", "Unigram"])
  }
}

/// `<0xAB>`, the byte-fallback token of a byte.
func byteFallbackToken(_ b: UInt8) -> String {
  let hex = Array("0123456789ABCDEF".utf8)
  return String(decoding: [UInt8(ascii: "<"), UInt8(ascii: "0"), UInt8(ascii: "x"), hex[Int(b >> 4)], hex[Int(b & 15)],
                           UInt8(ascii: ">")], as: UTF8.self)
}

extension String {
  /// Byte-wise prefix test (`hasPrefix` compares characters: `"##\u{301}"` does not start with `"##"`).
  func startsWithBytes(_ prefix: String) -> Bool { utf8.starts(with: prefix.utf8) }

  func endsWithBytes(_ suffix: String) -> Bool { utf8.count >= suffix.utf8.count && utf8.reversed().starts(with: suffix.utf8.reversed()) }

  /// The string without its first `prefix.utf8.count` bytes and last `suffix` bytes.
  func trimmingBytes(prefix: Int, suffix: Int = 0) -> String {
    String(decoding: utf8.dropFirst(prefix).dropLast(suffix), as: UTF8.self)
  }
}
