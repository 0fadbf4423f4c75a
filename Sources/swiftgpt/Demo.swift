import ArgumentParser
import FileSupport
import Foundation
import Inference
import Models
import TensorEngine
import Tokenizers
import Training

/// `swiftgpt demo`: the whole pipeline on the Korean corpus embedded in the binary — prepare
/// char-level data, pretrain a small GPT, sample from it.
struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a small char-level Korean GPT on the embedded corpus and sample from it (a few minutes).")

  @Option(help: "Output folder for the data, checkpoints, log and loss curve.")
  var out = "swiftgpt-demo"

  @Option(help: "Training steps.")
  var maxSteps = 1500

  @Option(help: "Prompt for the samples.")
  var prompt = "대한민국은"

  @OptionGroup var threads: ThreadsOption

  @Flag(help: "Instead: train a Korean BPE tokenizer on the corpus and compare it with GPT-2's and GPT-4's.")
  var tokenizers = false

  func validate() throws {
    if maxSteps < 0 { throw ValidationError("--max-steps must be ≥ 0, got \(maxSteps)") }
  }

  func run() throws {
    if tokenizers { return try compareTokenizers() }
    threads.apply()
    // The demo replaces a run of its own (any run on the embedded corpus is a toy's), never one on other data.
    let out = normalizedPath(self.out)
    if let run = runCheckpoint(in: out), !trainedOnEmbeddedCorpus(run) {
      throw CLIError("\(out) holds a training run on other data, which the demo would replace: choose another --out")
    }
    let corpus = embeddedKoreanCorpus
    print("SwiftGPT demo — a character-level GPT on the embedded Korean corpus: \(corpus.utf8.count / 1000) kB, "
      + "\(corpus.count) characters (the Constitution of the Republic of Korea and National Assembly bills, konlpy)")
    let data = try prepareEmbeddedCorpus(into: out + "/data")
    // The checkpoints carry this tokenizer; a prompt it cannot encode is reported now, not after training.
    guard let tokenizer = try PreparedDataset(folder: data).openTokenizer() else { throw CLIError("\(data) names no tokenizer") }
    _ = try tokenizer.encode(prompt)
    // nanoGPT's CPU model (gpt-micro) with a little dropout, batches of 16, evaluated every 250 steps.
    let start = TrainingStart.new(
      model: { meta in
        var config = GPTConfig.gptMicro(vocabSize: meta.vocabSize)
        config.dropout = 0.1
        return try GPT(config: config, seed: TrainingOptions().seed)
      },
      options: { model in
        var options = TrainingOptions()
        (options.maxSteps, options.batchSize, options.evalEvery) = (maxSteps, 16, 250)
        options.blockSize = model.contextLength ?? options.blockSize
        return options
      })
    let outcome = try runTraining(data: data, out: out, start: start)
    if outcome == .interrupted { throw ExitCode(130) }
    let sampling = SamplingOptions(temperature: 0.8, topK: 50)
    print("\nsamples (temperature \(sampling.temperature), top-k 50), prompt \"\(prompt)\":\n")
    try printSamples(model: try ModelDirectory(out).loadModel(), tokenizer: tokenizer, prompt: prompt, count: 2,
                     maxNewTokens: 200, sampling: sampling, seed: TrainingOptions().seed, stream: true)
    print("\nsample again: swiftgpt sample --checkpoint \(out) --prompt \"\(prompt)\" --stream")
  }

  private func compareTokenizers(vocabSize: Int = 2048, text: String = "대한민국은 민주공화국이다. 모든 국민은 법 앞에 평등하다.") throws {
    let corpus = embeddedKoreanCorpus
    let start = Terminal.now()
    var counts = PieceCounts(pattern: .cl100k)
    counts.add(corpus)
    var bar = ProgressBar(total: vocabSize - 256, label: "training", unit: "merges")
    let trained = try RegexTokenizer.train(counts, vocabSize: vocabSize) { done, _ in bar.update(done) }
    bar.finish()
    print(String(format: "trained a %d-token byte-level BPE (GPT-4 split) on the embedded Korean corpus in %.2f s",
                 trained.vocabSize, Terminal.now() - start))
    print("\ntext: \(text)")
    let tokenizers: [(String, any BytePairTokenizer)] = [
      ("gpt2", try Encoding.named("gpt2")),
      ("cl100k_base", try Encoding.named("cl100k_base")),
      ("trained (\(trained.vocabSize))", trained),
    ]
    for (name, tokenizer) in tokenizers {
      let ids = try tokenizer.encode(text)
      print("\n\(name): \(ids.count) tokens")
      print(ids.map { "[\(displayToken(tokenizer.tokenBytes($0) ?? []))]" }.joined())
    }
    let sample = String(corpus.prefix(20_000))
    print("\ntokens for the first 20,000 characters of the corpus:")
    for (name, tokenizer) in tokenizers {
      let n = try tokenizer.encodeOrdinary(sample).count
      let padded = name.padding(toLength: 16, withPad: " ", startingAt: 0)
      print(String(format: "  %@ %6d tokens  %.2f bytes/token", padded, n, Double(sample.utf8.count) / Double(n)))
    }
  }
}
