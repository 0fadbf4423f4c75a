import Foundation
import Models
import TensorEngine
import Tokenizers

/// What the scheduler decodes with: slots, each fed a prompt, then stepped a token at a time.
protocol SlotDecoder: AnyObject {
  var slots: Int { get }
  /// Why decoding stopped working (a GPU failure), if it did.
  var failure: String? { get }
  func reset(slot: Int)
  func prefill(slot: Int, _ tokens: [Int32]) -> [Float]
  /// The longest prompt `step` takes.
  var stepPromptLimit: Int { get }
  func step(_ batch: [(slot: Int, tokens: [Int32])]) -> [[Float]]
}

extension BatchDecoder: SlotDecoder {}

/// One slot over a model's own decoder, for models without a `BatchDecoder` (bigram).
final class SingleSlotDecoder: SlotDecoder {
  private var decoder: any TokenDecoder

  init(_ model: any LanguageModel) { decoder = model.makeDecoder(precision: .float32) }

  var slots: Int { 1 }
  var failure: String? { nil }
  func reset(slot: Int) { decoder.reset() }
  func prefill(slot: Int, _ tokens: [Int32]) -> [Float] { decoder.append(tokens) }
  var stepPromptLimit: Int { .max }
  func step(_ batch: [(slot: Int, tokens: [Int32])]) -> [[Float]] { batch.map { decoder.append($0.tokens) } }
}

/// The decode loop: up to `slots` generations decoded together, one token each per step
/// (continuous batching with a GPT's `BatchDecoder`: a request takes a free slot at the next
/// step, its prompt fed in that step when short, and leaves it when it ends; requests beyond
/// the slots wait in arrival order). It runs on a thread of its own, so the HTTP event loops
/// never run the model.
final class Scheduler: @unchecked Sendable {
  private let decoder: any SlotDecoder
  private let tokenizer: any Tokenizer
  private let condition = NSCondition()
  /// Guarded by `condition`.
  private var waiting: [Pending] = []
  private var active: [Int: Generation] = [:]
  /// Called with (running, waiting) whenever either changes.
  private let onLoad: @Sendable (Int, Int) -> Void

  init(decoder: any SlotDecoder, tokenizer: any Tokenizer, onLoad: @escaping @Sendable (Int, Int) -> Void) {
    self.decoder = decoder
    (self.tokenizer, self.onLoad) = (tokenizer, onLoad)
    // The thread keeps the scheduler alive: it parks on `condition` while idle, for the life of
    // the process.
    let thread = Thread { self.loop() }
    thread.name = "swiftgpt.serve.decode"
    thread.start()
  }

  var slots: Int { decoder.slots }

  /// Which slots are decoding now.
  var busySlots: Set<Int> { condition.withLock { Set(active.keys) } }

  /// Requests waiting for a slot.
  var waitingCount: Int { condition.withLock { waiting.count } }

  /// Requests admitted and not yet answered. Guarded by `condition`.
  private var admitted = 0

  /// Admits one more request unless `limit` are already in flight, counting it in the same
  /// step as the check (two requests arriving together cannot both take the last place). The
  /// request holds its place until the ticket is released.
  func admit(limit: Int) -> AdmissionTicket? {
    let granted = condition.withLock { () -> Bool in
      guard admitted < limit else { return false }
      admitted += 1
      return true
    }
    return granted ? AdmissionTicket(self) : nil
  }

  fileprivate func leave() { condition.withLock { admitted -= 1 } }

  /// Queues `job` (with the others of `together`, when it is one of them); returns when it has
  /// ended.
  func run(_ job: GenerationJob, cancel: CancelFlag, together: Together? = nil,
           onOutput: @escaping @Sendable (GeneratedPiece) -> Void) async throws -> GenerationResult {
    try await withCheckedThrowingContinuation { continuation in
      let pending = Pending(job: job, cancel: cancel, onOutput: onOutput, continuation: continuation)
      let arrived = together.map { $0.arrive(pending) } ?? [pending]
      guard !arrived.isEmpty else { return }
      condition.withLock {
        waiting += arrived
        onLoad(active.count, waiting.count)
        condition.signal()
      }
    }
  }

  /// The generations of one request (its `n` choices): queued only once all have arrived, so that
  /// they take their slots in the same step (where enough are free) and decode side by side.
  final class Together: @unchecked Sendable {
    private let count: Int
    private let lock = NSLock()
    private var arrived: [Pending] = []

    init(_ count: Int) { self.count = count }

    /// Holds `pending` back, or returns all of them once it is the last.
    fileprivate func arrive(_ pending: Pending) -> [Pending] {
      lock.withLock {
        arrived.append(pending)
        return arrived.count == count ? arrived : []
      }
    }
  }

  /// Requests waiting or decoding, what the admission limit counts.
  var admittedCount: Int { condition.withLock { admitted } }

  fileprivate struct Pending {
    var job: GenerationJob
    var cancel: CancelFlag
    var onOutput: @Sendable (GeneratedPiece) -> Void
    var continuation: CheckedContinuation<GenerationResult, any Error>
  }

  /// One generation in a slot: its random stream, text so far and next input token.
  private struct Generation {
    var pending: Pending
    var rng: RandomGenerator
    var text: StreamingDecoder
    var filter: StopFilter
    var tokens = 0
    var next: Int32 = 0
    /// With `logprobs`: the tokens that added text not yet passed on, and those passed on.
    var heldLogprobs: [TokenLogprob] = []
    var sentLogprobs: [TokenLogprob] = []
    /// The bytes of the tokens of `sentLogprobs`.
    var sentBytes = 0
    /// With penalties: how many times each token was sampled.
    var sampled: [Int: Int] = [:]
    /// With a repeat penalty: the last tokens it looks at.
    var recent: [Int32] = []
    /// When it took its slot.
    let start = DispatchTime.now().uptimeNanoseconds
  }

  private func loop() {
    while true {
      // Take waiting requests into free slots.
      condition.lock()
      while waiting.isEmpty && active.isEmpty { condition.wait() }
      var admitted: [(Int, Pending)] = []
      while !waiting.isEmpty, let slot = (0..<decoder.slots).first(where: { active[$0] == nil && !admitted.map(\.0).contains($0) }) {
        admitted.append((slot, waiting.removeFirst()))
      }
      let stepping = active
      condition.unlock()
      var updated = stepping
      // One step for every slot that was already decoding, and for new requests with short
      // prompts; a long prompt is fed alone, as one matrix product.
      var entries = stepping.keys.sorted().map { (slot: $0, tokens: [stepping[$0]!.next]) }
      var generations = entries.map { stepping[$0.slot]! }
      for (slot, pending) in admitted {
        var generation = Generation(pending: pending, rng: RandomGenerator(seed: pending.job.seed),
                                    text: StreamingDecoder(tokenizer: tokenizer), filter: StopFilter(stops: pending.job.stop))
        if pending.job.repetition.penalty != 1 { generation.recent = Array(pending.job.prompt.suffix(pending.job.repetition.lastN)) }
        if pending.job.maxTokens == 0 { finish(&generation, reason: "length"); continue }
        decoder.reset(slot: slot)
        if pending.job.prompt.count <= decoder.stepPromptLimit {
          entries.append((slot: slot, tokens: pending.job.prompt))
          generations.append(generation)
          continue
        }
        let logits = decoder.prefill(slot: slot, pending.job.prompt)
        var alone = [generation]
        if accept(choose([logits], for: &alone)[0], into: &alone[0]) { updated[slot] = alone[0] }
      }
      if !entries.isEmpty {
        let logits = decoder.step(entries)
        for (i, choice) in choose(logits, for: &generations).enumerated() {
          updated[entries[i].slot] = accept(choice, into: &generations[i]) ? generations[i] : nil
        }
      }
      condition.withLock {
        active = updated
        onLoad(active.count, waiting.count)
      }
    }
  }

  /// A sampled token, with its log probability when the request asks for them.
  private struct Choice {
    var token: Int32
    var logprob: TokenLogprob?
  }

  /// Samples each generation's next token from its row of `logits`, advancing its random
  /// stream: in parallel, as a draw over a large vocabulary (a sort too, with top-k, top-p or
  /// top logprobs) takes a while for every slot, and each slot draws from its own stream (the
  /// same tokens as one after another).
  private func choose(_ logits: [[Float]], for generations: inout [Generation]) -> [Choice] {
    var choices = [Choice](repeating: Choice(token: 0), count: logits.count)
    if decoder.failure != nil { return choices }  // `accept` answers with the failure
    var streams = generations.map(\.rng)
    let (jobs, sampled, recent) = (generations.map(\.pending.job), generations.map(\.sampled), generations.map(\.recent))
    choices.withUnsafeMutableBufferPointer { choicesOut in
      streams.withUnsafeMutableBufferPointer { streamsInOut in
        let (out, rngs) = (UncheckedSendable(choicesOut.baseAddress!), UncheckedSendable(streamsInOut.baseAddress!))
        Parallel.forEach(logits.count) { i in
          let (job, row) = (jobs[i], logits[i])
          var biased = row
          for (id, bias) in job.logitBias { biased[id] += bias }
          for id in Set(recent[i]).map(Int.init) {
            biased[id] = biased[id] > 0 ? biased[id] / job.repetition.penalty : biased[id] * job.repetition.penalty
          }
          for (id, times) in sampled[i] { biased[id] -= Float(times) * job.penalties.frequency + job.penalties.presence }
          let token = job.sampling.sample(biased, rng: &rngs.value[i])
          let logprob = job.logprobs.map { Self.logprob(of: token, in: row, top: $0) }
          out.value[i] = Choice(token: Int32(token), logprob: logprob)
        }
      }
    }
    for i in generations.indices { generations[i].rng = streams[i] }
    return choices
  }

  /// Takes the sampled token: passes its text on, and says whether the generation goes on
  /// (else it has been finished).
  private func accept(_ choice: Choice, into g: inout Generation) -> Bool {
    if let failure = decoder.failure {
      g.pending.continuation.resume(throwing: APIError(.internalServerError, "server_error", failure))
      return false
    }
    let job = g.pending.job
    let token = choice.token
    g.tokens += 1
    if job.penalties != (0, 0) { g.sampled[Int(token), default: 0] += 1 }
    if job.repetition.penalty != 1 && job.repetition.lastN > 0 {
      g.recent.append(token)
      if g.recent.count > job.repetition.lastN { g.recent.removeFirst() }
    }
    if job.stopTokens.contains(token) { finish(&g, reason: "stop"); return false }
    if Int(token) < tokenizer.vocabSize {  // the instruction markers add no text
      if let logprob = choice.logprob { g.heldLogprobs.append(logprob) }
      do {
        pass(g.filter.feed(try g.text.append(Int(token))), of: &g, final: false)
      } catch {
        g.pending.continuation.resume(throwing: error)
        return false
      }
    }
    if g.filter.stopped || g.pending.cancel.isSet { finish(&g, reason: "stop"); return false }
    if g.tokens >= job.maxTokens { finish(&g, reason: "length"); return false }
    g.next = token
    return true
  }

  /// Passes on `text` (let through by the stop filter) with the log probabilities of the tokens
  /// whose text it completes; `final`: of every token whose text starts before the end (a stop
  /// string cuts the rest).
  private func pass(_ text: String, of g: inout Generation, final: Bool) {
    let end = g.filter.text.utf8.count
    var sent: [TokenLogprob] = []
    while let next = g.heldLogprobs.first {
      let bytes = tokenizer.tokenBytes(next.id)?.count ?? 0
      guard final ? g.sentBytes < end : g.sentBytes + bytes <= end else { break }
      sent.append(g.heldLogprobs.removeFirst())
      g.sentBytes += bytes
    }
    g.sentLogprobs += sent
    if !text.isEmpty || !sent.isEmpty { g.pending.onOutput(GeneratedPiece(text: text, logprobs: sent)) }
  }

  /// Passes on the text held back and ends the request.
  private func finish(_ g: inout Generation, reason: String) {
    pass(g.filter.feed(g.text.finish()) + g.filter.finish(), of: &g, final: true)
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - g.start) / 1e9
    g.pending.continuation.resume(returning: GenerationResult(text: g.filter.text, tokens: g.tokens, finishReason: reason,
                                                              seconds: seconds, logprobs: g.sentLogprobs))
  }

  /// `id`'s log probability under `logits` (log-softmax), with the `top` most likely tokens.
  private static func logprob(of id: Int, in logits: [Float], top: Int) -> TokenLogprob {
    let peak = logits.max()!
    let logTotal = Float(log(logits.reduce(0.0) { $0 + exp(Double($1 - peak)) })) + peak
    let best = top == 0 ? [] : tokensByLogit(logits).prefix(top).map { (id: $0, logprob: logits[$0] - logTotal) }
    return TokenLogprob(id: id, logprob: logits[id] - logTotal, top: Array(best))
  }
}

/// A request's place among those the server admits: given back when the ticket is released.
final class AdmissionTicket: Sendable {
  private let scheduler: Scheduler

  fileprivate init(_ scheduler: Scheduler) { self.scheduler = scheduler }

  deinit { scheduler.leave() }
}
