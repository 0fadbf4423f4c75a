import ArgumentParser
import Foundation
import Tokenizers

/// `swiftgpt demo`: what SwiftGPT does, on the Korean corpus embedded in the binary.
struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a Korean BPE tokenizer on the embedded corpus and compare it with GPT-2 and GPT-4's.")

  @Option(help: "Vocabulary size of the tokenizer to train.")
  var vocabSize = 2048

  @Option(help: "Sentence to tokenize with each tokenizer.")
  var text = "대한민국은 민주공화국이다. 모든 국민은 법 앞에 평등하다."

  func run() throws {
    let corpus = embeddedKoreanCorpus
    print("SwiftGPT demo — embedded Korean corpus: \(corpus.utf8.count / 1000) kB "
      + "(the Constitution of the Republic of Korea and National Assembly bills, konlpy)")
    let start = Terminal.now()
    var counts = PieceCounts(pattern: .cl100k)
    counts.add(corpus)
    var bar = ProgressBar(total: vocabSize - 256, label: "training", unit: "merges")
    let trained = try RegexTokenizer.train(counts, vocabSize: vocabSize) { done, _ in bar.update(done) }
    bar.finish()
    print(String(format: "trained a %d-token byte-level BPE (GPT-4 split) in %.2f s", trained.vocabSize, Terminal.now() - start))
    print("longest learned words: " + longestTokens(trained, count: 8).map { "[\($0)]" }.joined(separator: " "))
    print("\ntext: \(text)")
    let tokenizers: [(String, any BytePairTokenizer)] = [
      ("gpt2", try Encoding.named("gpt2")),
      ("cl100k_base", try Encoding.named("cl100k_base")),
      ("trained (\(trained.vocabSize))", trained),
    ]
    for (name, tokenizer) in tokenizers {
      let ids = try tokenizer.encode(text)
      let shown = ids.map { "[\(displayToken(tokenizer.tokenBytes($0) ?? []))]" }.joined()
      print("\n\(name): \(ids.count) tokens")
      print(shown)
    }
    let sample = String(corpus.prefix(20_000))
    print("\ntokens for the first 20,000 characters of the corpus:")
    for (name, tokenizer) in tokenizers {
      let n = tokenizer.encodeOrdinary(sample).count
      let padded = name.padding(toLength: 16, withPad: " ", startingAt: 0)
      print(String(format: "  %@ %6d tokens  %.2f bytes/token", padded, n, Double(sample.utf8.count) / Double(n)))
    }
  }

  func longestTokens(_ tokenizer: RegexTokenizer, count: Int) -> [String] {
    (256..<(256 + tokenizer.merges.count))
      .compactMap { tokenizer.tokenBytes($0) }
      .filter { String(validating: $0, as: UTF8.self)?.unicodeScalars.contains { $0.properties.isAlphabetic } == true }
      .sorted { $0.count != $1.count ? $0.count > $1.count : $0.lexicographicallyPrecedes($1) }
      .prefix(count)
      .map { displayToken($0) }
  }
}
