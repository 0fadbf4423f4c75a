import Foundation

/// The shape of a GPT (nanoGPT's `GPTConfig`): vocabulary, context length, depth and width.
public struct GPTConfig: Codable, Equatable, Sendable {
  /// Number of token ids.
  public var vocabSize: Int
  /// Longest context (number of positions).
  public var blockSize: Int
  public var nLayer: Int
  public var nHead: Int
  public var nEmbd: Int
  /// Dropout probability on embeddings and residual branches while training.
  public var dropout: Float
  /// Whether linear layers and LayerNorms have biases (GPT-2: yes).
  public var bias: Bool
  /// Whether the output projection shares the token embedding matrix (GPT-2: yes).
  public var tieWeights: Bool
  /// LayerNorm epsilon.
  public var layerNormEpsilon: Float
  /// The ids HF reads as `bos_token_id` / `eos_token_id` (config.json, generation_config.json):
  /// the tokenizer's end-of-text token for a pretrained model (GPT-2's convention), `<|im_end|>`
  /// as end for an instruction-tuned one; nil when there is none (a char vocabulary).
  public var bosTokenID: Int?
  public var eosTokenID: Int?

  public init(vocabSize: Int, blockSize: Int, nLayer: Int, nHead: Int, nEmbd: Int, dropout: Float = 0,
              bias: Bool = true, tieWeights: Bool = true, layerNormEpsilon: Float = 1e-5, bosTokenID: Int? = nil,
              eosTokenID: Int? = nil) {
    self.vocabSize = vocabSize
    self.blockSize = blockSize
    self.nLayer = nLayer
    self.nHead = nHead
    self.nEmbd = nEmbd
    self.dropout = dropout
    self.bias = bias
    self.tieWeights = tieWeights
    self.layerNormEpsilon = layerNormEpsilon
    (self.bosTokenID, self.eosTokenID) = (bosTokenID, eosTokenID)
  }

  /// Checks that the numbers describe a buildable model.
  public func validate() throws(ModelError) {
    func bad(_ why: String) -> ModelError { .invalidConfig(why) }
    guard vocabSize > 0 else { throw bad("vocab size must be positive, got \(vocabSize)") }
    guard blockSize > 0 else { throw bad("block size must be positive, got \(blockSize)") }
    guard nLayer > 0, nHead > 0, nEmbd > 0 else { throw bad("n_layer, n_head and n_embd must be positive") }
    guard nEmbd % nHead == 0 else { throw bad("n_embd \(nEmbd) is not divisible by n_head \(nHead)") }
    guard dropout >= 0 && dropout < 1 else { throw bad("dropout must be in [0, 1), got \(dropout)") }
    guard vocabSize <= Int(Int32.max) else { throw bad("vocab size \(vocabSize) does not fit 32-bit token ids") }
    // Refuse a model whose weights alone exceed the machine's memory before allocating anything
    // (counted in Double, so absurd sizes cannot overflow; biases and LayerNorms are left out).
    let e = Double(nEmbd)
    let weights = Double(vocabSize) * e * (tieWeights ? 1 : 2) + Double(blockSize) * e + 12 * Double(nLayer) * e * e
    guard 4 * weights <= MemoryLimit.physical else {
      throw bad(String(format: "%.3g parameters", weights) + " (\(MemoryLimit.gigabytes(4 * weights)) in Float32) do not fit "
        + "in this machine's \(MemoryLimit.gigabytes(MemoryLimit.physical)) of memory")
    }
  }

  /// nanoGPT's `shakespeare_char` "baby GPT": 6 layers, 6 heads, 384 wide, 256 context, no biases.
  public static func babyGPT(vocabSize: Int = 65) -> GPTConfig {
    GPTConfig(vocabSize: vocabSize, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384, dropout: 0.2, bias: false)
  }
  /// minGPT's small shapes. `gpt-micro` (4 layers, 4 heads, 128 wide, block 64) is also
  /// nanoGPT's README configuration for a CPU.
  public static func gptNano(vocabSize: Int = 65) -> GPTConfig {
    GPTConfig(vocabSize: vocabSize, blockSize: 64, nLayer: 3, nHead: 3, nEmbd: 48, bias: false)
  }
  public static func gptMicro(vocabSize: Int = 65) -> GPTConfig {
    GPTConfig(vocabSize: vocabSize, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128, bias: false)
  }
  public static func gptMini(vocabSize: Int = 65) -> GPTConfig {
    GPTConfig(vocabSize: vocabSize, blockSize: 128, nLayer: 6, nHead: 6, nEmbd: 192, bias: false)
  }
  /// The GPT-1 (117M) shape: 12 × 768, 512 positions, 40,478 BPE tokens. (GPT-1 itself put
  /// LayerNorm after each block; this model is pre-LN like GPT-2.)
  public static let gpt1 = GPTConfig(vocabSize: 40_478, blockSize: 512, nLayer: 12, nHead: 12, nEmbd: 768, dropout: 0.1)
  /// GPT-2 124M.
  public static let gpt2 = GPTConfig(vocabSize: 50_257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768)
  /// GPT-2 medium, 355M.
  public static let gpt2Medium = GPTConfig(vocabSize: 50_257, blockSize: 1024, nLayer: 24, nHead: 16, nEmbd: 1024)
  /// GPT-2 large, 774M.
  public static let gpt2Large = GPTConfig(vocabSize: 50_257, blockSize: 1024, nLayer: 36, nHead: 20, nEmbd: 1280)
  /// GPT-2 XL, 1.5B.
  public static let gpt2XL = GPTConfig(vocabSize: 50_257, blockSize: 1024, nLayer: 48, nHead: 25, nEmbd: 1600)

  /// The names `preset(named:)` knows.
  public static let presetNames = ["gpt-nano", "gpt-micro", "gpt-mini", "baby", "shakespeare-char", "gpt1", "gpt2",
                                   "gpt2-medium", "gpt2-large", "gpt2-xl"]

  /// Presets by name, as the CLI spells them.
  public static func preset(named name: String) -> GPTConfig? {
    switch name {
    case "gpt-nano": gptNano()
    case "gpt-micro": gptMicro()
    case "gpt-mini": gptMini()
    case "baby", "shakespeare-char": babyGPT()
    case "gpt1": gpt1
    case "gpt2": gpt2
    case "gpt2-medium": gpt2Medium
    case "gpt2-large": gpt2Large
    case "gpt2-xl": gpt2XL
    default: nil
    }
  }
}
