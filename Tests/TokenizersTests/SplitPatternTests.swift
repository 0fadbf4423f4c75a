import Foundation
import Testing
@testable import Tokenizers

/// The hand-written scanners against the patterns themselves, run by Swift `Regex` with
/// Unicode-scalar semantics (the executable specification).
@Suite("split patterns")
struct SplitPatternTests {
  static let texts: [String] = {
    var texts = [
      "Hello, world! It's 2024 -- isn't it?  Yes:\n\n  indented\tline\r\nend   ",
      "don't DON'T it'S we'Re they'LL I'VE o'Dd 'ſ it'ſ ''s",
      "1234567 ١٢٣٤ １２３ ²³ 12.5e10",
      "대한민국은 민주공화국이다.\n모든 권력은 국민으로부터 나온다.  \u{3000}한글",
      "emoji 👍🏽👨‍👩‍👧 flags 🇰🇷🇺🇸 e\u{301} NBSP\u{A0}x \u{2028}y \u{85}z \u{200B}w",
      "   leading and trailing   \n", "\n\n\n", " ", "", "a", "  a", "!!!???...\n\n", "$1,000.00",
    ]
    if let corpus = try? String(contentsOf: fixturesDirectory.appendingPathComponent("ko_constitution.txt"), encoding: .utf8) {
      texts.append(String(corpus.prefix(3000)))
    }
    return texts
  }()

  @Test(arguments: [SplitPattern.gpt2, .cl100k])
  func scannerMatchesRegex(pattern: SplitPattern) throws {
    let regex = SplitPattern.regex(pattern.source)
    for text in Self.texts {
      #expect(pattern.pieces(of: text) == regex.pieces(of: text), "\(text.debugDescription)")
    }
  }

  @Test func knownSplits() {
    #expect(SplitPattern.gpt2.pieces(of: "Hello  world's 123\n") == ["Hello", " ", " world", "'s", " 123", "\n"])
    #expect(SplitPattern.cl100k.pieces(of: "Hello  world'S 12345\n\n") == ["Hello", " ", " world", "'S", " ", "123", "45", "\n\n"])
    #expect(SplitPattern.cl100k.pieces(of: "a  \n  b") == ["a", "  \n", " ", " b"])
    #expect(SplitPattern.none.pieces(of: "a b") == ["a b"])
  }

  @Test func parsesNamesAndRejectsBadPatterns() throws {
    #expect(try SplitPattern(parsing: "gpt4") == .cl100k)
    #expect(try SplitPattern(parsing: SplitPattern.gpt2Pattern) == .gpt2)
    #expect(try SplitPattern(parsing: "") == SplitPattern.none)
    #expect(try SplitPattern(parsing: #"\w+"#) == .regex(#"\w+"#))
    #expect(throws: TokenizerError.self) { try SplitPattern(parsing: "(unclosed") }
  }

  /// Long pieces take the heap merge; it must agree with the linear merge everywhere.
  @Test func heapMergeEqualsLinearMerge() throws {
    let model = Encodings.cl100k.codec.model
    var rng = SystemRandomNumberGenerator()
    let alphabets: [[UInt8]] = [Array("ab".utf8), Array("abc ".utf8), Array("대한민국".utf8), Array("0123456789".utf8)]
    for trial in 0..<200 {
      let alphabet = alphabets[trial % alphabets.count]
      let n = Int.random(in: 2...400, using: &rng)
      let bytes = (0..<n).map { _ in alphabet.randomElement(using: &rng)! }
      var linear: [Int] = []
      var heap: [Int] = []
      bytes.withUnsafeBufferPointer {
        model.mergeLinear($0.baseAddress!, n, into: &linear)
        model.mergeHeap($0.baseAddress!, n, into: &heap)
      }
      #expect(linear == heap, "\(bytes)")
    }
    // Reference values from tiktoken 0.14.
    let long = Encodings.gpt2.encodeOrdinary(String(repeating: "a", count: 1000))
    #expect(long.count == 250 && Set(long) == [24794])
    let mixed = Encodings.gpt2.encodeOrdinary(String(repeating: "ab", count: 301) + String(repeating: " 대한민국", count: 50))
    #expect(mixed.count == 851 && mixed.reduce(0, +) == 4_181_697)
  }
}
