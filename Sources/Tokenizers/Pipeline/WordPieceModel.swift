/// BERT's WordPiece model: greedy longest match first, continuation pieces spelled with
/// `continuingSubwordPrefix` (`##`); a word with any unmatchable part, or longer than
/// `maxInputCharsPerWord` characters, becomes the unknown token.
public struct WordPieceModel: SubwordModel {
  public let vocab: Vocabulary
  public let unknownToken: String
  public let continuingSubwordPrefix: String
  public let maxInputCharsPerWord: Int
  private let unknownId: Int

  public init(vocab: Vocabulary, unknownToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
              maxInputCharsPerWord: Int = 100) throws(TokenizerError) {
    guard let id = vocab.id(unknownToken) else {
      throw .invalidJSON(field: "model.unk_token", reason: "'\(unknownToken)' is not in the vocabulary")
    }
    self.vocab = vocab
    self.unknownToken = unknownToken
    self.continuingSubwordPrefix = continuingSubwordPrefix
    self.maxInputCharsPerWord = maxInputCharsPerWord
    unknownId = id
  }

  public func tokenize(_ word: String, into ids: inout [Int], tokens: inout [String], spans: inout [Range<Int>]) {
    let firstNew = ids.count
    defer { for id in ids[firstNew...] { tokens.append(vocab.tokens[id]!) } }
    let scalars = Array(word.unicodeScalars)
    guard scalars.count <= maxInputCharsPerWord else {
      ids.append(unknownId)
      spans.append(0..<word.utf8.count)
      return
    }
    var byteStart = [0]  // of each scalar, and the end
    for s in scalars { byteStart.append(byteStart.last! + UTF8.width(s)) }
    var pieces: [(id: Int, span: Range<Int>)] = []
    var start = 0
    while start < scalars.count {
      var end = scalars.count
      var found: Int?
      while start < end {
        var view = String.UnicodeScalarView(scalars[start..<end])
        if start > 0 { view.insert(contentsOf: continuingSubwordPrefix.unicodeScalars, at: view.startIndex) }
        if let id = vocab.id(String(view)) {
          found = id
          break
        }
        end -= 1
      }
      guard let id = found else {
        ids.append(unknownId)
        spans.append(0..<word.utf8.count)
        return
      }
      pieces.append((id, byteStart[start]..<byteStart[end]))
      start = end
    }
    ids.append(contentsOf: pieces.map(\.id))
    spans.append(contentsOf: pieces.map(\.span))
  }

  init(json: JSONField) throws(TokenizerError) {
    try self.init(
      vocab: try Vocabulary(json: try json.at("vocab")), unknownToken: try json.string("unk_token", default: "[UNK]"),
      continuingSubwordPrefix: try json.string("continuing_subword_prefix", default: "##"),
      maxInputCharsPerWord: try json.optional("max_input_chars_per_word")?.int ?? 100)
  }

  public var json: JSONValue {
    .members([
      "type": "WordPiece", "unk_token": .string(unknownToken), "continuing_subword_prefix": .string(continuingSubwordPrefix),
      "max_input_chars_per_word": .int(maxInputCharsPerWord), "vocab": vocab.json,
    ])
  }
}
