import TensorEngine

/// What training and generation need from a model (`GPT`, `Bigram`).
public protocol LanguageModel: AnyObject {
  /// All trainable parameters, in one flat buffer.
  var parameters: ParameterSet { get }
  var vocabSize: Int { get }
  /// The longest context the model reads (GPT's block size); nil when unlimited.
  var contextLength: Int? { get }
  /// Logits [B, T, V] for ids [B, T] and, with targets, the mean cross-entropy (-100 ignored).
  /// Dropout is applied only when `rng` is given (training).
  func forward(_ ids: [Int32], batch: Int, length: Int, targets: [Int32]?,
               rng: DropoutRNG?) -> (logits: Tensor, loss: Tensor?)
  /// A fresh incremental decoder for generation, reading weight matrices at `precision`.
  func makeDecoder(precision: WeightPrecision) -> any TokenDecoder
  /// A lower bound on the bytes of activations a training step on `batch` sequences of `length`
  /// tokens keeps for its backward pass (counted in Double, so absurd sizes cannot overflow).
  func activationBytes(batch: Int, length: Int) -> Double
}

/// The precision a decoder reads weight matrices at when it generates one token at a time.
public enum WeightPrecision: String, Sendable, CaseIterable {
  /// The trained Float32 weights: logits equal a full forward pass.
  case float32 = "f32"
  /// bfloat16 copies: half the bytes per token (decoding is memory-bound), products still
  /// accumulated in Float32; logits move by about 1 %.
  case bfloat16 = "bf16"
}

/// Generation state of one sequence: feed tokens, get the next-token logits.
public protocol TokenDecoder {
  /// Number of tokens fed so far.
  var count: Int { get }
  /// Feeds `tokens` (the model must have room: `count + tokens.count ≤ contextLength`) and returns
  /// the logits [V] for the token after the last one.
  mutating func append(_ tokens: [Int32]) -> [Float]
  /// Forgets every token fed.
  mutating func reset()
}
