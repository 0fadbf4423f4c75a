import FileSupport
import Foundation

/// The character-level tokenizer of nanoGPT's `shakespeare_char` and the classic Korean char
/// model: one token per Unicode scalar seen in the corpus, ids in code-point order
/// (`sorted(set(text))`).
public struct CharTokenizer: Tokenizer {
  /// id → character.
  public let characters: [Unicode.Scalar]
  /// The id that characters outside the vocabulary map to; nil makes them an error.
  public let unknownID: Int?
  private let ids: [UInt32: Int]

  /// The character that stands for unknown characters when the unknown token is enabled.
  public static let unknownCharacter: Unicode.Scalar = "\u{FFFD}"

  /// Builds the vocabulary from `corpus`. With `unknownToken`, U+FFFD joins the vocabulary
  /// and unknown characters encode to it instead of being an error.
  public init(corpus: String, unknownToken: Bool = false) throws(TokenizerError) {
    try self.init(alphabet: Set(corpus.unicodeScalars), unknownToken: unknownToken)
  }

  /// A tokenizer for exactly the characters of `alphabet` (plus U+FFFD with `unknownToken`).
  public init(alphabet: Set<Unicode.Scalar>, unknownToken: Bool = false) throws(TokenizerError) {
    var seen = alphabet
    guard !seen.isEmpty else { throw .emptyCorpus }
    if unknownToken { seen.insert(CharTokenizer.unknownCharacter) }
    self.init(sorted: seen.sorted { $0.value < $1.value }, unknownToken: unknownToken)
  }

  private init(sorted characters: [Unicode.Scalar], unknownToken: Bool) {
    self.characters = characters
    var ids: [UInt32: Int] = [:]
    for (id, c) in characters.enumerated() { ids[c.value] = id }
    self.ids = ids
    self.unknownID = unknownToken ? ids[CharTokenizer.unknownCharacter.value] : nil
  }

  public var vocabSize: Int { characters.count }
  public var specialTokens: SpecialTokens { SpecialTokens() }

  public func encode(_ text: String) throws -> [Int] {
    var out: [Int] = []
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
      if let id = ids[scalar.value] ?? unknownID {
        out.append(id)
      } else {
        throw TokenizerError.unknownCharacter(scalar)
      }
    }
    return out
  }

  /// The same as `encode`: a character vocabulary has no special tokens.
  public func encodeOrdinary(_ text: String) throws -> [Int] { try encode(text) }

  /// Encodes `text`, leaving out characters outside the vocabulary; returns how many were left out.
  public func encodeKnown(_ text: String) -> (ids: [Int], dropped: Int) {
    var out: [Int] = []
    out.reserveCapacity(text.utf8.count)
    var dropped = 0
    for scalar in text.unicodeScalars {
      if let id = ids[scalar.value] ?? unknownID { out.append(id) } else { dropped += 1 }
    }
    return (out, dropped)
  }

  public func decode(_ ids: [Int]) throws -> String {
    var scalars = String.UnicodeScalarView()
    for id in ids {
      guard characters.indices.contains(id) else { throw TokenizerError.invalidTokenID(id) }
      scalars.append(characters[id])
    }
    return String(scalars)
  }

  public func tokenBytes(_ id: Int) -> [UInt8]? {
    characters.indices.contains(id) ? Array(String(characters[id]).utf8) : nil
  }

  private struct File: Codable {
    var type: String
    var vocab: [String]
    var unknown: String?
  }

  /// Writes the vocabulary as JSON: `{"type": "char", "vocab": [...], "unknown": "\uFFFD" | null}`.
  public func save(to path: String) throws(TokenizerError) {
    let file = File(
      type: "char", vocab: characters.map { String($0) },
      unknown: unknownID == nil ? nil : String(CharTokenizer.unknownCharacter))
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try! encoder.encode(file)  // encoding strings cannot fail
    try writeText(path, String(decoding: data, as: UTF8.self))
  }

  /// Loads a vocabulary written by `save(to:)`.
  public init(file path: String) throws(TokenizerError) {
    let text = try readText(path)
    guard let file = try? JSONDecoder().decode(File.self, from: Data(text.utf8)), file.type == "char" else {
      throw .file(.malformed(path: path, line: 0, reason: "not a char tokenizer file (expected {\"type\": \"char\", \"vocab\": [...]})"))
    }
    var characters: [Unicode.Scalar] = []
    for entry in file.vocab {
      guard entry.unicodeScalars.count == 1, let c = entry.unicodeScalars.first else {
        throw .file(.malformed(path: path, line: 0, reason: "vocab entry \(entry.debugDescription) is not one character"))
      }
      characters.append(c)
    }
    guard !characters.isEmpty, zip(characters, characters.dropFirst()).allSatisfy({ $0.value < $1.value }) else {
      throw .file(.malformed(path: path, line: 0, reason: "vocab must be non-empty, sorted and without duplicates"))
    }
    let unknownToken = file.unknown != nil
    guard !unknownToken || characters.contains(CharTokenizer.unknownCharacter) else {
      throw .file(.malformed(path: path, line: 0, reason: "unknown token U+FFFD is not in the vocab"))
    }
    self.init(sorted: characters, unknownToken: unknownToken)
  }
}
