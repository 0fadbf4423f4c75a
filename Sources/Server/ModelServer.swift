import Foundation
import Inference
import Prometheus
import Models
import TensorEngine
import Tokenizers

/// What one completion asks of the model: the prompt's token ids and how to sample.
struct GenerationJob: Sendable {
  var prompt: [Int32]
  var maxTokens: Int
  var sampling: SamplingOptions
  var seed: UInt64
  var stop: [String]
  var stopTokens: Set<Int32>
  /// Added to the logits before sampling, by token id.
  var logitBias: [Int: Float] = [:]
  /// Subtracted from a sampled token's logit at every later step: `frequency` times the times
  /// it was sampled, plus `presence` (OpenAI's penalties).
  var penalties: (frequency: Float, presence: Float) = (0, 0)
  /// llama.cpp's repeat penalty: the logit of each token among the last `lastN` (prompt
  /// included) divided by `penalty` when positive, multiplied when negative.
  var repetition: (penalty: Float, lastN: Int) = (1, 0)
  /// Alternatives to report per token (nil: no log probabilities).
  var logprobs: Int?
}

/// A generated token's log probability under the model (before any bias), with the most
/// likely alternatives.
struct TokenLogprob: Sendable {
  var id: Int
  var logprob: Float
  var top: [(id: Int, logprob: Float)]
}

/// Text a generation passes on as it goes, with the log probabilities of the tokens it
/// completes (when the job asked for them).
struct GeneratedPiece: Sendable {
  var text: String
  var logprobs: [TokenLogprob]
}

/// How one completion ended.
struct GenerationResult: Sendable {
  var text: String
  var tokens: Int
  /// `stop` (a stop token or string) or `length` (max_tokens).
  var finishReason: String
  /// Seconds from taking a slot to the end.
  var seconds: Double
  /// Per token of `text`, with `GenerationJob.logprobs`.
  var logprobs: [TokenLogprob] = []
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: Value
  init(_ value: Value) { stored = value }
  var value: Value { lock.withLock { stored } }
  func update(_ change: (inout Value) -> Void) { lock.withLock { change(&stored) } }
  /// Runs `body` on the value while holding the lock.
  func read(_ body: (Value) -> Void) { lock.withLock { body(stored) } }
}

/// Set from another task to end a generation after its current token (a closed connection).
final class CancelFlag: Sendable {
  private let flag = Locked(false)
  var isSet: Bool { flag.value }
  func set() { flag.update { $0 = true } }
}

/// The served model: weights, tokenizer and chat markers, and the `Scheduler` that runs the
/// generations — `slots` of them decoded together for a GPT (continuous batching), one at a
/// time for a bigram model.
public final class ModelServer: @unchecked Sendable {
  public let modelID: String
  let model: any LanguageModel
  let tokenizer: any Tokenizer
  /// The instruction markers of a model from `finetune --task sft`; nil: no chat template.
  let chat: InstructionTokens?
  let scheduler: Scheduler
  /// What `/metrics` shows (Prometheus text format).
  let metrics = PrometheusCollectorRegistry()
  private let promptTokens, predictedTokens, requests, predictedSeconds: Counter
  private let tokensPerSecond: Gauge

  /// The context a prompt and its completion share (`--ctx`, at most the model's).
  let contextLength: Int

  /// Serves `model` with `slots` generations decoded together (GPT models), each within
  /// `context` tokens (default: the model's context).
  public init(model: any LanguageModel, tokenizer: any Tokenizer, chat: InstructionTokens?, modelID: String, slots: Int = 4,
              context: Int? = nil) {
    (self.model, self.tokenizer, self.chat, self.modelID) = (model, tokenizer, chat, modelID)
    contextLength = Self.contextLength(of: model, asked: context)
    requests = metrics.makeCounter(descriptor: metric("swiftgpt_requests_total", "Generations run."))
    promptTokens = metrics.makeCounter(descriptor: metric("swiftgpt_prompt_tokens_total", "Prompt tokens read."))
    predictedTokens = metrics.makeCounter(descriptor: metric("swiftgpt_tokens_predicted_total", "Tokens generated."))
    predictedSeconds = metrics.makeCounter(descriptor: metric("swiftgpt_tokens_predicted_seconds_total", "Seconds spent generating."))
    tokensPerSecond = metrics.makeGauge(descriptor: metric("swiftgpt_predicted_tokens_seconds", "Tokens per second of the last generation."))
    let processing = metrics.makeGauge(descriptor: metric("swiftgpt_requests_processing", "Busy slots (generations running)."))
    let deferred = metrics.makeGauge(descriptor: metric("swiftgpt_requests_deferred", "Generations waiting for a slot."))
    let onLoad: @Sendable (Int, Int) -> Void = { running, waiting in
      processing.set(Int64(running))
      deferred.set(Int64(waiting))
    }
    let capacity = contextLength
    let decoder: any SlotDecoder = (model as? GPT).map { BatchDecoder(model: $0, slots: max(1, slots), capacity: capacity) }
      ?? SingleSlotDecoder(model)
    scheduler = Scheduler(decoder: decoder, tokenizer: tokenizer, onLoad: onLoad)
    onLoad(0, 0)
  }

  /// The context a request of `model` may use: `asked` (`--ctx`), at most the model's.
  private static func contextLength(of model: any LanguageModel, asked: Int?) -> Int {
    min(model.contextLength ?? 1 << 20, asked ?? .max)
  }

  /// Opens a model folder as `sample` and `chat` do (its adapter merged in), on `device`; a
  /// `context` beyond the model's positions is an error.
  public convenience init(folder: ModelDirectory, tokenizer override: String? = nil, adapter: String? = nil,
                          modelID: String? = nil, slots: Int = 4, context: Int? = nil, device: Device = .cpu) throws {
    let model = try folder.loadModel()
    if let context, let positions = model.contextLength, context > positions {
      throw ModelError.unsupported("a context of \(context) tokens: \(folder.name) has \(positions) positions")
    }
    // The slots' caches, checked before anything is allocated (they fill as the slots do, so too
    // many would end in the system's out-of-memory kill under load rather than here).
    if let gpt = model as? GPT, device.gpu == nil {
      let capacity = Self.contextLength(of: gpt, asked: context)
      let bytes = 4 * Double(gpt.parameters.count) + BatchDecoder.cacheBytes(gpt.config, slots: slots, capacity: capacity)
      if let refusal = MemoryLimit.refusal("serving \(slots) slots of \(capacity) tokens", needs: bytes, lower: "--parallel or --ctx") {
        throw ModelError.unsupported(refusal)
      }
    }
    if let gpt = model as? GPT, let adapterFolder = adapter ?? folder.adapterFolder {
      try LoRAAdapter(peftFolder: adapterFolder, for: gpt).merge(into: gpt)
    }
    model.parameters.place(on: device)
    let tokenizer = try folder.tokenizer(override: override, vocabSize: model.vocabSize)
    self.init(model: model, tokenizer: tokenizer, chat: try folder.instructionTokens(),
              modelID: modelID ?? folder.name, slots: slots, context: context)
  }

  /// The end-of-text token, where plain completions stop.
  var endOfText: Int32? { tokenizer.specialTokens.ids["<|endoftext|>"].map(Int32.init) }

  /// The slots and which are decoding.
  var slots: (count: Int, busy: Set<Int>) { (scheduler.slots, scheduler.busySlots) }

  /// Requests waiting for a slot.
  var waiting: Int { scheduler.waitingCount }

  /// A place for one more request unless `limit` are in flight (see `Scheduler.admit`).
  func admit(limit: Int) -> AdmissionTicket? { scheduler.admit(limit: limit) }

  /// Runs `job` (queued with the others of `together`); `onOutput` gets the text as it is
  /// decided (never part of a stop string). Returns when the generation ends.
  func generate(_ job: GenerationJob, cancel: CancelFlag, together: Scheduler.Together? = nil,
                onOutput: @escaping @Sendable (GeneratedPiece) -> Void) async throws -> GenerationResult {
    let result = try await scheduler.run(job, cancel: cancel, together: together, onOutput: onOutput)
    requests.increment()
    promptTokens.increment(by: Int64(job.prompt.count))
    predictedTokens.increment(by: Int64(result.tokens))
    predictedSeconds.increment(by: result.seconds)
    tokensPerSecond.set(Double(result.tokens) / max(result.seconds, 1e-9))
    return result
  }
}

/// The descriptor of the metric `name` (emitted as is) with its help line.
private func metric(_ name: String, _ help: String) -> MetricNameDescriptor {
  MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}

/// Holds back text that may be the start of a stop string, and cuts the text at the first stop
/// string found: a stop string never reaches the client, even split over tokens.
struct StopFilter {
  let stops: [String]
  /// The text let through so far.
  private(set) var text = ""
  private var pending = ""
  private(set) var stopped = false

  init(stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

  /// Takes the next piece and returns what can be sent now.
  mutating func feed(_ piece: String) -> String {
    guard !stopped else { return "" }
    pending += piece
    if let cut = stops.compactMap({ pending.range(of: $0)?.lowerBound }).min() {
      stopped = true
      return release(upTo: cut)
    }
    // Keep back the longest tail that is the start of a stop string.
    var keep = 0
    for stop in stops {
      for n in stride(from: min(stop.count, pending.count), to: 0, by: -1) where pending.hasSuffix(String(stop.prefix(n))) {
        keep = max(keep, n)
        break
      }
    }
    return release(upTo: pending.index(pending.endIndex, offsetBy: -keep))
  }

  /// What is still held back, at the end of the generation.
  mutating func finish() -> String { stopped ? "" : release(upTo: pending.endIndex) }

  /// Lets `pending[..<end]` through; after a stop the rest is dropped.
  private mutating func release(upTo end: String.Index) -> String {
    let ready = String(pending[..<end])
    pending = stopped ? "" : String(pending[end...])
    text += ready
    return ready
  }
}
