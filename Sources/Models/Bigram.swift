import TensorEngine

/// The bigram language model of "Let's build GPT": the logits for the next token are a row of a
/// learned [V, V] table indexed by the current token.
public final class Bigram: LanguageModel {
  public let vocabSize: Int
  /// One parameter, `token_embedding_table.weight` [V, V].
  public let parameters: ParameterSet

  /// A table of N(0, 1) values, like `nn.Embedding`'s default initialisation.
  public init(vocabSize: Int, seed: UInt64 = 1337) throws(ModelError) {
    guard vocabSize > 0 else { throw .invalidConfig("vocab size must be positive, got \(vocabSize)") }
    guard vocabSize <= 16_384 else {
      throw .invalidConfig("a bigram table of \(vocabSize)² floats is too large; use a smaller vocabulary (e.g. char)")
    }
    self.vocabSize = vocabSize
    parameters = ParameterSet([("token_embedding_table.weight", [vocabSize, vocabSize], false)])
    var rng = RandomGenerator(seed: seed)
    for i in 0..<parameters.count { parameters.values.base[i] = rng.nextNormal() }
  }

  public var contextLength: Int? { nil }

  /// The logits and their gradient: 2·B·T·V floats.
  public func activationBytes(batch: Int, length: Int) -> Double {
    4 * 2 * Double(batch) * Double(length) * Double(vocabSize)
  }

  /// Logits [B, T, V] and, with targets, the mean cross-entropy (`rng` is unused: no dropout).
  public func forward(_ ids: [Int32], batch: Int, length: Int, targets: [Int32]? = nil,
                      rng: DropoutRNG? = nil) -> (logits: Tensor, loss: Tensor?) {
    let logits = embedding(parameters.tensors[0], ids: ids, shape: [batch, length])
    return (logits, targets.map { crossEntropy(logits, targets: $0) })
  }
}

/// The bigram "decoder": the logits are the table row of the last token.
struct BigramDecoder: TokenDecoder {
  let model: Bigram
  private(set) var count = 0
  private var last: Int32 = 0

  init(model: Bigram) { self.model = model }

  mutating func append(_ tokens: [Int32]) -> [Float] {
    count += tokens.count
    last = tokens.last ?? last
    let v = model.vocabSize
    return Array(UnsafeBufferPointer(start: model.parameters.values.base + Int(last) * v, count: v))
  }

  mutating func reset() { count = 0 }
}

extension Bigram {
  public func makeDecoder(precision: WeightPrecision = .float32) -> any TokenDecoder { BigramDecoder(model: self) }
}
