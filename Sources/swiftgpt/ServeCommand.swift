import ArgumentParser
import FileSupport
import Foundation
import Inference
import Tokenizers
import Server
import Training

/// `swiftgpt serve`: an OpenAI-compatible HTTP API for a model, with the playground.
struct ServeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Serve a model over the OpenAI HTTP API, with a tokenizer and chat playground in the browser.",
    discussion: """
      CHECKPOINT is a run folder, a fine-tuned model or a HF GPT-2 folder, as for `sample`. \
      /v1/chat/completions needs a model from `finetune --task sft` (ChatML). Also /health (503 \
      while the model loads), /tokenize, /detokenize, /props, /slots and /metrics (llama.cpp's). \
      The playground: / (tokenizer), /chat, and with --run /dashboard (the run's curves). Up to \
      --parallel requests are decoded together, one token each per step; more wait in arrival \
      order. A character-level model leaves out of prompts the characters it never saw (the \
      tokenizer page strikes them out). Ctrl-C or SIGTERM stops the server.
      """)

  @Option(help: "A run folder, a model folder or a HF GPT-2 folder (default: the --run folder).") var checkpoint: String?
  @Option(name: .customLong("run"), help: "A training run folder (`train --out`) to show on /dashboard, from its log.csv.")
  var runFolder: String?
  @Option(help: "A PEFT LoRA adapter folder to merge (default: CHECKPOINT/adapter if present).") var adapter: String?
  @Option(help: "Tokenizer (default: the model's).") var tokenizer: String?
  @Option(help: "Address to listen on.") var host = "127.0.0.1"
  @Option(help: "Port (0: any free port).") var port = 8080
  @Option(help: "The model id clients name (default: the checkpoint folder's name).") var alias: String?
  @Option(help: "Slots: generations decoded together (continuous batching); more requests wait.") var parallel = 4
  @Option(help: "Context per request, prompt and completion (default and most: the model's).") var ctx: Int?
  @Option(help: "Requests that may wait for a slot; more get a 503 with Retry-After.") var maxWaiting = 64
  @Option(help: "An API key requests must present (Authorization: Bearer KEY or X-Api-Key).") var apiKey: String?
  @Option(help: "A file of API keys, one a line (# comments).") var apiKeyFile: String?
  @Option(help: "Let web pages from this origin call the API (CORS), e.g. http://localhost:3000.") var cors: String?
  @Option(help: "The largest request body in bytes.") var maxBodyBytes = 2 << 20
  @Option(parsing: .upToNextOption, help: "More tokenizer files /tokenize offers, by file name (beside the model's, gpt2 and cl100k_base).")
  var tokenizers: [String] = []
  @OptionGroup var threads: ThreadsOption
  @OptionGroup var device: DeviceOption

  func validate() throws {
    guard checkpoint != nil || runFolder != nil else { throw ValidationError("give --checkpoint DIR (or --run OUT to serve a run)") }
    guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535, got \(port)") }
    guard (1...256).contains(parallel) else { throw ValidationError("--parallel must be in 1...256, got \(parallel)") }
    if let apiKey, apiKey.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
      throw ValidationError("--api-key is empty (an unset variable?): give the key clients must present")
    }
    if let alias, alias.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--alias is empty: give the model id clients name") }
    let names = tokenizers.map { ($0 as NSString).lastPathComponent }
    if let twice = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
      throw ValidationError("--tokenizers names two files \(twice): /tokenize offers them by file name; rename one")
    }
    if let cors, cors.trimmingCharacters(in: .whitespaces).isEmpty {
      throw ValidationError("--cors is empty: give the origin of the pages that may call the API, e.g. http://localhost:3000")
    }
    if let ctx, ctx < 2 { throw ValidationError("--ctx must be at least 2, got \(ctx)") }
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
      let keys = ServerOptions.apiKeys(inKeyFile: try readTextFile(apiKeyFile))
      guard !keys.isEmpty else {
        throw CLIError("\(apiKeyFile) has no API key (one a line; # starts a comment): the server would be open to anyone")
      }
      options.apiKeys += keys
    }
    if let runFolder { options.dashboard = try finishedRunDashboard(runFolder) }
    let folder = ModelDirectory(checkpoint ?? runFolder!)
    // Listen first: /health answers 503 while the model loads.
    let served = ServedModel()
    let web = try WebServer(makeRouter(served, options: options), host: host, port: port, stopOnSignals: true)
    Terminal.write("swiftgpt serve: listening on \(web.url); loading \(folder.path) …\n")
    let (device, where_) = try self.device.resolve()
    let server = try ModelServer(folder: folder, tokenizer: tokenizer, adapter: adapter, modelID: alias, slots: parallel, context: ctx,
                                 device: device)
    served.set(server)
    Terminal.write("swiftgpt serve: \(server.modelID) on \(web.url) (OpenAI API at \(web.url)/v1; playground \(web.url)/"
      + (runFolder == nil ? "" : ", dashboard \(web.url)/dashboard") + ")" + (device.gpu == nil ? "" : ", decoding on \(where_)") + "\n")
    try web.wait()
  }
}

/// The dashboard of the run in `out`, from its `log.csv` and checkpoints.
func finishedRunDashboard(_ out: String) throws -> TrainingDashboard {
  let out = normalizedPath(out)
  guard FileManager.default.fileExists(atPath: out + "/log.csv") else {
    throw CLIError("\(out) has no training log (log.csv): give the --out folder of `swiftgpt train`")
  }
  let rows = try readLog(out + "/log.csv")
  guard !rows.isEmpty else { throw CLIError("\(out)/log.csv has no steps yet: the run has not logged one") }
  let dashboard = TrainingDashboard(title: (out as NSString).lastPathComponent, info: ["run": out, "log": out + "/log.csv"], rows: rows)
  for name in ["latest", "best"] {
    if let step = checkpointStep(out + "/" + name) { dashboard.recordCheckpoint(out + "/" + name, step: step) }
  }
  dashboard.finish()
  return dashboard
}
