import Foundation
import Testing
import Tokenizers

struct MinbpeCase: Decodable {
  let name: String
  let text_file: String?
  let text: String?
  let prefix_scalars: Int?
  let pattern: String
  let vocab_size: Int
  let merges: [[Int]]
  let sample: String
  let sample_ids: [Int]

  func loadText() throws -> String {
    if let text { return text }
    let full = try String(contentsOf: fixturesDirectory.appendingPathComponent(text_file!), encoding: .utf8)
    guard let prefix = prefix_scalars else { return full }
    var scalars = String.UnicodeScalarView()
    scalars.append(contentsOf: full.unicodeScalars.prefix(prefix))
    return String(scalars)
  }
}

@Suite("BPE training")
struct TrainerTests {
  static let cases = try! JSONDecoder().decode(
    [MinbpeCase].self, from: Data(contentsOf: fixturesDirectory.appendingPathComponent("minbpe_merges.json")))

  @Test("merges equal minbpe's, tie-breaks included", arguments: cases.map(\.name))
  func mergesMatchMinbpe(name: String) throws {
    let c = Self.cases.first { $0.name == name }!
    let tokenizer = try RegexTokenizer.train(
      text: try c.loadText(), vocabSize: c.vocab_size, pattern: try SplitPattern(parsing: c.pattern))
    #expect(tokenizer.merges.map { [$0.left, $0.right] } == c.merges)
    #expect(try tokenizer.encode(c.sample) == c.sample_ids)
    #expect(try tokenizer.decode(c.sample_ids) == c.sample)
  }

  /// minbpe's Wikipedia example. (97, 98) ties with (256, 97) at count 2 in the second step;
  /// minbpe takes (256, 97) because it occurs first — rustbpe and HF would take (97, 98).
  @Test func wikipediaExampleAndTieBreak() throws {
    let tokenizer = try BasicTokenizer.train(text: "aaabdaaabac", vocabSize: 259)
    #expect(tokenizer.merges == [Merge(97, 97), Merge(256, 97), Merge(257, 98)])
    #expect(try tokenizer.encode("aaabdaaabac") == [258, 100, 258, 97, 99])
    #expect(try tokenizer.decode([258, 100, 258, 97, 99]) == "aaabdaaabac")
  }

  @Test func tieBreakPrefersFirstOccurrenceNotSmallestPair() throws {
    // "zz" and "aa" both occur twice; "zz" occurs first, so it is merged first although
    // (97, 97) is the smaller pair.
    let tokenizer = try BasicTokenizer.train(text: "zz aa zz aa", vocabSize: 257)
    #expect(tokenizer.merges == [Merge(122, 122)])
  }

  @Test func trainingIsDeterministic() throws {
    let text = try String(contentsOf: fixturesDirectory.appendingPathComponent("ko_constitution.txt"), encoding: .utf8)
    let a = try RegexTokenizer.train(text: text, vocabSize: 800, pattern: .cl100k)
    let b = try RegexTokenizer.train(text: text, vocabSize: 800, pattern: .cl100k)
    #expect(a.merges == b.merges)
    #expect(a.merges.count == 800 - 256)
  }

  @Test func stopsWhenNoPairIsLeft() throws {
    let tokenizer = try RegexTokenizer.train(text: "ab ab", vocabSize: 1000, pattern: .gpt2)
    // pieces "ab", " ab": merges (a,b), then (" ", ab); nothing left after that.
    #expect(tokenizer.merges == [Merge(97, 98), Merge(32, 256)])
    #expect(try tokenizer.encode("ab ab") == [256, 257])
  }

  @Test func specialTokensComeAfterMerges() throws {
    let tokenizer = try RegexTokenizer.train(
      text: "hello hello world", vocabSize: 260, pattern: .gpt2, specialTokens: ["<|endoftext|>", "<|pad|>"])
    #expect(tokenizer.merges.count == 2)
    #expect(tokenizer.specialTokens.ids == ["<|endoftext|>": 258, "<|pad|>": 259])
    #expect(tokenizer.vocabSize == 260)
    #expect(try tokenizer.encode("hi<|pad|>", allowedSpecial: .all).last == 259)
    #expect(throws: TokenizerError.disallowedSpecialToken("<|pad|>")) { try tokenizer.encode("hi<|pad|>") }
  }

  @Test func rejectsBadInput() throws {
    #expect(throws: TokenizerError.vocabularyTooSmall(requested: 256, minimum: 257, of: "256 bytes + special tokens")) {
      try RegexTokenizer.train(text: "abc", vocabSize: 256, specialTokens: ["<s>"])
    }
    #expect(throws: TokenizerError.emptyCorpus) { try RegexTokenizer.train(text: "", vocabSize: 300) }
  }
}
