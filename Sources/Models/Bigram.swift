import TensorEngine

/// The bigram language model of "Let's build GPT": the logits for the next token are a row of a
/// learned [V, V] table indexed by the current token.
public final class Bigram {
  public let vocabSize: Int
  /// One parameter, `token_embedding_table.weight` [V, V].
  public let parameters: ParameterSet

  /// A table of N(0, 1) values, like `nn.Embedding`'s default initialisation.
  public init(vocabSize: Int, seed: UInt64 = 1337) throws(ModelError) {
    guard vocabSize > 0 else { throw .invalidConfig("vocab size must be positive, got \(vocabSize)") }
    self.vocabSize = vocabSize
    parameters = ParameterSet([("token_embedding_table.weight", [vocabSize, vocabSize], false)])
    var rng = RandomGenerator(seed: seed)
    for i in 0..<parameters.count { parameters.values.base[i] = rng.nextNormal() }
  }

  /// Logits [B, T, V] and, with targets, the mean cross-entropy.
  public func forward(_ ids: [Int32], batch: Int, length: Int, targets: [Int32]? = nil) -> (logits: Tensor, loss: Tensor?) {
    let logits = embedding(parameters.tensors[0], ids: ids, shape: [batch, length])
    return (logits, targets.map { crossEntropy(logits, targets: $0) })
  }
}
