import FileSupport
import Foundation
import TensorEngine

/// Which linear layers get LoRA adapters, and their rank, scale and dropout (PEFT's `LoraConfig`).
public struct LoRAConfig: Equatable, Sendable {
  /// Rank r of the update B·A.
  public var rank: Int
  /// The update is scaled by alpha / r.
  public var alpha: Float
  /// Dropout on the adapter's input while training.
  public var dropout: Float
  /// Module names as PEFT matches them, by suffix: `c_attn` (the default: the attention's
  /// fused q/k/v projection), `c_proj` (both attention and MLP output), `attn.c_proj`,
  /// `c_fc`, `mlp.c_proj`.
  public var targets: [String]

  public init(rank: Int = 8, alpha: Float = 16, dropout: Float = 0, targets: [String] = ["c_attn"]) {
    self.rank = rank
    self.alpha = alpha
    self.dropout = dropout
    self.targets = targets
  }

  /// The linear layers of `config` this adapter covers (HF names without `.weight`).
  func layers(of config: GPTConfig) throws(ModelError) -> [String] {
    guard rank > 0 else { throw .invalidConfig("LoRA rank must be positive, got \(rank)") }
    guard !targets.isEmpty else { throw .invalidConfig("LoRA needs at least one target module") }
    var result: [String] = []
    for layer in 0..<config.nLayer {
      for module in ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"] {
        let path = "transformer.h.\(layer).\(module)"
        if targets.contains(where: { path == $0 || path.hasSuffix("." + $0) }) { result.append(path) }
      }
    }
    guard !result.isEmpty else {
      throw .invalidConfig("LoRA targets \(targets) match no layer (use c_attn, c_proj, attn.c_proj, c_fc, mlp.c_proj)")
    }
    return result
  }
}

/// LoRA adapters for a GPT (Hu et al. 2021): each covered linear layer W [in, out] gains
/// y += (alpha/r) · dropout(x) · Aᵀ · Bᵀ with A [r, in] and B [out, r] trained and W frozen.
/// A starts as PEFT's default (Kaiming-uniform, bound 1/√in), B at zero, so the adapted model
/// starts equal to the base. Parameters use PEFT's names and layouts, so `save(peftFolder:)`
/// writes an adapter `peft` loads onto the HF model.
public final class LoRAAdapter {
  public let config: LoRAConfig
  /// A and B of every covered layer: `transformer.h.N.attn.c_attn.lora_A.weight`, ….
  public let parameters: ParameterSet
  /// alpha / r (alpha / √r with rsLoRA).
  public let scale: Float
  /// The covered layers (looked up in `parameters` on each use: the tensors change when the
  /// adapters move to another device).
  private let layers: Set<String>

  /// A and B of `layer`, or nil when it has no adapter.
  private func weights(_ layer: String) -> (a: Tensor, b: Tensor)? {
    guard layers.contains(layer) else { return nil }
    return (parameters[layer + ".lora_A.weight"]!, parameters[layer + ".lora_B.weight"]!)
  }

  /// Fresh adapters for `model` (A random from `seed`, B zero).
  public convenience init(config: LoRAConfig, for model: GPT, seed: UInt64 = 1337) throws(ModelError) {
    try self.init(config: config, model: model, scale: config.alpha / Float(config.rank))
    var rng = RandomGenerator(seed: seed)
    for (entry, tensor) in zip(parameters.entries, parameters.tensors) where entry.name.hasSuffix("lora_A.weight") {
      let bound = 1 / Float(entry.shape[1]).squareRoot()
      for i in 0..<entry.count { tensor.data[i] = (2 * rng.nextUniform() - 1) * bound }
    }
  }

  private init(config: LoRAConfig, model: GPT, scale: Float) throws(ModelError) {
    self.config = config
    self.scale = scale
    var specs: [(name: String, shape: [Int], decay: Bool)] = []
    let layers = try config.layers(of: model.config)
    for layer in layers {
      let w = model.parameters[layer + ".weight"]!
      specs.append((layer + ".lora_A.weight", [config.rank, w.shape[0]], true))
      specs.append((layer + ".lora_B.weight", [w.shape[1], config.rank], true))
    }
    parameters = ParameterSet(specs)
    self.layers = Set(layers)
  }

  /// Number of trainable scalars.
  public var parameterCount: Int { parameters.count }

  /// (alpha/r) · dropout(x) · Aᵀ · Bᵀ for the layer `prefix`, or nil if it has no adapter.
  func delta(_ x: Tensor, layer prefix: String, rng: DropoutRNG?) -> Tensor? {
    guard let (a, b) = weights(prefix) else { return nil }
    var input = x
    if let rng, config.dropout > 0 { input = dropout(x, p: config.dropout, rng: &rng.generator) }
    return TensorEngine.scale(matmul(matmul(input, a, transposeB: true), b, transposeB: true), scale)
  }

  /// Adds the updates into `model`'s weights (W[in, out] += scale · (B·A)ᵀ), as PEFT's
  /// `merge_and_unload` does; the adapter then must not also be attached to the model.
  public func merge(into model: GPT) { apply(to: model, sign: 1) }

  /// Undoes `merge(into:)` (up to rounding).
  public func unmerge(from model: GPT) { apply(to: model, sign: -1) }

  private func apply(to model: GPT, sign: Float) {
    for layer in layers {
      let (a, b) = weights(layer)!
      let w = model.parameters[layer + ".weight"]!
      let (inputs, outputs, r) = (w.shape[0], w.shape[1], config.rank)
      // W[in, out] += (sign · scale · A)ᵀ[in, r] · Bᵀ[r, out]
      let scaled = a.scalars.map { $0 * sign * scale }
      scaled.withUnsafeBufferPointer { sa in
        sgemm(transA: true, transB: true, m: inputs, n: outputs, k: r, a: sa.baseAddress!, lda: inputs,
              b: b.data, ldb: r, c: w.data, ldc: outputs, accumulate: true)
      }
    }
  }

  // MARK: PEFT folders

  static let prefix = "base_model.model."

  /// Writes `adapter_config.json` and `adapter_model.safetensors` as PEFT's `save_pretrained`
  /// does (tensor names `base_model.model.transformer.h.0.attn.c_attn.lora_A.weight`).
  public func save(peftFolder folder: String, baseModel: String = "") throws(ModelError) {
    try fileAccess(ModelError.file) { () throws(FileError) in try createFolder(folder) }
    try Safetensors.write(
      folder + "/adapter_model.safetensors",
      tensors: parameters.entries.map { (LoRAAdapter.prefix + $0.name, $0.shape, UnsafePointer(parameters.values.base + $0.offset)) },
      metadata: ["format": "pt"])
    let config: [String: Any] = [
      "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": baseModel, "r": self.config.rank,
      "lora_alpha": Double(self.config.alpha), "lora_dropout": Double(self.config.dropout),
      "target_modules": self.config.targets, "fan_in_fan_out": true, "bias": "none", "inference_mode": true,
    ]
    let data = try! JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
    try fileAccess(ModelError.file) { () throws(FileError) in try writeAtomically(data + Data("\n".utf8), to: folder + "/adapter_config.json") }
  }

  /// Reads a PEFT LoRA adapter folder for `model`; a rank, target or shape that does not fit
  /// the model is an error naming the tensor.
  public convenience init(peftFolder folder: String, for model: GPT) throws(ModelError) {
    let configPath = folder + "/adapter_config.json"
    guard let data = FileManager.default.contents(atPath: configPath) else {
      throw .file(.unreadable(path: configPath, reason: "no such file (expected a PEFT adapter folder)"))
    }
    guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
      throw .file(.corrupt(path: configPath, reason: "not a JSON object"))
    }
    guard (json["peft_type"] as? String ?? "LORA") == "LORA" else {
      throw .unsupported("adapter type \(json["peft_type"]!) in \(configPath) (only LORA)")
    }
    guard let rank = json["r"] as? Int, let alpha = (json["lora_alpha"] as? NSNumber)?.floatValue else {
      throw .file(.corrupt(path: configPath, reason: "missing integer 'r' or number 'lora_alpha'"))
    }
    for key in ["rank_pattern", "alpha_pattern"] where !((json[key] as? [String: Any]) ?? [:]).isEmpty {
      throw .unsupported("per-layer '\(key)' in \(configPath)")
    }
    for key in ["use_dora", "lora_bias"] where json[key] as? Bool == true {
      throw .unsupported("'\(key)': true in \(configPath) (plain LoRA only)")
    }
    if let layers = json["layers_to_transform"], !(layers is NSNull) {
      throw .unsupported("'layers_to_transform' in \(configPath) (adapters on every layer only)")
    }
    let targets: [String]
    if let list = json["target_modules"] as? [String] {
      targets = list
    } else if let one = json["target_modules"] as? String {
      targets = [one]
    } else {
      throw .file(.corrupt(path: configPath, reason: "missing 'target_modules'"))
    }
    let config = LoRAConfig(rank: rank, alpha: alpha, dropout: (json["lora_dropout"] as? NSNumber)?.floatValue ?? 0,
                            targets: targets)
    let rs = json["use_rslora"] as? Bool ?? false
    try self.init(config: config, model: model, scale: rs ? alpha / Float(rank).squareRoot() : alpha / Float(rank))
    let path = folder + "/adapter_model.safetensors"
    let (tensors, _) = try Safetensors.read(path)
    for (entry, tensor) in zip(parameters.entries, parameters.tensors) {
      let name = LoRAAdapter.prefix + entry.name
      guard let found = tensors[name] ?? tensors[name.replacingOccurrences(of: ".weight", with: ".default.weight")] else {
        throw .missingTensor(name: name, path: path)
      }
      guard found.shape == entry.shape else {
        throw .shapeMismatch(name: name, expected: entry.shape, found: found.shape)
      }
      found.values.withUnsafeBufferPointer { tensor.data.update(from: $0.baseAddress!, count: entry.count) }
    }
    let known = Set(parameters.entries.map { LoRAAdapter.prefix + $0.name })
    if let extra = tensors.keys.sorted().first(where: { !known.contains($0) && !known.contains($0.replacingOccurrences(of: ".default.weight", with: ".weight")) }) {
      throw .file(.corrupt(path: path, reason: "tensor '\(extra)' matches no layer of this model (adapter made for another base?)"))
    }
  }
}
