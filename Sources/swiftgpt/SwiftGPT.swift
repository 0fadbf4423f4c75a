import ArgumentParser

/// `swiftgpt`: tokenizers, GPT pretraining, fine-tuning and generation from one command.
@main
struct SwiftGPT: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "swiftgpt",
    abstract: "Build GPT language models from scratch: tokenizers, pretraining, fine-tuning, generation.",
    version: "0.1.0",
    subcommands: [
      Demo.self, PrepareCommand.self, TrainCommand.self, SampleCommand.self, FinetuneCommand.self, PredictCommand.self,
      ChatCommand.self, LoRACommand.self, TokenizerCommand.self, Bench.self,
    ])
}
