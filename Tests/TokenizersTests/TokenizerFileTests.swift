import FileSupport
import Foundation
import Testing
import Tokenizers

@Suite("save, load and errors")
struct TokenizerFileTests {
  let directory: URL = {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftgpt-tests-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }()

  func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

  static let corpus = try! String(
    contentsOf: fixturesDirectory.appendingPathComponent("ko_constitution.txt"), encoding: .utf8)

  @Test func modelFileRoundTrip() throws {
    let trained = try RegexTokenizer.train(
      text: Self.corpus, vocabSize: 600, pattern: .gpt2, specialTokens: ["<|endoftext|>"])
    try trained.save(prefix: path("ko"))
    let loaded = try RegexTokenizer(modelFile: path("ko.model"))
    #expect(loaded.merges == trained.merges)
    #expect(loaded.pattern == .gpt2)
    #expect(loaded.specialTokens == trained.specialTokens)
    let text = "제1조 대한민국은 민주공화국이다.<|endoftext|>"
    #expect(try loaded.encode(text, allowedSpecial: .all) == trained.encode(text, allowedSpecial: .all))
    let model = try String(contentsOfFile: path("ko.model"), encoding: .utf8).split(separator: "\n")
    #expect(model[0] == "minbpe v1")
    #expect(model[2] == "1")
    #expect(model[3] == "<|endoftext|> 599")
    let vocab = try String(contentsOfFile: path("ko.vocab"), encoding: .utf8).split(separator: "\n")
    #expect(vocab[32] == "[ ] 32")
    #expect(vocab.count == 600)
  }

  @Test func tiktokenRankExportRoundTrip() throws {
    let trained = try RegexTokenizer.train(text: Self.corpus, vocabSize: 500, pattern: .cl100k)
    try trained.saveTiktokenRanks(to: path("ko.tiktoken"))
    let ranks = try Encoding(rankFile: path("ko.tiktoken"), pattern: .cl100k)
    #expect(ranks.vocabSize == 500)
    let sample = String(Self.corpus.prefix(2000))
    #expect(ranks.encodeOrdinary(sample) == trained.encodeOrdinary(sample))
  }

  @Test func corruptModelFilesAreOneLineErrors() throws {
    let cases: [(String, String)] = [
      ("not a model\n", "\(path("bad.model")):1: not a minbpe model file (expected 'minbpe v1' on the first line)"),
      ("minbpe v1\n\nx\n", "\(path("bad.model")):3: expected the number of special tokens"),
      ("minbpe v1\n\n0\n97 97\n999 97\n", "\(path("bad.model")):5: merge refers to id 999, which does not exist yet (ids so far: 0..<257)"),
      ("minbpe v1\n\n0\n97\n", "\(path("bad.model")):4: expected '<left id> <right id>'"),
    ]
    for (content, message) in cases {
      try content.write(toFile: path("bad.model"), atomically: true, encoding: .utf8)
      let error = #expect(throws: TokenizerError.self) { try RegexTokenizer(modelFile: path("bad.model")) }
      #expect(error?.description == message)
    }
    #expect(throws: TokenizerError.file(.unreadable(path: path("missing.model"), reason: "no such file"))) {
      try RegexTokenizer(modelFile: path("missing.model"))
    }
    try "IQ== 0\nnot base64!! 1\n".write(toFile: path("bad.tiktoken"), atomically: true, encoding: .utf8)
    #expect(throws: TokenizerError.file(.malformed(path: path("bad.tiktoken"), line: 2, reason: "invalid base64 token"))) {
      try Encoding(rankFile: path("bad.tiktoken"), pattern: .gpt2)
    }
  }

  @Test func specialTokenRules() throws {
    let enc = Encodings.cl100k
    #expect(throws: TokenizerError.disallowedSpecialToken("<|endoftext|>")) { try enc.encode("x<|endoftext|>") }
    #expect(try enc.encode("x<|endoftext|>", allowedSpecial: ["<|endoftext|>"]) == [87, 100257])
    // Allowed tokens split the text; others are errors unless disallowedSpecial says otherwise.
    #expect(throws: TokenizerError.disallowedSpecialToken("<|fim_prefix|>")) {
      try enc.encode("<|fim_prefix|><|endoftext|>", allowedSpecial: ["<|endoftext|>"])
    }
    #expect(try enc.encode("<|fim_prefix|>", allowedSpecial: .none, disallowedSpecial: .none) == enc.encodeOrdinary("<|fim_prefix|>"))
    #expect(throws: TokenizerError.unknownSpecialToken("<|nope|>")) { try enc.encode("x", allowedSpecial: ["<|nope|>"]) }
    #expect(throws: TokenizerError.invalidTokenID(100256)) { try enc.decode([100256]) }
    #expect(throws: TokenizerError.unknownEncoding("p50k")) { try Encoding.named("p50k") }
  }

  @Test func batchEncodeEqualsSequential() {
    let texts = Self.corpus.components(separatedBy: "\n").filter { !$0.isEmpty }
    #expect(Encodings.cl100k.encodeOrdinaryBatch(texts, threads: 2) == texts.map(Encodings.cl100k.encodeOrdinary))
  }

  @Test func charTokenizer() throws {
    let tok = try CharTokenizer(corpus: "hello 한글")
    #expect(tok.vocabSize == 7)
    #expect(tok.characters.map { String($0) } == [" ", "e", "h", "l", "o", "글", "한"])
    #expect(try tok.encode("hell 한") == [2, 1, 3, 3, 0, 6])
    #expect(try tok.decode([2, 1, 3, 3, 0, 6]) == "hell 한")
    #expect(throws: TokenizerError.unknownCharacter("x")) { try tok.encode("x") }
    #expect(throws: TokenizerError.invalidTokenID(7)) { try tok.decode([7]) }
    #expect(throws: TokenizerError.emptyCorpus) { try CharTokenizer(corpus: "") }

    let withUnknown = try CharTokenizer(corpus: "ab", unknownToken: true)
    #expect(try withUnknown.encode("abz") == [0, 1, 2])
    try withUnknown.save(to: path("char.json"))
    let loaded = try CharTokenizer(file: path("char.json"))
    #expect(loaded.characters == withUnknown.characters && loaded.unknownID == 2)
    let viaLoader = try loadTokenizer(path("char.json"))
    #expect(try viaLoader.decode([1, 0]) == "ba")
  }
}
