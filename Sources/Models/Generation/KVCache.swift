import TensorEngine

/// Incremental GPT decoding with a key/value cache: each new token attends to the keys and
/// values stored for the tokens before it, so one token costs one pass over the weights
/// (matrix–vector products) instead of a forward pass over the whole context.
///
/// With `.bfloat16`, single-token steps read bfloat16 copies of the weight matrices (half the
/// memory traffic; products still accumulate in Float32). Prompts use the Float32 weights.
/// With `.float32` on the CPU, steps of up to `gemvMaxRows` tokens read packed copies of them
/// (`GPT.packedWeights`: the same bits, faster), made when the decoder is.
/// A model whose parameters live on a GPU decodes there, with its cache there, in Float32.
final class GPTDecoder: TokenDecoder {
  let model: GPT
  /// Per layer: keys and values of the tokens fed so far, blockSize · C each (`cachedAttention`'s layout).
  private let keys: [Storage], values: [Storage]
  /// bfloat16 copies of the weight matrices, by parameter name (`.bfloat16` only).
  private let reduced: [String: BFloat16Matrix]
  /// Packed copies of the weight matrices, by parameter name (`.float32` on the CPU).
  private let packed: [String: PackedMatrix]
  private(set) var count = 0

  init(model: GPT, precision: WeightPrecision) {
    self.model = model
    var reduced: [String: BFloat16Matrix] = [:]
    let device = model.parameters.device
    if precision == .bfloat16, device.gpu == nil {
      let head = model.config.tieWeights ? "transformer.wte.weight" : "lm_head.weight"
      for (entry, tensor) in zip(model.parameters.entries, model.parameters.tensors)
      where entry.shape.count == 2 && (entry.name.contains(".h.") || entry.name == head) {
        reduced[entry.name] = BFloat16Matrix(tensor.data, rows: entry.shape[0], cols: entry.shape[1])
      }
    }
    self.reduced = reduced
    packed = precision == .float32 ? model.packedWeights() : [:]
    let size = model.config.blockSize * model.config.nEmbd
    keys = (0..<model.config.nLayer).map { _ in Storage(count: size, zeroed: false, on: device) }
    values = (0..<model.config.nLayer).map { _ in Storage(count: size, zeroed: false, on: device) }
  }

  func reset() { count = 0 }

  func append(_ tokens: [Int32]) -> [Float] {
    let t = tokens.count
    precondition(t > 0 && count + t <= model.config.blockSize,
                 "decoder: \(count) + \(t) tokens exceed the block size \(model.config.blockSize)")
    return withoutGrad {
      // x [t, C]: only the last row's logits are needed.
      let x = model.transformer(tokens, shape: [t], positions: (count..<(count + t)).map(Int32.init), rng: nil,
                                reduced: t == 1 ? reduced : [:], packed: packed,
                                attention: attend)
      count += t
      let last = embedding(x, ids: [Int32(t - 1)], shape: [1])  // the last row, [1, C]
      let headName = model.config.tieWeights ? "transformer.wte.weight" : "lm_head.weight"
      guard t == 1, let head = reduced[headName] else { return matmul(last, model.head, transposeB: true).scalars }
      var logits = [Float](repeating: 0, count: model.config.vocabSize)
      logits.withUnsafeMutableBufferPointer { gemv(transB: true, x: last.data, b: head, y: $0.baseAddress!, accumulate: false) }
      return logits
    }
  }

  /// Causal attention of the new tokens' queries over the cache (stored first): qkv [t, 3C] → y [t, C].
  private func attend(_ qkv: Tensor, layer: Int) -> Tensor {
    cachedAttention(qkv, keys: keys[layer], values: values[layer], past: count, heads: model.config.nHead)
  }
}

extension GPT {
  /// A decoder with a key/value cache of `blockSize` positions.
  public func makeDecoder(precision: WeightPrecision = .float32) -> any TokenDecoder {
    GPTDecoder(model: self, precision: precision)
  }
}
