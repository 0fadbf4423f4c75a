import ArgumentParser
import Foundation
import Models
import TensorEngine
import Tokenizers
import Training

/// `swiftgpt sample`: generate text from a checkpoint or a Hugging Face GPT-2 folder.
struct SampleCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sample",
    abstract: "Generate text from a trained checkpoint (or a Hugging Face GPT-2 folder), with a KV cache.")

  @Option(help: "A run folder (uses its best/ checkpoint), a checkpoint folder, or a HF GPT-2 folder.")
  var checkpoint: String

  @OptionGroup var generation: GenerationOptions

  @Option(help: "Tokenizer (default: the one saved with the checkpoint; gpt2 for a HF folder).")
  var tokenizer: String?

  @Option(help: "Threads (default: all cores).")
  var threads: Int?

  func validate() throws {
    try generation.check()
    if let threads, threads < 1 { throw ValidationError("--threads must be ≥ 1") }
  }

  func run() throws {
    if let threads { Parallel.threads = threads }
    let folder = ModelDirectory(checkpoint)
    let model = try folder.loadModel()
    let tokenizer = try folder.tokenizer(override: tokenizer, vocabSize: model.vocabSize)
    try generation.generate(model: model, tokenizer: tokenizer)
  }
}

/// How tokens are drawn: shared by `sample` and `chat`.
struct SamplingFlags: ParsableArguments {
  @Option(help: "Tokens to generate (per sample, or per reply).") var maxNewTokens = 200
  @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Float = 0.8
  @Option(help: "Sample only from the K most likely tokens.") var topK: Int?
  @Option(help: "Sample only from the most likely tokens that make up probability P.") var topP: Float?
  @Option(help: "Random seed.") var seed: UInt64 = 1337

  var sampling: SamplingOptions { SamplingOptions(temperature: temperature, topK: topK, topP: topP) }

  func check() throws {
    if let problem = sampling.problem { throw ValidationError(problem) }
    if maxNewTokens < 0 { throw ValidationError("--max-new-tokens must be ≥ 0") }
  }
}

/// The sampling flags, and the loop that prints samples.
struct GenerationOptions: ParsableArguments {
  @Option(help: "Text to continue (default: start from the end-of-text token, or a newline).") var prompt: String?
  @OptionGroup var draw: SamplingFlags
  @Option(help: "Number of samples.") var numSamples = 1
  @Flag(help: "Print tokens as they are generated.") var stream = false
  @Option(help: "Weights read per generated token: f32 (exact) or bf16 (half the memory traffic, logits ~1 % off).")
  var precision = "f32"

  func check() throws {
    try draw.check()
    if numSamples < 1 { throw ValidationError("--num-samples must be ≥ 1") }
    if WeightPrecision(rawValue: precision) == nil { throw ValidationError("--precision must be f32 or bf16, got '\(precision)'") }
  }

  func generate(model: any LanguageModel, tokenizer: any Tokenizer) throws {
    let eot = tokenizer.specialTokens.ids["<|endoftext|>"]
    var promptIDs: [Int]
    if let prompt, !prompt.isEmpty {
      // A HF pipeline's template tokens (an appended end-of-text) do not belong in a prompt.
      promptIDs = try (tokenizer as? PipelineTokenizer)?.encoding(of: prompt, addSpecialTokens: false).ids
        ?? tokenizer.encode(prompt)
    } else if let eot {
      promptIDs = [eot]
    } else {
      promptIDs = (try? tokenizer.encode("\n")) ?? [0]
    }
    if let bad = promptIDs.first(where: { $0 >= model.vocabSize }) {
      throw CLIError("the prompt has token id \(bad), outside the model's vocabulary of \(model.vocabSize); is this the model's tokenizer?")
    }
    var rng = RandomGenerator(seed: draw.seed)
    for n in 0..<numSamples {
      if n > 0 { Terminal.write("---------------\n") }
      var text = StreamingDecoder(tokenizer: tokenizer)
      if let prompt { Terminal.write(prompt) }
      let start = Terminal.now()
      var count = 0
      var failure: TokenizerError?
      var output = ""
      _ = model.generate(prompt: promptIDs.map(Int32.init), maxNewTokens: draw.maxNewTokens, sampling: draw.sampling,
                         stopTokens: eot.map { [Int32($0)] } ?? [],
                         precision: WeightPrecision(rawValue: precision) ?? .float32, rng: &rng) { token in
        count += 1
        // The end-of-text token, and ids the tokenizer lacks (instruction markers), print nothing.
        if Int(token) == eot || Int(token) >= tokenizer.vocabSize { return true }
        do {
          let piece = try text.append(Int(token))
          if stream { Terminal.write(piece) } else { output += piece }
        } catch { failure = error as? TokenizerError; return false }
        return true
      }
      if let failure { throw failure }
      Terminal.write(output + text.finish() + "\n")
      let seconds = Terminal.now() - start
      Terminal.error(String(format: "[%d tokens in %.2f s, %.1f tok/s]", count, seconds, Double(count) / max(seconds, 1e-9)))
    }
  }

}
