import Foundation
import Testing
import TensorEngine
import Tokenizers
@testable import Models

@Suite("Generation: KV cache and sampling")
struct GenerationTests {
  @Test("KV-cached logits equal a full forward pass at every position, prompt prefilled or not")
  func cacheMatchesForward() throws {
    let config = GPTConfig(vocabSize: 37, blockSize: 16, nLayer: 2, nHead: 4, nEmbd: 32, bias: true)
    let model = try GPT(config: config, seed: 11)
    let ids: [Int32] = (0..<16).map { Int32(($0 * 7 + 3) % 37) }
    let full = withoutGrad { model.forward(ids, batch: 1, length: 16).logits }
    var decoder = model.makeDecoder()
    var logits = decoder.append(Array(ids.prefix(5)))  // prefill
    #expect(relativeError(logits, Array(full.scalars[(4 * 37)..<(5 * 37)])) < 1e-5)
    for t in 5..<16 {
      logits = decoder.append([ids[t]])
      #expect(relativeError(logits, Array(full.scalars[(t * 37)..<((t + 1) * 37)])) < 1e-5, "position \(t)")
    }
    #expect(decoder.count == 16)
    decoder.reset()
    #expect(relativeError(decoder.append([ids[0]]), Array(full.scalars[0..<37])) < 1e-5)
  }

  @Test("bfloat16 decoding stays within about 1 % of the Float32 logits")
  func bfloat16Decoder() throws {
    let config = GPTConfig(vocabSize: 37, blockSize: 16, nLayer: 2, nHead: 4, nEmbd: 48, bias: true)
    let model = try GPT(config: config, seed: 5)
    var exact = model.makeDecoder(precision: .float32), reduced = model.makeDecoder(precision: .bfloat16)
    let prompt: [Int32] = [3, 1, 4]
    #expect(exact.append(prompt) == reduced.append(prompt))  // prompts use the Float32 weights
    for token: Int32 in [1, 5, 9, 2, 6] {
      let (a, b) = (exact.append([token]), reduced.append([token]))
      let error = relativeError(b, a)
      #expect(error > 0 && error < 2e-2, "relative error \(error)")
    }
  }

  @Test("greedy and top-k 1 pick the argmax; top-p keeps the smallest nucleus")
  func samplingRules() {
    let logits: [Float] = [0.1, 2.0, -1.0, 1.9, 0.5]
    var rng = RandomGenerator(seed: 1)
    #expect(SamplingOptions(temperature: 0).sample(logits, rng: &rng) == 1)
    for _ in 0..<20 { #expect(SamplingOptions(temperature: 1, topK: 1).sample(logits, rng: &rng) == 1) }
    // p(1) ≈ 0.43, p(3) ≈ 0.39: top-p 0.5 keeps exactly tokens 1 and 3.
    var seen = Set<Int>()
    for _ in 0..<200 { seen.insert(SamplingOptions(temperature: 1, topP: 0.5).sample(logits, rng: &rng)) }
    #expect(seen == [1, 3])
    var topTwo = Set<Int>()
    for _ in 0..<200 { topTwo.insert(SamplingOptions(temperature: 1, topK: 2).sample(logits, rng: &rng)) }
    #expect(topTwo == [1, 3])
    // top-k 0 is off and top-p 0 keeps the most likely token, as in transformers, llama.cpp and
    // OpenAI (top-k 0 was an error, and would have emptied the candidates; top-p 0 was an error).
    var all = Set<Int>()
    for _ in 0..<200 { all.insert(SamplingOptions(temperature: 1, topK: 0).sample(logits, rng: &rng)) }
    #expect(all == [0, 1, 2, 3, 4])
    for _ in 0..<20 { #expect(SamplingOptions(temperature: 1, topP: 0).sample(logits, rng: &rng) == 1) }
    // min-p 0.3 keeps the tokens at least 0.3 times as likely as token 1: 3 (e^-0.1 ≈ 0.90) is in,
    // 4 (e^-1.5 ≈ 0.22) out; at temperature 2 the ratios are their square roots: 4 (≈ 0.47) and 0
    // (≈ 0.39) come in, 2 (≈ 0.22) stays out.
    var minP = Set<Int>(), hotter = Set<Int>()
    for _ in 0..<300 {
      minP.insert(SamplingOptions(temperature: 1, minP: 0.3).sample(logits, rng: &rng))
      hotter.insert(SamplingOptions(temperature: 2, minP: 0.3).sample(logits, rng: &rng))
    }
    #expect(minP == [1, 3] && hotter == [0, 1, 3, 4])
    #expect(SamplingOptions(minP: 1.5).problem != nil && SamplingOptions(minP: 0).problem == nil)
    #expect(SamplingOptions(temperature: -1).problem != nil)
    #expect(SamplingOptions(topK: -1).problem != nil && SamplingOptions(topK: 0).problem == nil && SamplingOptions(topP: 0).problem == nil)
    #expect(SamplingOptions(topP: 1.5).problem != nil && SamplingOptions(topP: -0.1).problem != nil)
    #expect(SamplingOptions(temperature: 0.7, topK: 5, topP: 0.9).problem == nil)
  }

  @Test("multinomial sampling follows softmax(logits / T)")
  func samplingDistribution() {
    let logits: [Float] = [1, 0, -1, 2]
    let temperature: Float = 0.8
    let weights = logits.map { exp(Double($0 / temperature)) }
    let expected = weights.map { $0 / weights.reduce(0, +) }
    var rng = RandomGenerator(seed: 42)
    var counts = [Int](repeating: 0, count: 4)
    let n = 40_000
    for _ in 0..<n { counts[SamplingOptions(temperature: temperature).sample(logits, rng: &rng)] += 1 }
    for i in 0..<4 {
      let observed = Double(counts[i]) / Double(n)
      #expect(abs(observed - expected[i]) < 0.01, "token \(i): \(observed) vs \(expected[i])")
    }
  }

  @Test("sampling picks what sorting the candidates by comparison picks (ties, signed zeros, negatives); without top-k or top-p, the draw walks the ids in order")
  func samplingOrderIsTheComparisonOrder() {
    // The sampler before it sorted packed integer keys, drew over all the tokens without a sort, or took
    // its weights from `vexp`: the reference.
    func reference(_ o: SamplingOptions, _ logits: [Float], _ rng: inout RandomGenerator) -> Int {
      if o.topK == nil && (o.topP ?? 1) >= 1 && o.minP == nil {
        let top = logits.max()!
        let weights = logits.map { vexp(($0 - top) * (1 / o.temperature)) }
        var r = Double(rng.next() >> 11) * 0x1p-53 * Double(vsum(weights, weights.count))
        for (id, w) in weights.enumerated() {
          r -= Double(w)
          if r < 0 { return id }
        }
        return weights.count - 1
      }
      var order = Array(logits.indices)
      order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
      if let topK = o.topK, topK < order.count { order.removeLast(order.count - topK) }
      let top = logits.max()!
      var weights = order.map { Double(vexp((logits[$0] - top) * (1 / o.temperature))) }
      var total = weights.reduce(0, +)
      if let topP = o.topP, topP < 1 {
        var cumulative = 0.0, keep = 0
        while keep < weights.count {
          cumulative += weights[keep] / total
          keep += 1
          if cumulative >= Double(topP) { break }
        }
        weights.removeLast(weights.count - keep)
        total = weights.reduce(0, +)
      }
      if let minP = o.minP {
        let threshold = Double(minP) * weights.max()!
        weights = weights.filter { $0 >= threshold }
        total = weights.reduce(0, +)
      }
      var r = Double(rng.next() >> 11) * 0x1p-53 * total
      for (i, w) in weights.enumerated() {
        r -= w
        if r < 0 { return order[i] }
      }
      return order[weights.count - 1]
    }
    var values = RandomGenerator(seed: 11)
    // Few distinct values, so many ties; both zeros; negatives.
    let logits = (0..<3000).map { _ in [Float(0), -0.0, 1.5, -1.5, 2.25, -7, 0.125][Int(values.next() % 7)] + (values.next() % 5 == 0 ? values.nextUniform() : 0) }
    for options in [SamplingOptions(temperature: 1), SamplingOptions(temperature: 0.6, topP: 1), SamplingOptions(temperature: 0.7, topK: 50),
                    SamplingOptions(temperature: 1.3, topP: 0.9), SamplingOptions(temperature: 1.1, topK: 2000, minP: 0.05)] {
      var (a, b) = (RandomGenerator(seed: 5), RandomGenerator(seed: 5))
      let picked = (0..<200).map { _ in options.sample(logits, rng: &a) }
      #expect(picked == (0..<200).map { _ in reference(options, logits, &b) })
      #expect(Set(picked).count > 5)
    }
    for bits in [1, 11, 12, 49, 64] {
      var keys = (0..<5000).map { _ in values.next() >> UInt64(64 - bits) }
      let expected = keys.sorted()
      radixSort(&keys, bits: bits)
      #expect(keys == expected, "\(bits) bits")
    }
    // Sorting by the high half only keeps equal halves in their order (the low halves here).
    var pairs = (0..<5000).map { UInt64($0) | (values.next() % 40) << 32 }
    let stable = pairs.enumerated().sorted { ($0.element >> 32, $0.offset) < ($1.element >> 32, $1.offset) }.map(\.element)
    radixSort(&pairs, bits: 38, from: 32)
    #expect(pairs == stable)
  }

  @Test("generation is reproducible from the seed, stops at a stop token, and runs past the context")
  func generateLoop() throws {
    let model = try GPT(config: GPTConfig(vocabSize: 20, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16), seed: 2)
    var a = RandomGenerator(seed: 9), b = RandomGenerator(seed: 9)
    let first = model.generate(prompt: [1, 2], maxNewTokens: 30, sampling: SamplingOptions(), rng: &a)
    let second = model.generate(prompt: [1, 2], maxNewTokens: 30, sampling: SamplingOptions(), rng: &b)
    #expect(first.count == 30 && first == second)
    let stop = first[3]
    var c = RandomGenerator(seed: 9)
    let stopped = model.generate(prompt: [1, 2], maxNewTokens: 30, sampling: SamplingOptions(), stopTokens: [stop], rng: &c)
    #expect(stopped == Array(first.prefix(first.firstIndex(of: stop)! + 1)))
    // Greedy past the context equals greedy by full forward passes over the last half-window.
    var d = RandomGenerator(seed: 0)
    let greedy = model.generate(prompt: [3], maxNewTokens: 12, sampling: SamplingOptions(temperature: 0), rng: &d)
    var context: [Int32] = [3]
    var decoderCount = 1
    var expected: [Int32] = []
    for _ in 0..<12 {
      let logits = withoutGrad { model.forward(context, batch: 1, length: context.count).logits.scalars.suffix(20) }
      let next = Int32(Array(logits).indices.max { logits[logits.startIndex + $0] < logits[logits.startIndex + $1] }!)
      expected.append(next)
      context.append(next)
      if decoderCount == 8 { context = Array(context.suffix(4)); decoderCount = 4 } else { decoderCount += 1 }
    }
    #expect(greedy == expected)
  }

  @Test("the bigram decoder returns the table row of the last token")
  func bigramDecoder() throws {
    let model = try Bigram(vocabSize: 6, seed: 1)
    var decoder = model.makeDecoder()
    let row = decoder.append([2, 4])
    #expect(row == Array(UnsafeBufferPointer(start: model.parameters.values.base + 24, count: 6)))
    #expect(decoder.count == 2)
  }

  @Test("streaming decoding holds back split UTF-8 characters and reassembles the text")
  func streaming() throws {
    let gpt2 = try Encoding.named("gpt2")
    let text = "한국어 텍스트 🙂 and English."
    var decoder = StreamingDecoder(tokenizer: gpt2)
    var pieces: [String] = []
    for id in try gpt2.encode(text) { pieces.append(try decoder.append(id)) }
    pieces.append(decoder.finish())
    #expect(pieces.joined() == text)
    #expect(!pieces.contains { $0.contains("\u{FFFD}") })
    #expect(throws: TokenizerError.invalidTokenID(99_999)) { try decoder.append(99_999) }
  }
}

@Suite("Batched decoding (server slots)")
struct BatchDecoderTests {
  @Test("a batched step gives each slot the logits of decoding it alone")
  func batchedEqualsSingle() throws {
    let model = try GPT(config: GPTConfig(vocabSize: 50, blockSize: 24, nLayer: 2, nHead: 2, nEmbd: 32), seed: 3)
    let prompts: [[Int32]] = [[1, 2, 3], [7], [4, 4, 9, 12, 30]]
    var singles = prompts.map { _ in model.makeDecoder() }
    let batch = BatchDecoder(model: model, slots: 4)
    // Slots 0, 2, 3 (slot 1 idle), each fed its prompt, then five tokens in lock step.
    let slots = [0, 2, 3]
    var expected = zip(singles.indices, prompts).map { singles[$0].append($1) }
    var got = zip(slots, prompts).map { batch.prefill(slot: $0, $1) }
    #expect(got == expected)
    for step in 0..<5 {
      let tokens = (0..<3).map { Int32((step * 7 + $0 * 11) % 50) }
      expected = (0..<3).map { singles[$0].append([tokens[$0]]) }
      got = batch.step((0..<3).map { (slot: slots[$0], tokens: [tokens[$0]]) })
      for k in 0..<3 {
        #expect(got[k] == expected[k], "step \(step), sequence \(k): the same bits as decoding it alone")
      }
    }
    // More slots than one product takes (gemvMaxRows): still each slot's own bits.
    let many = BatchDecoder(model: model, slots: 11)
    var lone = (0..<11).map { _ in model.makeDecoder(precision: .float32) }
    for slot in 0..<11 { #expect(many.prefill(slot: slot, [Int32(slot)]) == lone[slot].append([Int32(slot)])) }
    let all = many.step((0..<11).map { (slot: $0, tokens: [Int32(2 * $0)]) })
    for slot in 0..<11 { #expect(all[slot] == lone[slot].append([Int32(2 * slot)]), "slot \(slot)") }
    #expect(batch.counts == [8, 0, 6, 10])
    batch.reset(slot: 2)
    #expect(batch.counts[2] == 0)
    // Slots of fewer tokens than the block (a server's --ctx) decode the same bits in less memory.
    let short = BatchDecoder(model: model, slots: 2, capacity: 10)
    var alone = model.makeDecoder(precision: .float32)
    #expect(short.capacity == 10 && short.prefill(slot: 1, [5, 6, 7]) == alone.append([5, 6, 7]))
    for token: Int32 in [8, 9, 10, 11, 12, 13, 14] { #expect(short.step([(slot: 1, tokens: [token])])[0] == alone.append([token])) }
    #expect(short.counts[1] == 10)
    #expect(BatchDecoder.cacheBytes(model.config, slots: 3, capacity: 10) == 2 * 4 * 3 * 2 * 10 * 32)
  }

  @Test("short prompts fed in a step among decoding slots get the bits of prefilling them alone, split between passes or not")
  func promptsInAStep() throws {
    let model = try GPT(config: GPTConfig(vocabSize: 50, blockSize: 24, nLayer: 2, nHead: 2, nEmbd: 32), seed: 4)
    let batch = BatchDecoder(model: model, slots: 6)
    var lone = (0..<6).map { _ in model.makeDecoder(precision: .float32) }
    // Slots 0-3 are decoding; slot 4 starts with 3 tokens (rows 4-6 of the first pass) and slot 5
    // with batch.stepPromptLimit tokens (row 7, then the second pass).
    for slot in 0..<4 { #expect(batch.prefill(slot: slot, [Int32(slot), 9]) == lone[slot].append([Int32(slot), 9])) }
    let prompts: [[Int32]] = [[3, 1, 4], (0..<batch.stepPromptLimit).map { Int32($0 * 5 % 50) }]
    let entries = (0..<4).map { (slot: $0, tokens: [Int32(10 + $0)]) } + [(slot: 4, tokens: prompts[0]), (slot: 5, tokens: prompts[1])]
    let got = batch.step(entries)
    #expect(got.count == 6)
    for (k, entry) in entries.enumerated() {
      #expect(got[k] == lone[entry.slot].append(entry.tokens), "slot \(entry.slot)")
    }
    #expect(batch.counts == [3, 3, 3, 3, 3, batch.stepPromptLimit])
    // The next step goes on from there.
    let next = batch.step((0..<6).map { (slot: $0, tokens: [Int32(20 + $0)]) })
    for slot in 0..<6 { #expect(next[slot] == lone[slot].append([Int32(20 + slot)]), "slot \(slot), next step") }
  }
}
