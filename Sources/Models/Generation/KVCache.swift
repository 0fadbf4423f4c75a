import TensorEngine

/// Incremental GPT decoding with a key/value cache: each new token attends to the keys and
/// values stored for the tokens before it, so one token costs one pass over the weights
/// (matrix–vector products) instead of a forward pass over the whole context.
///
/// With `.bfloat16`, single-token steps read bfloat16 copies of the weight matrices (half the
/// memory traffic; products still accumulate in Float32). Prompts use the Float32 weights.
final class GPTDecoder: TokenDecoder {
  let model: GPT
  /// Per layer: keys and values [blockSize, C] of the tokens fed so far.
  private let keys: [Storage], values: [Storage]
  /// bfloat16 copies of the weight matrices, by parameter name (`.bfloat16` only).
  private let reduced: [String: BFloat16Matrix]
  private(set) var count = 0

  init(model: GPT, precision: WeightPrecision) {
    self.model = model
    var reduced: [String: BFloat16Matrix] = [:]
    if precision == .bfloat16 {
      let head = model.config.tieWeights ? "transformer.wte.weight" : "lm_head.weight"
      for (entry, tensor) in zip(model.parameters.entries, model.parameters.tensors)
      where entry.shape.count == 2 && (entry.name.contains(".h.") || entry.name == head) {
        reduced[entry.name] = BFloat16Matrix(tensor.data, rows: entry.shape[0], cols: entry.shape[1])
      }
    }
    self.reduced = reduced
    let size = model.config.blockSize * model.config.nEmbd
    keys = (0..<model.config.nLayer).map { _ in Storage(count: size, zeroed: false) }
    values = (0..<model.config.nLayer).map { _ in Storage(count: size, zeroed: false) }
  }

  func reset() { count = 0 }

  func append(_ tokens: [Int32]) -> [Float] {
    let t = tokens.count
    precondition(t > 0 && count + t <= model.config.blockSize,
                 "decoder: \(count) + \(t) tokens exceed the block size \(model.config.blockSize)")
    return withoutGrad {
      // x [t, C]: only the last row's logits are needed.
      let x = model.transformer(tokens, shape: [t], positions: count..<(count + t), rng: nil, reduced: t == 1 ? reduced : [:],
                                attention: attend)
      count += t
      let last = slice(x, axis: 0, (t - 1)..<t)
      let headName = model.config.tieWeights ? "transformer.wte.weight" : "lm_head.weight"
      guard t == 1, let head = reduced[headName] else { return matmul(last, model.head, transposeB: true).scalars }
      var logits = [Float](repeating: 0, count: model.config.vocabSize)
      logits.withUnsafeMutableBufferPointer { gemv(transB: true, x: last.data, b: head, y: $0.baseAddress!, accumulate: false) }
      return logits
    }
  }

  /// Causal attention of the new tokens' queries over the cache: qkv [t, 3C] → y [t, C].
  /// Stores the new keys and values in the cache first.
  private func attend(_ qkv: Tensor, layer: Int) -> Tensor {
    let (t, c) = (qkv.shape[0], model.config.nEmbd)
    let heads = model.config.nHead, hs = c / heads
    let scale = 1 / Float(hs).squareRoot()
    let (k, v) = (keys[layer].base, values[layer].base)
    for i in 0..<t {
      (k + (count + i) * c).update(from: qkv.data + i * 3 * c + c, count: c)
      (v + (count + i) * c).update(from: qkv.data + i * 3 * c + 2 * c, count: c)
    }
    let out = Tensor.zeros([t, c])
    let (qs, ks, vs, ys) = (UncheckedSendable(qkv.data), UncheckedSendable(k), UncheckedSendable(v), UncheckedSendable(out.data))
    let start = count
    let tasks = t * heads
    let threads = t * (start + t) * c < 1 << 16 ? 1 : Parallel.threads
    Parallel.forEach(tasks, threads: threads) { task in
      let (i, h) = (task / heads, task % heads)
      let n = start + i + 1  // keys visible to token i
      let q = qs.value + i * 3 * c + h * hs
      let scores = Storage(count: n, zeroed: false)
      defer { withExtendedLifetime(scores) {} }
      for j in 0..<n { scores.base[j] = vdot(q, ks.value + j * c + h * hs, hs) * scale }
      softmaxRow(scores.base, scores.base, n)
      let y = ys.value + i * c + h * hs
      for j in 0..<n {
        let w = scores.base[j], row = vs.value + j * c + h * hs
        for d in 0..<hs { y[d] += w * row[d] }
      }
    }
    return out
  }
}

extension GPT {
  /// A decoder with a key/value cache of `blockSize` positions.
  public func makeDecoder(precision: WeightPrecision = .float32) -> any TokenDecoder {
    GPTDecoder(model: self, precision: precision)
  }
}
