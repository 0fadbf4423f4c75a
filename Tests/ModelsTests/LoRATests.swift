import Foundation
import Testing
import TensorEngine
@testable import Models

/// LoRA against PEFT 0.21 (`scripts/peft_reference.py make`: r 4, alpha 8, c_attn + c_proj on
/// the gpt2-tiny fixture, random A and B).
@Suite("LoRA adapters (parity with PEFT)")
struct LoRATests {
  let base: GPT
  let expected: [String: Safetensors.Entry]
  let ids: [Int32]
  let folder = fixturesDirectory + "/gpt2-tiny-lora"

  init() throws {
    base = try GPT.load(huggingFaceFolder: fixturesDirectory + "/gpt2-tiny")
    expected = try Safetensors.read(folder + "/expected.safetensors").tensors
    ids = expected["ids"]!.values.map { Int32($0) }
  }

  @Test func peftAdapterGivesPEFTLogits() throws {
    let adapter = try LoRAAdapter(peftFolder: folder, for: base)
    #expect(adapter.config.rank == 4 && adapter.config.alpha == 8 && Set(adapter.config.targets) == ["c_proj", "c_attn"])
    #expect(adapter.parameterCount == 2 * (4 * 64 + 192 * 4 + 4 * 64 + 64 * 4 + 4 * 256 + 64 * 4))
    base.adapter = adapter
    let logits = base.forward(ids, batch: 2, length: 16).logits
    #expect(relativeError(logits.scalars, expected["logits"]!.values) <= 1e-5)
  }

  @Test func mergeEqualsPEFTMergeAndUnmergeRestores() throws {
    let adapter = try LoRAAdapter(peftFolder: folder, for: base)
    let original = base.parameters.tensors.map(\.scalars)
    adapter.merge(into: base)
    let merged = base.forward(ids, batch: 2, length: 16).logits
    #expect(relativeError(merged.scalars, expected["merged_logits"]!.values) <= 1e-5)
    adapter.unmerge(from: base)
    for (t, o) in zip(base.parameters.tensors, original) { #expect(relativeError(t.scalars, o) <= 1e-6) }
  }

  @Test func savedAdapterReloadsAndNewAdapterStartsAtTheBase() throws {
    let dir = temporaryDirectory()
    let adapter = try LoRAAdapter(peftFolder: folder, for: base)
    try adapter.save(peftFolder: dir, baseModel: "gpt2-tiny")
    let again = try LoRAAdapter(peftFolder: dir, for: base)
    #expect(again.parameters.tensors.map(\.scalars) == adapter.parameters.tensors.map(\.scalars))
    let config = try String(contentsOfFile: dir + "/adapter_config.json", encoding: .utf8)
    #expect(config.contains("\"peft_type\" : \"LORA\"") && config.contains("\"fan_in_fan_out\" : true"))
    // A fresh adapter (B = 0) leaves the model unchanged.
    base.adapter = nil
    let plain = base.forward(ids, batch: 2, length: 16).logits.scalars
    base.adapter = try LoRAAdapter(config: LoRAConfig(rank: 2, alpha: 4, targets: ["c_attn", "c_fc"]), for: base)
    #expect(base.forward(ids, batch: 2, length: 16).logits.scalars == plain)
  }

  @Test func frozenBaseGetsNoGradients() throws {
    base.adapter = try LoRAAdapter(config: LoRAConfig(rank: 2, alpha: 4), for: base)
    for t in base.adapter!.parameters.tensors where t.shape[0] != 2 { for i in 0..<t.count { t.data[i] = 0.01 } }
    base.parameters.isTrainable = false
    base.parameters.zeroGrad()
    let targets = ids.map { ($0 + 1) % 96 }
    base.forward(ids, batch: 2, length: 16, targets: targets).loss!.backward()
    #expect(base.parameters.tensors.allSatisfy { $0.grad.map { $0.allSatisfy { $0 == 0 } } ?? true })
    let grads = base.adapter!.parameters.grads
    #expect((0..<grads.count).contains { grads.base[$0] != 0 })
  }

  @Test func adapterForAnotherBaseIsAClearError() throws {
    let other = try GPT(config: GPTConfig(vocabSize: 96, blockSize: 32, nLayer: 2, nHead: 4, nEmbd: 32))
    #expect(throws: ModelError.shapeMismatch(
      name: "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", expected: [4, 32], found: [4, 64])) {
      try LoRAAdapter(peftFolder: folder, for: other)
    }
    let deeper = try GPT(config: GPTConfig(vocabSize: 96, blockSize: 32, nLayer: 3, nHead: 4, nEmbd: 64))
    #expect(throws: ModelError.missingTensor(
      name: "base_model.model.transformer.h.2.attn.c_attn.lora_A.weight", path: folder + "/adapter_model.safetensors")) {
      try LoRAAdapter(peftFolder: folder, for: deeper)
    }
    #expect(throws: ModelError.self) { try LoRAAdapter(config: LoRAConfig(targets: ["q_proj"]), for: base) }
  }
}
