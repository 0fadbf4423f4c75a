import FileSupport
import Foundation
import TensorEngine

/// Loading and saving Hugging Face `GPT2LMHeadModel` folders: `config.json` plus
/// `model.safetensors`, with parameter names and Conv1D [in, out] layouts used as they are.
extension GPT {
  /// Loads a model from a folder holding HF GPT-2 `config.json` and `model.safetensors` (or
  /// its shards and `model.safetensors.index.json`).
  public static func load(huggingFaceFolder folder: String) throws(ModelError) -> GPT {
    let configPath = folder + "/config.json"
    guard let configData = FileManager.default.contents(atPath: configPath) else {
      throw .file(.unreadable(path: configPath, reason: "no such file (expected a Hugging Face model folder)"))
    }
    let config = try gptConfig(fromHuggingFace: configData, path: configPath)
    let model = try GPT(uninitialized: config)
    try model.parameters.load(huggingFaceFolder: folder)
    return model
  }

  /// Writes `config.json` and `model.safetensors` (F32) that `transformers` loads as a
  /// `GPT2LMHeadModel`. A model without biases is written with zero biases (the same function);
  /// a tied head is not written separately, as `save_pretrained` does.
  public func save(huggingFaceFolder folder: String) throws(ModelError) {
    try fileAccess(ModelError.file) { () throws(FileError) in try createFolder(folder) }
    var full = config
    full.bias = true
    let zeros = Storage(count: 4 * config.nEmbd)
    let tensors = GPT.layout(full).map { spec -> (name: String, shape: [Int], data: UnsafePointer<Float>) in
      if let values = parameters.hostValues(of: spec.name) { return (spec.name, spec.shape, UnsafePointer(values)) }
      return (spec.name, spec.shape, UnsafePointer(zeros.base))
    }
    try withExtendedLifetime(zeros) { () throws(ModelError) in
      try Safetensors.write(folder + "/model.safetensors", tensors: tensors, metadata: ["format": "pt"])
    }
    try fileAccess(ModelError.file) { () throws(FileError) in try writeAtomically(huggingFaceConfig(), to: folder + "/config.json") }
    try fileAccess(ModelError.file) { () throws(FileError) in try writeAtomically(generationConfig(), to: folder + "/generation_config.json") }
  }

  /// HF's `generation_config.json`: the special-token ids `generate` stops at and starts from.
  func generationConfig() -> Data {
    let object: [String: Any] = [
      "_from_model_config": true,
      "bos_token_id": config.bosTokenID ?? NSNull(),
      "eos_token_id": config.eosTokenID ?? NSNull(),
    ]
    return (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
  }

  /// The HF `GPT2Config` JSON for this model.
  func huggingFaceConfig() -> Data {
    let object: [String: Any] = [
      "architectures": ["GPT2LMHeadModel"],
      "model_type": "gpt2",
      "vocab_size": config.vocabSize,
      "n_positions": config.blockSize,
      "n_ctx": config.blockSize,
      "n_embd": config.nEmbd,
      "n_layer": config.nLayer,
      "n_head": config.nHead,
      "n_inner": NSNull(),
      "activation_function": "gelu_new",
      "resid_pdrop": Double(config.dropout),
      "embd_pdrop": Double(config.dropout),
      "attn_pdrop": Double(config.dropout),
      "layer_norm_epsilon": Double(config.layerNormEpsilon),
      "initializer_range": 0.02,
      "tie_word_embeddings": config.tieWeights,
      "torch_dtype": "float32",
      // Without them transformers takes GPT-2's 50256, which a smaller vocabulary lacks.
      "bos_token_id": config.bosTokenID ?? NSNull(),
      "eos_token_id": config.eosTokenID ?? NSNull(),
      // Not a GPT2Config field (transformers keeps it as an attribute): lets SwiftGPT reload a
      // bias-free model as bias-free. The saved biases are zeros either way.
      "bias": config.bias,
    ]
    return (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
  }
}

extension GPTConfig {
  /// Reads a Hugging Face GPT-2 `config.json`.
  public init(huggingFaceConfig path: String) throws(ModelError) {
    guard let data = FileManager.default.contents(atPath: path) else { throw .file(.unreadable(path: path, reason: "no such file")) }
    self = try gptConfig(fromHuggingFace: data, path: path)
  }
}

/// Reads the fields of a HF `GPT2Config` JSON that SwiftGPT's GPT supports.
func gptConfig(fromHuggingFace data: Data, path: String) throws(ModelError) -> GPTConfig {
  guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
    throw .file(.corrupt(path: path, reason: "not a JSON object"))
  }
  func int(_ key: String) throws(ModelError) -> Int {
    guard let v = json[key] as? Int else { throw .file(.corrupt(path: path, reason: "missing integer '\(key)'")) }
    return v
  }
  if let type = json["model_type"] as? String, type != "gpt2" {
    throw .unsupported("model_type '\(type)' in \(path); SwiftGPT loads GPT-2 models")
  }
  // gelu_pytorch_tanh is the same tanh approximation as gelu_new.
  if let activation = json["activation_function"] as? String, !["gelu_new", "gelu_pytorch_tanh"].contains(activation) {
    throw .unsupported("activation_function '\(activation)' in \(path); SwiftGPT's GPT uses gelu_new")
  }
  // Attention variants that change the scores; SwiftGPT scales them by 1/√head_size only.
  if json["scale_attn_weights"] as? Bool == false {
    throw .unsupported("scale_attn_weights false in \(path); SwiftGPT's attention scales scores by 1/√head_size")
  }
  if json["scale_attn_by_inverse_layer_idx"] as? Bool == true {
    throw .unsupported("scale_attn_by_inverse_layer_idx true in \(path); SwiftGPT's attention scales scores by 1/√head_size only")
  }
  let embd = try int("n_embd")
  if let inner = json["n_inner"] as? Int, inner != 4 * embd {
    throw .unsupported("n_inner \(inner) in \(path); SwiftGPT's MLP is 4 × n_embd wide")
  }
  var config = GPTConfig(
    vocabSize: try int("vocab_size"), blockSize: try int("n_positions"), nLayer: try int("n_layer"),
    nHead: try int("n_head"), nEmbd: embd, dropout: Float((json["resid_pdrop"] as? Double) ?? 0.1),
    bias: (json["bias"] as? Bool) ?? true, tieWeights: (json["tie_word_embeddings"] as? Bool) ?? true,
    layerNormEpsilon: Float((json["layer_norm_epsilon"] as? Double) ?? 1e-5))
  try config.validate()
  // Ids the vocabulary lacks (GPT2Config's default 50256 in a small model) are dropped.
  let valid = 0..<config.vocabSize
  config.bosTokenID = (json["bos_token_id"] as? Int).flatMap { valid.contains($0) ? $0 : nil }
  config.eosTokenID = (json["eos_token_id"] as? Int).flatMap { valid.contains($0) ? $0 : nil }
  return config
}
