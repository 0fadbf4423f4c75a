import ArgumentParser
import Foundation
import Models
import TensorEngine
import Tokenizers
import Training

/// `swiftgpt chat`: talk to an instruction-tuned model in the terminal.
struct ChatCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "chat",
    abstract: "Chat with a model from `swiftgpt finetune --task sft` (streams replies, keeps the history).",
    discussion: """
      Reads one message per line from standard input; /reset forgets the history; end of input \
      quits. The model's LoRA adapter (OUT/adapter, or --adapter) is merged into its weights \
      first. Replies stop at <|im_end|>.
      """)

  @Option(help: "Instruction-tuned model folder.") var checkpoint: String
  @Option(help: "A PEFT LoRA adapter folder to apply (default: CHECKPOINT/adapter if present).") var adapter: String?
  @Option(help: "A system message to start the conversation (chat template).") var system: String?
  @Option(help: "Tokenizer (default: the model's).") var tokenizer: String?
  @OptionGroup var draw: SamplingFlags

  func validate() throws { try draw.check() }

  func run() throws {
    let folder = ModelDirectory(checkpoint)
    guard let tokens = try folder.instructionTokens() else {
      throw CLIError("\(folder.path) is not instruction-tuned (no sft.json); make one with `swiftgpt finetune --task sft`")
    }
    let model = try folder.loadGPT()
    if let adapterFolder = adapter ?? folder.adapterFolder { try LoRAAdapter(peftFolder: adapterFolder, for: model).merge(into: model) }
    let tokenizer = try folder.tokenizer(override: self.tokenizer, vocabSize: model.vocabSize)
    var rng = RandomGenerator(seed: draw.seed)
    var history: [ChatMessage] = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
    let interactive = Terminal.stdoutIsTTY
    while true {
      if interactive { Terminal.write("> ") }
      guard let line = readLine() else { break }
      if line == "/reset" {
        history = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        continue
      }
      guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
      history.append(ChatMessage(role: "user", content: line))
      let prompt = try tokens.encode(tokens.template.replyPrompt(history: history), maxLength: Int.max) {
        try encodeText($0, with: tokenizer)
      }.ids
      var text = StreamingDecoder(tokenizer: tokenizer)
      var reply = ""
      var failure: Error?
      _ = model.generate(prompt: prompt, maxNewTokens: draw.maxNewTokens, sampling: draw.sampling, stopTokens: [tokens.end],
                         rng: &rng) { token in
        guard Int(token) < tokenizer.vocabSize else { return true }  // the markers print nothing
        do {
          let piece = try text.append(Int(token))
          reply += piece
          Terminal.write(piece)
        } catch {
          failure = error
          return false
        }
        return true
      }
      if let failure { throw failure }
      let rest = text.finish()
      Terminal.write(rest + "\n")
      history.append(ChatMessage(role: "assistant", content: reply + rest))
    }
  }
}
