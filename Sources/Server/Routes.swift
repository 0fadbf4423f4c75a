import FileSupport
import Foundation
import HTTPTypes
import Hummingbird
import Inference
import Models
import TensorEngine
import Tokenizers

/// How `swiftgpt serve` is set up.
public struct ServerOptions: Sendable {
  /// API keys a request must present (`Authorization: Bearer KEY` or `X-Api-Key: KEY`); none: open.
  public var apiKeys: [String] = []
  /// The largest request body, in bytes (a larger one is a JSON 413).
  public var maxBodyBytes = 2 << 20
  /// The one origin browsers may call the API from (CORS); nil: none but the server's own.
  public var corsOrigin: String?
  /// Requests that may wait for a slot; beyond them a request gets a 503 with `Retry-After`.
  public var maxWaiting = 64
  /// More tokenizers `/tokenize` offers, by name (beside the model's, gpt2 and cl100k_base).
  public var tokenizers: [String: any Tokenizer] = [:]
  /// A training run to show on `/dashboard` (`serve --run`).
  public var dashboard: TrainingDashboard?

  public init() {}

  /// The API keys in the text of a key file: one a line, around which spaces and a Windows
  /// line end are dropped; blank lines and `#` comments are skipped.
  public static func apiKeys(inKeyFile text: String) -> [String] {
    text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { !$0.isEmpty && !$0.hasPrefix("#") }
  }
}

/// The model a server answers with, set once it has loaded; until then the API answers 503
/// ("Loading model", as llama.cpp) and `/health` says so.
public final class ServedModel: Sendable {
  private let server = Locked<ModelServer?>(nil)

  public init(_ server: ModelServer? = nil) { self.server.update { $0 = server } }

  /// Starts answering with `loaded`.
  public func set(_ loaded: ModelServer) { server.update { $0 = loaded } }

  /// The model, or a 503 while it loads.
  func get() throws -> ModelServer {
    guard let server = server.value else {
      throw APIError(.serviceUnavailable, "unavailable_error", "Loading model", retryAfter: 1)
    }
    return server
  }
}

/// The OpenAI-compatible API of a `ModelServer`: `GET /health`, `GET /v1/models` (and `/v1/models/ID`),
/// `POST /v1/completions`, `POST /v1/chat/completions` (whole or streamed as server-sent
/// events), `POST /tokenize`, `POST /detokenize`, `GET /props`, `GET /metrics` (Prometheus) and
/// `GET /slots`; and the playground's pages (`/`, `/chat`, and `/dashboard` with a run).
public func makeRouter(_ model: ServedModel, options: ServerOptions = ServerOptions()) -> Router<BasicRequestContext> {
  let router = Router()
  router.add(middleware: OpenAIErrorMiddleware())
  if let origin = options.corsOrigin { router.add(middleware: CORSMiddleware(allowOrigin: .custom(origin))) }
  router.add(middleware: APIKeyMiddleware(keys: options.apiKeys))
  let settings = APISettings(options)
  let api = { @Sendable () throws -> API in API(server: try model.get(), settings: settings) }
  for path in ["health", "v1/health"] {
    router.get(RouterPath(path)) { _, _ in
      _ = try model.get()
      return ["status": "ok"]
    }
  }
  router.get("v1/models") { _, _ in try encodeJSON(try api().models()) }
  // OpenAI's "retrieve model" (`client.models.retrieve(id)`); an id may hold slashes (`--alias org/name`).
  router.get("v1/models/**") { _, context in
    try encodeJSON(try api().model(id: context.parameters.getCatchAll().joined(separator: "/")))
  }
  router.post("v1/completions") { request, _ in try await api().completions(request) }
  router.post("v1/chat/completions") { request, _ in try await api().chatCompletions(request) }
  router.post("tokenize") { request, _ in try await api().tokenize(request) }
  router.post("detokenize") { request, _ in try await api().detokenize(request) }
  router.get("props") { _, _ in try encodeJSON(try api().props()) }
  router.get("metrics") { _, _ in
    let server = try model.get()
    return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                    body: .init(byteBuffer: ByteBuffer(bytes: server.metrics.emitToBuffer())))
  }
  router.get("slots") { _, _ in
    let server = try model.get()
    let (count, busy) = server.slots
    return try encodeJSON((0..<count).map { SlotState(id: $0, n_ctx: server.contextLength, is_processing: busy.contains($0)) })
  }
  addPages(["/": "tokenizer.html", "/chat": "chat.html"], to: router)
  addAssets(to: router)
  if let dashboard = options.dashboard { addDashboard(dashboard, to: router) }
  return router
}

/// The router of a loaded model (tests, and callers that load before serving).
public func makeRouter(_ server: ModelServer, options: ServerOptions = ServerOptions()) -> Router<BasicRequestContext> {
  makeRouter(ServedModel(server), options: options)
}

/// One entry of `GET /slots` (llama.cpp's fields).
struct SlotState: Encodable {
  var id: Int
  var n_ctx: Int
  var is_processing: Bool
}

/// `GET /props`: what the playground needs to know of the server (llama.cpp has the endpoint
/// for the same purpose).
struct Props: Encodable {
  var model: String
  var n_ctx: Int
  var n_vocab: Int
  var total_slots: Int
  /// `chatml` for a model from `finetune --task sft`, else nil (completions only).
  var chat_template: String?
  /// The names `/tokenize` takes.
  var tokenizers: [String]
  /// Whether `/dashboard` shows a training run.
  var dashboard: Bool
}

/// What the handlers share across requests.
final class APISettings: Sendable {
  let maxBodyBytes: Int
  let maxWaiting: Int
  let tokenizers: [String: any Tokenizer]
  let hasDashboard: Bool
  /// The names `/tokenize` takes: the model's, the built-in encodings and the files given.
  let tokenizerNames: [String]
  let started = Int(Date().timeIntervalSince1970)
  /// The built-in encodings `/tokenize` was asked for, built once (cl100k_base takes ~0.1 s).
  let encodings = Locked<[String: Encoding]>([:])

  init(_ options: ServerOptions) {
    (maxBodyBytes, maxWaiting, tokenizers) = (options.maxBodyBytes, options.maxWaiting, options.tokenizers)
    hasDashboard = options.dashboard != nil
    tokenizerNames = ["model"] + Encoding.names + options.tokenizers.keys.sorted()
  }
}

/// The handlers, for a loaded model.
struct API: Sendable {
  let server: ModelServer
  let settings: APISettings
  var maxBodyBytes: Int { settings.maxBodyBytes }
  var maxWaiting: Int { settings.maxWaiting }
  var tokenizers: [String: any Tokenizer] { settings.tokenizers }

  func models() -> ModelList {
    var meta = ["n_vocab": server.model.vocabSize, "n_params": server.model.parameters.count]
    if let context = server.model.contextLength { meta["n_ctx_train"] = context }
    return ModelList(data: [.init(id: server.modelID, created: settings.started, meta: meta)])
  }

  /// The served model's card, if `id` names it; else a 404 as OpenAI answers an unknown model.
  func model(id: String) throws -> ModelList.Card {
    guard id == server.modelID else {
      throw APIError(.notFound, "invalid_request_error", "the model '\(id)' does not exist: this server serves '\(server.modelID)'")
    }
    return models().data[0]
  }

  func props() -> Props {
    Props(model: server.modelID, n_ctx: server.contextLength, n_vocab: server.model.vocabSize, total_slots: server.slots.count,
          chat_template: server.chat?.template == .chat ? "chatml" : server.chat.map { $0.template.rawValue },
          tokenizers: settings.tokenizerNames, dashboard: settings.hasDashboard)
  }

  /// The request body as `T`; bad JSON is a 400 naming the problem, a body over the limit a 413.
  func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
    var request = request
    return try await decode(type, &request)
  }

  /// The request body as `T`, leaving `request` with its body collected.
  func decode<T: Decodable>(_ type: T.Type, _ request: inout Request) async throws -> T {
    let body: ByteBuffer
    do { body = try await request.collectBody(upTo: maxBodyBytes) } catch {
      throw APIError(.contentTooLarge, "invalid_request_error", "the request body is larger than \(maxBodyBytes) bytes")
    }
    let data = Data(buffer: body)
    do { return try JSONDecoder().decode(T.self, from: data) } catch let error as APIError { throw error } catch {
      throw APIError.badRequest(problem(decoding: data, error))
    }
  }

  /// What is wrong with a request body that did not decode, naming the field where the decoder
  /// says which (`'messages[0].role' must be a string`).
  private func problem(decoding body: Data, _ error: any Error) -> String {
    guard (try? JSONSerialization.jsonObject(with: body, options: .fragmentsAllowed)) != nil else {
      return "the request body is not JSON"
    }
    guard let error = error as? DecodingError else { return "the request body cannot be read: \(describe(error))" }
    func field(_ path: [any CodingKey]) -> String {
      let text = path.map { key in key.intValue.map { "[\($0)]" } ?? "." + key.stringValue }.joined()
      return text.hasPrefix(".") ? String(text.dropFirst()) : text
    }
    switch error {
    case .keyNotFound(let key, let context): return "'\(field(context.codingPath + [key]))' is required"
    case .valueNotFound(_, let context): return "'\(field(context.codingPath))' must not be null"
    case .typeMismatch(let type, let context):
      guard !context.codingPath.isEmpty else { return "the request body must be a JSON object" }
      let expected = switch "\(type)" {
      case "String": "a string"
      case "Bool": "true or false"
      case "Int", "Int64", "UInt64": "an integer"
      case "Float", "Double": "a number"
      case let name where name.hasPrefix("Array"): "a list"
      case let name where name.hasPrefix("Dictionary"): "an object"
      default: "\(type)"
      }
      return "'\(field(context.codingPath))' must be \(expected)"
    case .dataCorrupted(let context) where !context.codingPath.isEmpty:
      return "'\(field(context.codingPath))': \(context.debugDescription)"
    default:
      return "a number in the request body does not fit its field (a fraction or a negative number where a count is needed, "
        + "or out of range)"
    }
  }

  func completions(_ request: Request) async throws -> Response {
    var request = request
    let body = try await decode(CompletionRequest.self, &request)
    let prompts: [[Int32]]
    switch body.prompt {
    case .texts(let texts):
      guard !texts.isEmpty else { throw APIError.badRequest("'prompt' is an empty list") }
      prompts = try texts.map { try server.tokenizer.encodeUserText($0).ids.map(Int32.init) }
    case .ids(let ids):
      guard let bad = ids.first(where: { $0 < 0 || $0 >= server.model.vocabSize }) else { prompts = [ids.map(Int32.init)]; break }
      throw APIError.badRequest("token id \(bad) in 'prompt' is outside the model's vocabulary of \(server.model.vocabSize)")
    }
    let stopTokens: Set<Int32> = server.endOfText.map { [$0] } ?? []
    return try await respond(prompts: prompts, fields: body.fields, stopTokens: stopTokens, chat: false, request: request)
  }

  func chatCompletions(_ request: Request) async throws -> Response {
    var request = request
    let body = try await decode(ChatRequest.self, &request)
    guard let chat = server.chat else {
      throw APIError.badRequest("the model \(server.modelID) has no chat template (it was not instruction-tuned with "
        + "`swiftgpt finetune --task sft`); use /v1/completions")
    }
    guard !body.messages.isEmpty else { throw APIError.badRequest("'messages' is empty") }
    guard body.messages.last?.role == "user" || body.messages.last?.role == "system" else {
      throw APIError.badRequest("the last message must be the user's")
    }
    let history = body.messages.map { ChatMessage(role: $0.role, content: $0.content) }
    let prompt = try chat.encode(chat.template.replyPrompt(history: history), maxLength: Int.max) {
      try server.tokenizer.encodeUserText($0).ids
    }.ids
    return try await respond(prompts: [prompt], fields: body.fields, stopTokens: [chat.end], chat: true, request: request)
  }

  /// Runs every prompt `n` times and answers whole or as a stream (`request`, its body read: to
  /// stop the generations of a whole answer when its client goes away).
  private func respond(prompts: [[Int32]], fields: SamplingFields, stopTokens: Set<Int32>, chat: Bool,
                       request: Request) async throws -> Response {
    // The place is held until the answer is complete (the stream's end included).
    guard let ticket = server.admit(limit: server.slots.count + maxWaiting) else {
      throw APIError(.serviceUnavailable, "unavailable_error", "every slot is busy and \(server.waiting) requests wait; try again",
                     retryAfter: 1)
    }
    let jobs = try self.jobs(prompts: prompts, fields: fields, stopTokens: stopTokens, chat: chat)
    let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24).lowercased()
    let head = CompletionResponse(id: id, object: chat ? "chat.completion" : "text_completion",
                                  created: Int(Date().timeIntervalSince1970), model: server.modelID, choices: [])
    // Each prompt counts once, however many choices (n) it has.
    let promptTokens = prompts.reduce(0) { $0 + $1.count }
    if fields.stream == true {
      return stream(jobs, head: head, chat: chat, promptTokens: promptTokens,
                    includeUsage: fields.stream_options?.include_usage == true, ticket: ticket)
    }
    var response = head
    var usage = Usage(prompt_tokens: promptTokens, completion_tokens: 0, total_tokens: 0)
    // The choices decode side by side, each in a slot of its own (a slot's tokens do not depend
    // on the others', so the answer is the same as one after another). A client that closes its
    // connection before the answer stops them after the current token.
    let server = self.server
    let cancel = CancelFlag()
    let results = try await request.body.consumeWithInboundCloseHandler({ _ in
      try await withThrowingTaskGroup(of: (Int, GenerationResult).self) { group in
        let together = Scheduler.Together(jobs.count)
        for (index, job) in jobs.enumerated() {
          group.addTask { (index, try await server.generate(job, cancel: cancel, together: together) { _ in }) }
        }
        var results = [GenerationResult?](repeating: nil, count: jobs.count)
        for try await (index, result) in group { results[index] = result }
        return results.map { $0! }
      }
    }, onInboundClosed: { cancel.set() })
    for (index, (job, result)) in zip(jobs, results).enumerated() {
      let logprobs = self.logprobs(result.logprobs, for: job, chat: chat)
      response.choices.append(chat
        ? .init(index: index, message: .init(role: "assistant", content: result.text), finish_reason: result.finishReason,
                logprobs: logprobs)
        : .init(index: index, text: result.text, finish_reason: result.finishReason, logprobs: logprobs))
      usage.completion_tokens += result.tokens
    }
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
    response.usage = usage
    // Watching for the client's close ends the connection after the answer: say so, so that
    // clients open a new one for their next request.
    var answer = try withExtendedLifetime(ticket) { try encodeJSON(response) }
    answer.headers[.connection] = "close"
    return answer
  }

  /// The generations a request asks for, `n` per prompt, its fields checked (a 400 names the
  /// first one wrong).
  private func jobs(prompts: [[Int32]], fields: SamplingFields, stopTokens: Set<Int32>, chat: Bool) throws -> [GenerationJob] {
    let sampling = SamplingOptions(temperature: fields.temperature ?? 1, topK: fields.top_k, topP: fields.top_p, minP: fields.min_p)
    if let problem = sampling.problem { throw APIError.badRequest(problem) }
    let n = fields.n ?? 1
    guard (1...16).contains(n) else { throw APIError.badRequest("'n' must be between 1 and 16, got \(n)") }
    let asked = try fields.maxTokens
    if let asked, asked < 0 { throw APIError.badRequest("'max_tokens' must be ≥ 0, got \(asked)") }
    let stops = fields.stop?.strings ?? []
    guard stops.count <= 4 else { throw APIError.badRequest("'stop' takes at most 4 strings") }
    let logitBias = try self.logitBias(fields.logit_bias ?? [:])
    if let unsupported = fields.unsupported { throw APIError.badRequest(unsupported) }
    let penalties = (frequency: fields.frequency_penalty ?? 0, presence: fields.presence_penalty ?? 0)
    for (name, value) in [("frequency_penalty", penalties.frequency), ("presence_penalty", penalties.presence)] {
      guard (-2...2).contains(value) else { throw APIError.badRequest("'\(name)' must be in [-2, 2], got \(value)") }
    }
    let repeatPenalty = fields.repeat_penalty ?? 1, lastN = fields.repeat_last_n ?? 64
    guard repeatPenalty > 0 && repeatPenalty.isFinite else { throw APIError.badRequest("'repeat_penalty' must be positive (1: off), got \(repeatPenalty)") }
    guard lastN >= -1 else { throw APIError.badRequest("'repeat_last_n' must be ≥ -1 (-1: the context), got \(lastN)") }
    let repetition = (penalty: repeatPenalty, lastN: lastN == -1 ? server.contextLength : lastN)
    let logprobs = try self.logprobs(fields, chat: chat)
    var jobs: [GenerationJob] = []
    for prompt in prompts {
      guard !prompt.isEmpty else { throw APIError.badRequest("the prompt is empty") }
      guard prompt.count < server.contextLength else {
        throw APIError.contextExceeded("the prompt has \(prompt.count) tokens; the model's context is \(server.contextLength)")
      }
      // max_tokens is clamped to what the context leaves.
      let room = server.contextLength - prompt.count
      let maxTokens = min(asked ?? room, room)
      let seed = fields.seed?.value ?? UInt64.random(in: 0...UInt64.max)
      for k in 0..<n {
        jobs.append(GenerationJob(prompt: prompt, maxTokens: maxTokens, sampling: sampling, seed: seed &+ UInt64(k),
                                  stop: stops, stopTokens: stopTokens, logitBias: logitBias, penalties: penalties,
                                  repetition: repetition, logprobs: logprobs))
      }
    }
    return jobs
  }

  /// `logit_bias` by token id; ids must be in the vocabulary and biases in [-100, 100].
  private func logitBias(_ bias: [String: Float]) throws -> [Int: Float] {
    var out: [Int: Float] = [:]
    for (key, value) in bias {
      guard let id = Int(key), (0..<server.model.vocabSize).contains(id) else {
        throw APIError.badRequest("'logit_bias' key '\(key)' is not a token id of the model's vocabulary")
      }
      guard (-100...100).contains(value) else { throw APIError.badRequest("'logit_bias' values must be in [-100, 100], got \(value)") }
      out[id] = value
    }
    return out
  }

  /// How many alternatives per token the request wants, or nil for no log probabilities:
  /// completions' `logprobs` (0–5), chat's `logprobs: true` with `top_logprobs` (0–20).
  private func logprobs(_ fields: SamplingFields, chat: Bool) throws -> Int? {
    if chat, fields.top_logprobs != nil {
      guard case .flag(true)? = fields.logprobs else { throw APIError.badRequest("'top_logprobs' needs 'logprobs': true") }
    }
    let count: Int?
    switch (fields.logprobs, chat) {
    case (nil, _), (.flag(false), true): count = nil
    case (.flag(true), true): count = fields.top_logprobs ?? 0
    case (.count(let n), false): count = n
    case (.count, true): throw APIError.badRequest("chat takes 'logprobs': true and 'top_logprobs': N")
    case (.flag, false): throw APIError.badRequest("completions take 'logprobs': N, the number of alternatives")
    }
    guard let count else { return nil }
    guard (0...(chat ? 20 : 5)).contains(count) else {
      throw APIError.badRequest("\(chat ? "'top_logprobs'" : "'logprobs'") must be between 0 and \(chat ? 20 : 5), got \(count)")
    }
    guard server.model is GPT else { throw APIError.badRequest("log probabilities need a GPT model") }
    return count
  }

  /// Log probabilities in the endpoint's format, if the request asked; completions count
  /// `text_offset` from `offset` (the characters of the choice's text before these tokens).
  private func logprobs(_ entries: [TokenLogprob], for job: GenerationJob, chat: Bool, offset: Int = 0) -> CompletionResponse.Logprobs? {
    job.logprobs.map { _ in chat ? chatLogprobs(entries) : completionLogprobs(entries, offset: offset) }
  }

  private func tokenText(_ id: Int) -> (text: String, bytes: [UInt8]) {
    let bytes = server.tokenizer.tokenBytes(id) ?? []
    return (String(decoding: bytes, as: UTF8.self), bytes)
  }

  /// Chat's `logprobs.content`: per token its text, log probability, bytes and alternatives.
  private func chatLogprobs(_ entries: [TokenLogprob]) -> CompletionResponse.Logprobs {
    CompletionResponse.Logprobs(content: entries.map { entry in
      let (text, bytes) = tokenText(entry.id)
      return .init(token: text, logprob: entry.logprob, bytes: bytes, top_logprobs: entry.top.map { alternative in
        let (text, bytes) = tokenText(alternative.id)
        return .init(token: text, logprob: alternative.logprob, bytes: bytes)
      })
    })
  }

  /// Completions' `logprobs`: tokens, their log probabilities, the alternatives and where each
  /// token starts in the text.
  private func completionLogprobs(_ entries: [TokenLogprob], offset: Int) -> CompletionResponse.Logprobs {
    let tokens = entries.map { tokenText($0.id).text }
    var offsets: [Int] = [], offset = offset
    for token in tokens {
      offsets.append(offset)
      offset += token.count
    }
    return CompletionResponse.Logprobs(
      tokens: tokens, token_logprobs: entries.map(\.logprob),
      top_logprobs: entries.map { entry in
        Dictionary(entry.top.map { (tokenText($0.id).text, $0.logprob) }) { first, _ in first }
      }, text_offset: offsets)
  }

  /// Server-sent events: for chat the role first, then content deltas (each with the log
  /// probabilities of the tokens it completes, if asked), then a chunk with the finish reason (per
  /// choice), the usage chunk if asked for, and `data: [DONE]`. The choices (`n`) decode side by
  /// side, each in a slot of its own, their chunks interleaved as they come, as OpenAI sends them.
  /// A client that goes away stops the generations after the current token.
  private func stream(_ jobs: [GenerationJob], head: CompletionResponse, chat: Bool, promptTokens: Int,
                      includeUsage: Bool, ticket: AdmissionTicket) -> Response {
    var template = head
    if chat { template.object = "chat.completion.chunk" }
    let chunk = template
    let server = self.server
    /// What a choice's generation passes to the writer.
    enum Event {
      case piece(Int, GeneratedPiece)
      case finished(Int, Result<GenerationResult, any Error>)
    }
    let body = ResponseBody { writer in
      // The request keeps its place until the stream ends (or the body is dropped).
      defer { withExtendedLifetime(ticket) {} }
      func send(_ choices: [CompletionResponse.Choice], usage: Usage? = nil) async throws {
        var event = chunk
        (event.choices, event.usage) = (choices, usage)
        try await writer.write(serverSentEvent(try jsonEncoder.encode(event)))
      }
      if chat {
        for index in jobs.indices { try await send([.init(index: index, delta: .init(role: "assistant", content: ""))]) }
      }
      let (events, continuation) = AsyncStream<Event>.makeStream()
      let (cancel, together) = (CancelFlag(), Scheduler.Together(jobs.count))
      let generations = jobs.enumerated().map { index, job in
        Task {
          // A choice's pieces are yielded by the decode loop before its generation returns.
          do {
            let result = try await server.generate(job, cancel: cancel, together: together) { continuation.yield(.piece(index, $0)) }
            continuation.yield(.finished(index, .success(result)))
          } catch {
            continuation.yield(.finished(index, .failure(error)))
          }
        }
      }
      Task {
        for generation in generations { await generation.value }
        continuation.finish()
      }
      var usage = Usage(prompt_tokens: promptTokens, completion_tokens: 0, total_tokens: 0)
      var offsets = [Int](repeating: 0, count: jobs.count)
      do {
        for await event in events {
          switch event {
          case .piece(let index, let piece):
            let logprobs = logprobs(piece.logprobs, for: jobs[index], chat: chat, offset: offsets[index])
            offsets[index] += piece.text.count
            try await send([chat ? .init(index: index, delta: .init(content: piece.text), logprobs: logprobs)
                                 : .init(index: index, text: piece.text, logprobs: logprobs)])
          case .finished(let index, let result):
            let result = try result.get()
            try await send([chat ? .init(index: index, delta: .init(), finish_reason: result.finishReason)
                                 : .init(index: index, text: "", finish_reason: result.finishReason)])
            usage.completion_tokens += result.tokens
          }
        }
      } catch {
        cancel.set()  // the client went away, or a generation failed: the others stop too
        for generation in generations { await generation.value }
        throw error
      }
      if includeUsage {
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
        try await send([], usage: usage)
      }
      try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
      try await writer.finish(nil)
    }
    return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
  }

  func tokenize(_ request: Request) async throws -> Response {
    let body = try await decode(TokenizeRequest.self, request)
    let name = body.tokenizer ?? "model"
    let tokenizer: any Tokenizer
    switch name {
    case "model", server.modelID: tokenizer = server.tokenizer
    case _ where tokenizers[name] != nil: tokenizer = tokenizers[name]!
    case _ where Encoding.names.contains(name): tokenizer = try encoding(name)
    default: throw APIError.badRequest("unknown tokenizer '\(name)': use \(settings.tokenizerNames.joined(separator: ", "))")
    }
    // The text in parts: the content, or the messages in ChatML, whose markers are the model's
    // own tokens (named by their text) for the model's tokenizer and plain text for any other.
    let markers = name == "model" || name == server.modelID ? chatMarkers : nil
    let markerNames = markers.map(Self.names) ?? [:]
    let parts: [(text: String, ids: [Int])]
    switch (body.content, body.messages) {
    case (let content?, nil): parts = [(content, try tokenizer.encodeUserText(content).ids)]
    case (nil, let messages?):
      parts = try InstructionTemplate.chat.replyPrompt(history: messages.map { ChatMessage(role: $0.role, content: $0.content) })
        .map { piece in
          let (text, marker): (String, Int32?) = switch piece {
          case .text(let text, _): (text, nil)
          case .start: (InstructionTemplate.startToken, markers?.start)
          case .end: (InstructionTemplate.endToken, markers?.end)
          }
          return (text, try marker.map { [Int($0)] } ?? tokenizer.encodeUserText(text).ids)
        }
    default: throw APIError.badRequest("give either 'content' or 'messages'")
    }
    let ids = parts.flatMap(\.ids)
    var answer = TokenizeResponse(count: ids.count)
    // A piece is its text when its bytes are valid UTF-8 on their own, else the bytes (llama.cpp).
    answer.tokens = body.with_pieces == true ? .pieces(ids.map { id in
      let bytes = markerNames[id].map { Array($0.utf8) } ?? tokenizer.tokenBytes(id) ?? []
      return .init(id: id, piece: String(validating: bytes, as: UTF8.self) ?? bytes.map { String(format: "\\x%02X", $0) }.joined(),
                   bytes: bytes)
    }) : .ids(ids)
    if body.with_segments == true {
      answer.segments = parts.flatMap { part in
        part.ids.count == 1 && markerNames[part.ids[0]] != nil ? [.init(text: part.text, ids: part.ids)]
          : tokenizer.segments(of: part.text, ids: part.ids).map { .init(text: $0.text, ids: $0.ids) }
      }
    }
    return try encodeJSON(answer)
  }

  /// The built-in encoding `name`, from the cache.
  private func encoding(_ name: String) throws -> Encoding {
    if let cached = settings.encodings.value[name] { return cached }
    let built = try Encoding.named(name)
    settings.encodings.update { $0[name] = built }
    return built
  }

  /// The model's ChatML markers, when it has that template.
  private var chatMarkers: InstructionTokens? { server.chat.flatMap { $0.template == .chat ? $0 : nil } }

  /// The markers' ids → their text.
  private static func names(_ markers: InstructionTokens) -> [Int: String] {
    [Int(markers.start): InstructionTemplate.startToken, Int(markers.end): InstructionTemplate.endToken]
  }

  /// The text of `tokens`; the ChatML markers of the model (which `/tokenize` gives for
  /// `messages`) are their text.
  func detokenize(_ request: Request) async throws -> Response {
    let body = try await decode(DetokenizeRequest.self, request)
    let names = chatMarkers.map(Self.names) ?? [:]
    do {
      var content = "", run: [Int] = []
      for id in body.tokens {
        guard let name = names[id] else { run.append(id); continue }
        content += try server.tokenizer.decode(run) + name
        run = []
      }
      return try encodeJSON(["content": content + (try server.tokenizer.decode(run))])
    } catch {
      throw APIError.badRequest("\(error)")
    }
  }

}

/// A JSON response.
func encodeJSON(_ value: some Encodable) throws -> Response {
  Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try jsonEncoder.encode(value))))
}

/// One server-sent event carrying `json`: `data: {json}\n\n`, written straight into the buffer.
func serverSentEvent(_ json: Data) -> ByteBuffer {
  var buffer = ByteBuffer()
  buffer.reserveCapacity(json.count + 8)
  buffer.writeStaticString("data: ")
  buffer.writeBytes(json)
  buffer.writeStaticString("\n\n")
  return buffer
}

/// Compact JSON with sorted keys: the same bytes for the same answer.
let jsonEncoder = {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
  return encoder
}()

/// Checks the API key of every request but the public paths (`/health`, the pages); keys are
/// compared in constant time, and an empty key is never accepted.
struct APIKeyMiddleware: RouterMiddleware {
  let keys: [[UInt8]]

  init(keys: [String]) { self.keys = keys.map { Array($0.utf8) } }

  func handle(_ request: Request, context: BasicRequestContext, next: (Request, BasicRequestContext) async throws -> Response)
    async throws -> Response
  {
    guard !keys.isEmpty, !isPublicPath(request.uri.path), request.method != .options else {
      return try await next(request, context)
    }
    let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
    guard let given = bearer ?? request.headers[HTTPField.Name("X-Api-Key")!], !given.isEmpty,
          keys.contains(where: { equalInConstantTime($0, Array(given.utf8)) })
    else { throw APIError(.unauthorized, "authentication_error", "Invalid API Key") }
    return try await next(request, context)
  }
}

/// Whether `a` equals `b`, in a time that depends on their lengths only.
func equalInConstantTime(_ a: [UInt8], _ b: [UInt8]) -> Bool {
  var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
  for i in 0..<max(a.count, b.count) { difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0) }
  return difference == 0
}

/// Gives every error the OpenAI shape: Hummingbird's own (404 for an unknown path, 405) and
/// anything unexpected (500).
struct OpenAIErrorMiddleware: RouterMiddleware {
  func handle(_ request: Request, context: BasicRequestContext, next: (Request, BasicRequestContext) async throws -> Response)
    async throws -> Response
  {
    do {
      return try await next(request, context)
    } catch let error as APIError {
      throw error
    } catch let error as HTTPError {
      let type = error.status == .notFound ? "not_found_error" : error.status.code < 500 ? "invalid_request_error" : "server_error"
      throw APIError(error.status, type, error.body ?? error.status.reasonPhrase)
    } catch {
      throw APIError(.internalServerError, "server_error", "\(error)")
    }
  }
}

/// The answer of `POST /tokenize`: `tokens` as llama.cpp sends them (ids, or `{id, piece}` with
/// `with_pieces`), their count, and with `with_segments` the grapheme-aligned segments.
struct TokenizeResponse: Encodable {
  enum Tokens: Encodable {
    case ids([Int]), pieces([Piece])
    func encode(to encoder: any Encoder) throws {
      switch self {
      case .ids(let ids): try ids.encode(to: encoder)
      case .pieces(let pieces): try pieces.encode(to: encoder)
      }
    }
  }
  /// A token: its id, its text (or `\xNN` escapes when its bytes are not UTF-8 alone) and
  /// its bytes.
  struct Piece: Encodable { var id: Int; var piece: String; var bytes: [UInt8] }
  struct Segment: Encodable { var text: String; var ids: [Int] }
  var tokens: Tokens = .ids([])
  var count: Int
  var segments: [Segment]?

  init(count: Int) { self.count = count }
}
