import ArgumentParser
import Foundation
import Inference
import Models
import TensorEngine
import Tokenizers

/// `swiftgpt chat`: talk to an instruction-tuned model in the terminal.
struct ChatCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "chat",
    abstract: "Chat with a model from `swiftgpt finetune --task sft` (streams replies, keeps the history).",
    discussion: """
      Reads one message per line from standard input. /reset forgets the history; /exit, exit, \
      quit or the end of input (Ctrl-D) quits; empty lines are skipped. CHECKPOINT may be the \
      model folder, or a training run whose best/ (else latest/) checkpoint is used, as in \
      `sample`. The model's LoRA adapter (CHECKPOINT/adapter, or --adapter) is merged into its \
      weights first. Replies stop at <|im_end|>.
      """)

  @Option(help: "Instruction-tuned model folder (or a run folder).") var checkpoint: String
  @Option(help: "A PEFT LoRA adapter folder to apply (default: CHECKPOINT/adapter if present).") var adapter: String?
  @Option(help: "A system message to start the conversation (chat template).") var system: String?
  @Option(help: "Tokenizer (default: the model's).") var tokenizer: String?
  @OptionGroup var draw: SamplingFlags
  @OptionGroup var threads: ThreadsOption
  @OptionGroup var device: DeviceOption

  func validate() throws { try draw.check() }

  func run() throws {
    threads.apply()
    let folder = ModelDirectory(checkpoint)
    guard let tokens = try folder.instructionTokens() else {
      throw CLIError("\(folder.path) is not instruction-tuned (no sft.json); make one with `swiftgpt finetune --task sft`")
    }
    let model = try folder.loadGPT()
    if let adapterFolder = adapter ?? folder.adapterFolder { try LoRAAdapter(peftFolder: adapterFolder, for: model).merge(into: model) }
    let tokenizer = try folder.tokenizer(override: self.tokenizer, vocabSize: model.vocabSize)
    let device = try self.device.place([model.parameters])
    var rng = RandomGenerator(seed: draw.seed)
    let start: [ChatMessage] = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
    var history = start
    let interactive = Terminal.stdinIsTTY
    if interactive {
      Terminal.error("chatting with \(folder.path) (\(tokens.template.rawValue) template); /reset forgets the history, "
        + "/exit or Ctrl-D quits")
    }
    while true {
      if interactive { Terminal.write("> ") }
      guard let line = readLine() else {
        if interactive { Terminal.write("\n") }  // Ctrl-D leaves the prompt on its own line
        break
      }
      let message = line.trimmingCharacters(in: .whitespaces)
      if message.isEmpty { continue }
      if ["/exit", "/quit", "exit", "quit"].contains(message) { break }
      if message == "/reset" {
        history = start
        Terminal.error("(history cleared)")
        continue
      }
      history.append(ChatMessage(role: "user", content: line))
      let dropped = DroppedCharacters()
      _ = try encodeText(line, with: tokenizer, dropped: dropped)
      dropped.report()
      let prompt = try tokens.encode(tokens.template.replyPrompt(history: history), maxLength: Int.max) {
        try encodeText($0, with: tokenizer)
      }.ids
      let (reply, _) = try model.generateText(
        prompt: prompt, tokenizer: tokenizer, maxNewTokens: draw.maxNewTokens, sampling: draw.sampling,
        stopTokens: [tokens.end], precision: draw.precision, rng: &rng, onText: Terminal.write)
      try device.gpu?.checkFailure()
      Terminal.write("\n")
      history.append(ChatMessage(role: "assistant", content: reply))
    }
  }
}
