import ArgumentParser
import Foundation
import Inference
import Models
import TensorEngine
import Tokenizers

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

  @OptionGroup var threads: ThreadsOption
  @OptionGroup var device: DeviceOption

  func validate() throws {
    try generation.check()
  }

  func run() throws {
    threads.apply()
    let folder = ModelDirectory(checkpoint)
    let model = try folder.loadModel()
    let tokenizer = try folder.tokenizer(override: tokenizer, vocabSize: model.vocabSize)
    let device = try self.device.place([model.parameters])
    try generation.generate(model: model, tokenizer: tokenizer)
    try device.gpu?.checkFailure()
  }
}

/// How tokens are drawn: shared by `sample` and `chat`.
struct SamplingFlags: ParsableArguments {
  @Option(help: "Tokens to generate (per sample, or per reply).") var maxNewTokens = 200
  @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Float = 0.8
  @Option(help: "Sample only from the K most likely tokens (0: all).") var topK: Int?
  @Option(help: "Sample only from the most likely tokens that make up probability P (0: the most likely one).") var topP: Float?
  @Option(help: "Sample only from the tokens at least P times as likely as the most likely one.") var minP: Float?
  @Option(help: "Random seed.") var seed: UInt64 = 1337
  @Option(help: "Weights read per generated token: f32 (exact) or bf16 (half the memory traffic, logits ~1 % off).")
  var precision = WeightPrecision.float32

  var sampling: SamplingOptions { SamplingOptions(temperature: temperature, topK: topK, topP: topP, minP: minP) }

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

  func check() throws {
    try draw.check()
    if numSamples < 1 { throw ValidationError("--num-samples must be ≥ 1") }
  }

  func generate(model: any LanguageModel, tokenizer: any Tokenizer) throws {
    try printSamples(model: model, tokenizer: tokenizer, prompt: prompt, count: numSamples, maxNewTokens: draw.maxNewTokens,
                     sampling: draw.sampling, precision: draw.precision, seed: draw.seed, stream: stream)
  }
}

/// Prints `count` samples continuing `prompt` (from the end-of-text token, or a newline,
/// without one), each followed by its speed on stderr: `sample`'s and the demo's output.
func printSamples(model: any LanguageModel, tokenizer: any Tokenizer, prompt: String?, count: Int, maxNewTokens: Int,
                  sampling: SamplingOptions, precision: WeightPrecision = .float32, seed: UInt64, stream: Bool) throws {
    let eot = tokenizer.specialTokens.ids["<|endoftext|>"]
    var promptIDs: [Int]
    if let prompt, !prompt.isEmpty {
      // As the model saw text in training; a HF pipeline's template tokens do not belong here.
      promptIDs = try tokenizer.encodeOrdinary(prompt)
    } else if let eot {
      promptIDs = [eot]
    } else {
      promptIDs = (try? tokenizer.encode("\n")) ?? [0]
    }
    if let bad = promptIDs.first(where: { $0 >= model.vocabSize }) {
      throw CLIError("the prompt has token id \(bad), outside the model's vocabulary of \(model.vocabSize); is this the model's tokenizer?")
    }
    var rng = RandomGenerator(seed: seed)
    for n in 0..<count {
      if n > 0 { Terminal.write("---------------\n") }
      if let prompt { Terminal.write(prompt) }
      let start = Terminal.now()
      let (text, tokens) = try model.generateText(
        prompt: promptIDs.map(Int32.init), tokenizer: tokenizer, maxNewTokens: maxNewTokens, sampling: sampling,
        stopTokens: eot.map { [Int32($0)] } ?? [], precision: precision, rng: &rng,
        onText: { piece in if stream { Terminal.write(piece) } })
      Terminal.write((stream ? "" : text) + "\n")
      let seconds = Terminal.now() - start
      Terminal.error(String(format: "[%d tokens in %.2f s, %.1f tok/s]", tokens, seconds, Double(tokens) / max(seconds, 1e-9)))
    }
}

extension WeightPrecision: ExpressibleByArgument {}
