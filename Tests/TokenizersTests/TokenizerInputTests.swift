import Foundation
import Testing
@testable import Tokenizers

/// Inputs that were misread: HF added tokens under a normalizer, deeply nested or inconsistent
/// `tokenizer.json` files.
@Suite("tokenizer inputs read as HF reads them, or refused")
struct TokenizerInputTests {
  static let newYork = #"""
    {"version":"1.0","truncation":null,"padding":null,"added_tokens":[{"id":4,"content":"New York","single_word":false,
    "lstrip":false,"rstrip":false,"normalized":true,"special":SPECIAL}],"normalizer":{"type":"Lowercase"},
    "pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,"model":{"type":"WordPiece",
    "unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":100,
    "vocab":{"[UNK]":0,"new":1,"york":2,"city":3}}}
    """#

  @Test("a normalized added token is matched by its normalized content, and shown and decoded so (tokenizers 0.23)")
  func normalizedAddedTokens() throws {
    // HF: encode("New York city") and encode("new york city") → [4, 3], tokens ['new york', 'city'],
    // decode 'new york city'; SwiftGPT matched the raw "New York" only and decoded "New York".
    let tokenizer = try PipelineTokenizer(json: try JSONValue(parsing: Self.newYork.replacingOccurrences(of: "SPECIAL", with: "false")))
    for text in ["New York city", "new york city", "NEW YORK city"] {
      let encoding = try tokenizer.encoding(of: text)
      #expect(encoding.ids == [4, 3], "\(text)")
      #expect(encoding.tokens == ["new york", "city"])
    }
    #expect(try tokenizer.decode([4, 3, 4]) == "new york city new york")
    #expect(tokenizer.token(4) == "new york")
    #expect(tokenizer.id(of: "New York") == 4 && tokenizer.id(of: "new york") == nil)
    // A special one is not skipped by decode: HF knows special tokens by their raw content.
    let special = try PipelineTokenizer(json: try JSONValue(parsing: Self.newYork.replacingOccurrences(of: "SPECIAL", with: "true")))
    #expect(try special.encoding(of: "NEW YORK city").ids == [4, 3])
    #expect(try special.decode([4, 3]) == "new york city")
  }

  @Test("a deeply nested tokenizer.json is an error, not a stack overflow")
  func deepNesting() throws {
    let deep = String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000)
    #expect(throws: TokenizerError.invalidJSON(field: "", reason: "arrays and objects nested deeper than 128 levels at byte 128")) {
      try JSONValue(parsing: deep)
    }
    let ok = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
    #expect(throws: Never.self) { try JSONValue(parsing: ok) }
    let object = String(repeating: #"{"a":"#, count: 200) + "1" + String(repeating: "}", count: 200)
    #expect(throws: TokenizerError.self) { try JSONValue(parsing: object) }
  }

  @Test("two tokens with one id, and ids far beyond the vocabulary, are refused")
  func inconsistentIDs() throws {
    func load(vocab: String, added: String = "[]") throws -> PipelineTokenizer {
      try PipelineTokenizer(json: try JSONValue(parsing: #"""
        {"added_tokens":\#(added),"model":{"type":"WordPiece","vocab":\#(vocab),"unk_token":"[UNK]"}}
        """#))
    }
    #expect(throws: TokenizerError.invalidJSON(field: "model.vocab.b", reason: "id 1 is also the id of \"a\"")) {
      try load(vocab: #"{"[UNK]":0,"a":1,"b":1}"#)
    }
    #expect(throws: TokenizerError.invalidJSON(field: "model.vocab.b", reason: "id 9999999 is out of range for a vocabulary of 3 tokens")) {
      try load(vocab: #"{"[UNK]":0,"a":1,"b":9999999}"#)
    }
    let token = #"{"id":ID,"content":"CONTENT","special":true}"#
    func added(_ id: Int, _ content: String) -> String {
      token.replacingOccurrences(of: "ID", with: String(id)).replacingOccurrences(of: "CONTENT", with: content)
    }
    #expect(throws: TokenizerError.invalidJSON(field: "added_tokens[0].id", reason: "id 1 is also the id of \"a\"")) {
      try load(vocab: #"{"[UNK]":0,"a":1}"#, added: "[\(added(1, "<x>"))]")
    }
    #expect(throws: TokenizerError.invalidJSON(field: "added_tokens[1].id", reason: "id 2 is also the id of \"<x>\"")) {
      try load(vocab: #"{"[UNK]":0,"a":1}"#, added: "[\(added(2, "<x>")), \(added(2, "<y>"))]")
    }
    #expect(throws: TokenizerError.invalidJSON(field: "added_tokens[0].id", reason: "id 5000000 is out of range for a vocabulary of 3 tokens")) {
      try load(vocab: #"{"[UNK]":0,"a":1}"#, added: "[\(added(5_000_000, "<x>"))]")
    }
    // The usual case: an added token that is also in the vocabulary, with the same id.
    #expect(try load(vocab: #"{"[UNK]":0,"a":1}"#, added: "[\(added(0, "[UNK]")), \(added(2, "<x>"))]").vocabSize == 3)
  }
}

@Suite("token segments: whole graphemes, as tiktokenizer shows them")
struct TokenSegmentTests {
  @Test func koreanAndEmojiAreNeverBrokenBytes() throws {
    let text = "안녕 👍🏽 hello 대한민국"
    for name in ["gpt2", "cl100k_base"] {
      let encoding = try Encoding.named(name)
      let ids = encoding.encodeOrdinary(text)
      let segments = encoding.segments(of: text, ids: ids)
      #expect(segments.flatMap(\.ids) == ids, "\(name)")
      #expect(segments.map(\.text).joined() == text)
      // Every segment is whole graphemes: none holds U+FFFD or a broken character.
      #expect(segments.allSatisfy { !$0.text.contains("\u{FFFD}") && !$0.text.isEmpty })
      // GPT-2 spends several byte tokens on 안 alone: one segment holds them all.
      if name == "gpt2" { #expect(segments[0].text == "안" && segments[0].ids.count > 1, "\(segments.prefix(3))") }
    }
    // The skin-tone emoji is one grapheme of two scalars: one segment, whatever the tokens.
    let gpt2 = try Encoding.named("gpt2")
    #expect(gpt2.segments(of: text, ids: gpt2.encodeOrdinary(text)).contains { $0.text.hasSuffix("👍🏽") })
  }

  @Test func aCharacterTheVocabularyLacksIsASegmentWithNoIds() throws {
    // A character model leaves out what it never saw; the segments lost that text (and so did
    // the playground's view of it).
    let tokenizer = try CharTokenizer(corpus: "ab 안녕")
    let text = "a👋🏽b 안녕!"
    let (ids, dropped) = tokenizer.encodeKnown(text)
    #expect(dropped == 3)
    let segments = tokenizer.segments(of: text, ids: ids)
    #expect(segments.map(\.text) == ["a", "👋🏽", "b", " ", "안", "녕", "!"])
    let id = { (character: Unicode.Scalar) in tokenizer.characters.firstIndex(of: character)! }
    #expect(segments.map(\.ids) == [[id("a")], [], [id("b")], [id(" ")], [id("안")], [id("녕")], []])
  }

  @Test func aNormalizedTextGivesOneSegmentPerToken() throws {
    let tokenizer = try PipelineTokenizer(json: try JSONValue(parsing: TokenizerInputTests.newYork.replacingOccurrences(of: "SPECIAL", with: "false")))
    let ids = try tokenizer.encoding(of: "New York city").ids
    let segments = tokenizer.segments(of: "New York city", ids: ids)
    #expect(segments.map(\.ids) == ids.map { [$0] })
    // The first token's text began with the space that joins a word to the one before it.
    #expect(segments.map(\.text) == ["new york", " city"])
  }
}
