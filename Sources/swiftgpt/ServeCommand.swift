import ArgumentParser
import FileSupport
import Foundation
import Inference
import Tokenizers
import Server

/// `swiftgpt serve`: an OpenAI-compatible HTTP API for a model.
struct ServeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Serve a model over the OpenAI HTTP API (/v1/models, /v1/completions, /v1/chat/completions, streaming).",
    discussion: """
      CHECKPOINT is a run folder, a fine-tuned model or a HF GPT-2 folder, as for `sample`. \
      /v1/chat/completions needs a model from `finetune --task sft` (ChatML). Also /health, \
      /tokenize, /detokenize, /slots and /metrics (llama.cpp's). Up to --parallel requests are \
      decoded together, one token each per step; more wait in arrival order. \
      Ctrl-C or SIGTERM stops the server.
      """)

  @Option(help: "A run folder, a model folder or a HF GPT-2 folder.") var checkpoint: String
  @Option(help: "A PEFT LoRA adapter folder to merge (default: CHECKPOINT/adapter if present).") var adapter: String?
  @Option(help: "Tokenizer (default: the model's).") var tokenizer: String?
  @Option(help: "Address to listen on.") var host = "127.0.0.1"
  @Option(help: "Port (0: any free port).") var port = 8080
  @Option(help: "The model id clients name (default: the checkpoint folder's name).") var alias: String?
  @Option(help: "Slots: generations decoded together (continuous batching); more requests wait.") var parallel = 4
  @Option(help: "Requests that may wait for a slot; more get a 503 with Retry-After.") var maxWaiting = 64
  @Option(help: "An API key requests must present (Authorization: Bearer KEY or X-Api-Key).") var apiKey: String?
  @Option(help: "A file of API keys, one a line (# comments).") var apiKeyFile: String?
  @Option(help: "Let web pages from this origin call the API (CORS), e.g. http://localhost:3000.") var cors: String?
  @Option(help: "The largest request body in bytes.") var maxBodyBytes = 2 << 20
  @Option(parsing: .upToNextOption, help: "More tokenizer files /tokenize offers, by file name (beside the model's, gpt2 and cl100k_base).")
  var tokenizers: [String] = []
  @OptionGroup var threads: ThreadsOption

  func validate() throws {
    guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535, got \(port)") }
    guard (1...256).contains(parallel) else { throw ValidationError("--parallel must be in 1...256, got \(parallel)") }
    guard maxWaiting >= 0 else { throw ValidationError("--max-waiting must be ≥ 0, got \(maxWaiting)") }
    guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive, got \(maxBodyBytes)") }
  }

  func run() throws {
    threads.apply()
    var options = ServerOptions()
    (options.corsOrigin, options.maxBodyBytes, options.maxWaiting) = (cors, maxBodyBytes, maxWaiting)
    for path in tokenizers { options.tokenizers[(path as NSString).lastPathComponent] = try loadTokenizer(path) }
    options.apiKeys = apiKey.map { [$0] } ?? []
    if let apiKeyFile {
      let text = try readTextFile(apiKeyFile)
      options.apiKeys += text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }
    let server = try ModelServer(folder: ModelDirectory(checkpoint), tokenizer: tokenizer, adapter: adapter, modelID: alias,
                                 slots: parallel)
    let (host, port) = (self.host, self.port)
    let done = DispatchSemaphore(value: 0)
    let outcome = Outcome()
    Task {
      do {
        try await serve(server, host: host, port: port, options: options) { url in
          Terminal.write("swiftgpt serve: \(server.modelID) on \(url) (OpenAI API at \(url)/v1)\n")
        }
      } catch { outcome.error = error }
      done.signal()
    }
    done.wait()
    if let error = outcome.error { throw error }
  }
}

/// How the server task ended (set once, read after it signalled).
private final class Outcome: @unchecked Sendable { var error: (any Error)? }
