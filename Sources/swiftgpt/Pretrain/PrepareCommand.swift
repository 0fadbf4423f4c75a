import ArgumentParser
import Foundation
import TensorEngine
import Training

/// `swiftgpt prepare`: text files → train/val token shards + meta.json + tokenizer.
struct PrepareCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "prepare",
    abstract: "Tokenize text files into train/val token shards (llm.c format) for `swiftgpt train`.")

  @Option(name: .customLong("input"), parsing: .upToNextOption, help: "Text files (UTF-8), read in order.")
  var inputs: [String] = []

  @Option(help: "char (a character vocabulary built from the input), gpt2, cl100k_base, or a tokenizer file (.model, .json, .tiktoken).")
  var tokenizer = "char"

  @Option(help: "Fraction of the text (its end) kept for validation.")
  var valFraction = 0.1

  @Option(help: "Output folder.")
  var output: String

  @Option(help: "Tokens per shard file.")
  var shardTokens = 100_000_000

  @OptionGroup var threads: ThreadsOption

  func validate() throws {
    if inputs.isEmpty { throw ValidationError("give at least one --input file") }
    if shardTokens < 1 { throw ValidationError("--shard-tokens must be ≥ 1") }
  }

  func run() throws {
    var preparer = DatasetPreparer(inputs: inputs, tokenizer: tokenizer, output: output)
    preparer.valFraction = valFraction
    preparer.shardTokens = shardTokens
    if let threads = threads.threads { preparer.threads = threads }
    let start = Terminal.now()
    var bar = ProgressBar(total: 100, label: "tokenizing", unit: "%")
    let meta = try preparer.run { done, total in bar.update(done * 100 / max(total, 1)) }
    bar.finish()
    print(String(format: "%@: vocab %d (%@), train %d tokens, val %d tokens, %.2f s",
                 output, meta.vocabSize, meta.tokenizer, meta.trainTokens, meta.valTokens, Terminal.now() - start))
  }
}
