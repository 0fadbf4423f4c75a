import TensorEngine

/// A GPT-2-architecture language model (nanoGPT's `GPT`): token + position embeddings, pre-LN
/// transformer blocks of causal self-attention and a GELU MLP, a final LayerNorm and a language
/// modelling head tied (by default) to the token embeddings.
///
/// Parameters use HF GPT-2's names and layouts (`transformer.h.0.attn.c_attn.weight` is a
/// Conv1D weight [in, out]), all in one flat `ParameterSet`.
public final class GPT: LanguageModel {
  public private(set) var config: GPTConfig
  public let parameters: ParameterSet
  /// LoRA adapters added to the outputs of their linear layers (nil: none).
  public var adapter: LoRAAdapter?

  /// A model with nanoGPT's initialisation: N(0, 0.02) weights, residual projections scaled by
  /// 1/√(2·n_layer), zero biases, unit LayerNorm gains.
  public convenience init(config: GPTConfig, seed: UInt64 = 1337) throws(ModelError) {
    try self.init(uninitialized: config)
    var rng = RandomGenerator(seed: seed)
    let projectionStd = 0.02 / Float(2 * config.nLayer).squareRoot()
    for (entry, tensor) in zip(parameters.entries, parameters.tensors) {
      let leaf = entry.name.split(separator: ".").last!
      let isNorm = entry.name.contains(".ln_")
      if leaf == "bias" { continue }
      if isNorm { tensor.data.update(repeating: 1, count: entry.count); continue }
      let std = entry.name.hasSuffix("c_proj.weight") ? projectionStd : 0.02
      for i in 0..<entry.count { tensor.data[i] = rng.nextNormal() * std }
    }
  }

  /// A model whose parameters are all zero, to be loaded from a file.
  init(uninitialized config: GPTConfig) throws(ModelError) {
    try config.validate()
    self.config = config
    parameters = ParameterSet(Self.layout(config))
  }

  /// Names, shapes and weight-decay flags of every parameter, in HF GPT-2 order. Decay applies
  /// to the weight matrices of linear layers only (not to biases, LayerNorms or embeddings).
  public static func layout(_ c: GPTConfig) -> [(name: String, shape: [Int], decay: Bool)] {
    let e = c.nEmbd
    var specs: [(name: String, shape: [Int], decay: Bool)] = [
      ("transformer.wte.weight", [c.vocabSize, e], false),
      ("transformer.wpe.weight", [c.blockSize, e], false),
    ]
    func norm(_ prefix: String) {
      specs.append((prefix + ".weight", [e], false))
      if c.bias { specs.append((prefix + ".bias", [e], false)) }
    }
    func conv1D(_ prefix: String, _ inputs: Int, _ outputs: Int) {
      specs.append((prefix + ".weight", [inputs, outputs], true))
      if c.bias { specs.append((prefix + ".bias", [outputs], false)) }
    }
    for layer in 0..<c.nLayer {
      let h = "transformer.h.\(layer)"
      norm(h + ".ln_1")
      conv1D(h + ".attn.c_attn", e, 3 * e)
      conv1D(h + ".attn.c_proj", e, e)
      norm(h + ".ln_2")
      conv1D(h + ".mlp.c_fc", e, 4 * e)
      conv1D(h + ".mlp.c_proj", 4 * e, e)
    }
    norm("transformer.ln_f")
    if !c.tieWeights { specs.append(("lm_head.weight", [c.vocabSize, e], true)) }
    return specs
  }

  private func p(_ name: String) -> Tensor { parameters[name]! }
  private func optional(_ name: String) -> Tensor? { parameters[name] }

  /// Logits [B, T, V] for token ids [B, T] (row-major, `batch` rows of `length`), and the mean
  /// cross-entropy against `targets` when given (-100 marks positions to ignore).
  ///
  /// Dropout is applied only when `rng` is given (training).
  public func forward(_ ids: [Int32], batch: Int, length: Int, targets: [Int32]? = nil,
                      rng: DropoutRNG? = nil) -> (logits: Tensor, loss: Tensor?) {
    let logits = self.logits(hidden(ids, batch: batch, length: length, rng: rng))
    return (logits, targets.map { crossEntropy(logits, targets: $0) })
  }

  /// The final hidden states [B, T, C] (after `ln_f`) for token ids [B, T]: what GPT-1's task
  /// heads read. Dropout is applied only when `rng` is given.
  public func hidden(_ ids: [Int32], batch: Int, length: Int, rng: DropoutRNG? = nil) -> Tensor {
    precondition(length <= config.blockSize, "sequence of \(length) tokens is longer than the block size \(config.blockSize)")
    return transformer(ids, shape: [batch, length], positions: (0..<Int32(length)).map { $0 }, rng: rng) { qkv, _ in
      causalSelfAttention(qkv, heads: config.nHead)
    }
  }

  /// Next-token logits [..., V] from hidden states [..., C] (the language-modelling head).
  public func logits(_ hidden: Tensor) -> Tensor { matmul(hidden, head, transposeB: true) }

  /// Copies of the blocks' weight matrices laid out for products of a few rows (decoding steps),
  /// by parameter name: on the CPU, when the model and the copies take at most half the
  /// machine's memory; else none (the products then read the weights, with the same bits, only
  /// slower). The copies do not follow later changes to the weights.
  func packedWeights() -> [String: PackedMatrix] {
    guard parameters.device.gpu == nil else { return [:] }
    let matrices = zip(parameters.entries, parameters.tensors).filter { $0.0.shape.count == 2 && $0.0.name.contains(".h.") }
    let copyBytes = Double(matrices.reduce(0) { $0 + PackedMatrix.byteCount(rows: $1.0.shape[0], cols: $1.0.shape[1]) })
    guard 4 * Double(parameters.count) + copyBytes <= MemoryLimit.physical / 2 else { return [:] }
    var packed: [String: PackedMatrix] = [:]
    for (entry, tensor) in matrices { packed[entry.name] = PackedMatrix(tensor.data, rows: entry.shape[0], cols: entry.shape[1]) }
    return packed
  }

  /// The language-modelling head's weight [V, C] (the token embedding when tied).
  var head: Tensor { config.tieWeights ? p("transformer.wte.weight") : p("lm_head.weight") }

  /// The transformer up to the final LayerNorm: token ids of `shape` (…, T) at `positions`
  /// (T of them, shared by the rows; or one per id, for a batch of sequences each at its own
  /// place) → hidden states (…, T, C). `attention(qkv, layer)` maps each layer's packed projections
  /// [..., 3C] to [..., C]: full causal attention in `forward`, the KV cache when decoding.
  ///
  /// `reduced` holds bfloat16 copies of weight matrices that single-row inputs read instead;
  /// `packed`, copies laid out for inputs of `PackedMatrix.rowCounts` rows (the same bits).
  func transformer(_ ids: [Int32], shape: [Int], positions: [Int32], rng: DropoutRNG?,
                   reduced: [String: BFloat16Matrix] = [:], packed: [String: PackedMatrix] = [:],
                   attention: (Tensor, Int) -> Tensor) -> Tensor {
    // x · weight + bias for the linear layer `prefix`, plus its LoRA update if it has one.
    func project(_ x: Tensor, _ prefix: String) -> Tensor {
      let bias = optional(prefix + ".bias")
      var y: Tensor
      if let matrix = packed[prefix + ".weight"], x.shape.count == 2, PackedMatrix.rowCounts.contains(x.shape[0]) {
        y = Tensor(shape: [x.shape[0], matrix.cols], storage: Storage(count: x.shape[0] * matrix.cols, zeroed: false))
        gemv(x: x.data, rows: x.shape[0], b: matrix, y: y.data, accumulate: false)
        if let bias { y = add(y, bias) }
      } else if let matrix = reduced[prefix + ".weight"], x.count == matrix.rows {
        y = Tensor.zeros([1, matrix.cols])
        if let bias { y.data.update(from: bias.data, count: matrix.cols) }
        gemv(transB: false, x: x.data, b: matrix, y: y.data, accumulate: bias != nil)
      } else {
        y = linear(x, weight: p(prefix + ".weight"), bias: bias)
      }
      if let adapter, let delta = adapter.delta(x, layer: prefix, rng: rng) { y = add(y, delta) }
      return y
    }
    let eps = config.layerNormEpsilon
    var x = add(embedding(p("transformer.wte.weight"), ids: ids, shape: shape),
                embedding(p("transformer.wpe.weight"), ids: positions, shape: [positions.count]))
    x = drop(x, rng)
    for layer in 0..<config.nLayer {
      let h = "transformer.h.\(layer)"
      // x = x + attn(ln_1(x))
      var y = layerNorm(x, weight: p(h + ".ln_1.weight"), bias: optional(h + ".ln_1.bias"), eps: eps)
      y = project(y, h + ".attn.c_attn")
      y = attention(y, layer)
      y = project(y, h + ".attn.c_proj")
      x = add(x, drop(y, rng))
      // x = x + mlp(ln_2(x))
      y = layerNorm(x, weight: p(h + ".ln_2.weight"), bias: optional(h + ".ln_2.bias"), eps: eps)
      y = gelu(project(y, h + ".mlp.c_fc"))
      y = project(y, h + ".mlp.c_proj")
      x = add(x, drop(y, rng))
    }
    return layerNorm(x, weight: p("transformer.ln_f.weight"), bias: optional("transformer.ln_f.bias"), eps: eps)
  }

  private func drop(_ x: Tensor, _ rng: DropoutRNG?) -> Tensor {
    guard let rng, config.dropout > 0 else { return x }
    return dropout(x, p: config.dropout, rng: &rng.generator)
  }

  /// A copy with `extra` more token ids (GPT-1's start / delimiter / extract tokens, chat
  /// markers): the new embedding rows (and LM-head rows when untied) are N(0, 0.02) from `seed`,
  /// everything else is copied.
  public func extendingVocabulary(by extra: Int, seed: UInt64 = 1337) throws(ModelError) -> GPT {
    var bigger = config
    bigger.vocabSize += extra
    let model = try GPT(uninitialized: bigger)
    var rng = RandomGenerator(seed: seed)
    for (entry, tensor) in zip(model.parameters.entries, model.parameters.tensors) {
      let old = parameters[entry.name]!
      tensor.data.update(from: old.data, count: old.count)
      for i in old.count..<entry.count { tensor.data[i] = rng.nextNormal() * 0.02 }
    }
    return model
  }

  public var vocabSize: Int { config.vocabSize }
  public var contextLength: Int? { config.blockSize }

  /// Sets the ids saved as `bos_token_id` and `eos_token_id` (ids outside the vocabulary: nil).
  public func setSpecialTokenIDs(bos: Int?, eos: Int?) {
    let valid = 0..<config.vocabSize
    config.bosTokenID = bos.flatMap { valid.contains($0) ? $0 : nil }
    config.eosTokenID = eos.flatMap { valid.contains($0) ? $0 : nil }
  }

  /// Per layer the attention probabilities (B·H·T² floats) and about 16 values of width C per
  /// token (LayerNorm outputs, q/k/v, the MLP's 4C before and after GELU, ...), plus the logits
  /// and their gradient (2·B·T·V).
  public func activationBytes(batch: Int, length: Int) -> Double {
    let (b, t, c) = (Double(batch), Double(length), config)
    let perLayer = b * Double(c.nHead) * t * t + 16 * b * t * Double(c.nEmbd)
    return 4 * (Double(c.nLayer) * perLayer + 2 * b * t * Double(c.vocabSize))
  }

  /// Number of parameters (the tied head counted once).
  public var parameterCount: Int { parameters.count }
}
