import Foundation
import Testing
import TensorEngine
@testable import Models
import Training

/// The tiny GPT2LMHeadModel made by `scripts/gpt2_parity.py make`, and what PyTorch computed.
struct TinyGPT2Fixture {
  let model: GPT
  let expected: [String: Safetensors.Entry]
  let ids: [Int32]
  let targets: [Int32]
  let batch: Int, length: Int

  init() throws {
    let folder = fixturesDirectory + "/gpt2-tiny"
    model = try GPT.load(huggingFaceFolder: folder)
    expected = try Safetensors.read(folder + "/expected.safetensors").tensors
    let idsEntry = expected["ids"]!
    (batch, length) = (idsEntry.shape[0], idsEntry.shape[1])
    ids = idsEntry.values.map { Int32($0) }
    targets = expected["targets"]!.values.map { Int32($0) }
  }
}

@Suite("Parity with Hugging Face GPT-2 (PyTorch fixtures)")
struct HFParityTests {
  @Test("logits and loss match PyTorch to 1e-5")
  func forwardMatches() throws {
    let f = try TinyGPT2Fixture()
    #expect(f.model.config == GPTConfig(vocabSize: 96, blockSize: 32, nLayer: 2, nHead: 4, nEmbd: 64, dropout: 0))
    let (logits, loss) = f.model.forward(f.ids, batch: f.batch, length: f.length, targets: f.targets)
    #expect(logits.shape == [f.batch, f.length, 96])
    #expect(relativeError(logits.scalars, f.expected["logits"]!.values) <= 1e-5)
    #expect(relativeError([loss!.item], f.expected["loss"]!.values) <= 1e-5)
  }

  @Test("every parameter gradient matches PyTorch to 1e-4")
  func gradientsMatch() throws {
    let f = try TinyGPT2Fixture()
    f.model.parameters.zeroGrad()
    f.model.forward(f.ids, batch: f.batch, length: f.length, targets: f.targets).loss!.backward()
    for (entry, tensor) in zip(f.model.parameters.entries, f.model.parameters.tensors) {
      let reference = try #require(f.expected["grad." + entry.name], "no reference gradient for \(entry.name)")
      let error = relativeError(tensor.grad!, reference.values)
      #expect(error <= 1e-4, "\(entry.name): relative error \(error)")
    }
  }

  /// The step starts from PyTorch's own gradients: some true gradients are exactly zero (the key
  /// bias cannot change a softmax), and Adam scales their rounding noise up to ±lr, so steps from
  /// two independently rounded gradients would differ there by design.
  @Test("one AdamW step matches torch.optim.AdamW to 1e-5")
  func adamWStepMatches() throws {
    let f = try TinyGPT2Fixture()
    for (entry, tensor) in zip(f.model.parameters.entries, f.model.parameters.tensors) {
      let grad = try #require(f.expected["grad." + entry.name]).values
      grad.withUnsafeBufferPointer { tensor.gradData.update(from: $0.baseAddress!, count: entry.count) }
    }
    var optimizer = AdamW(parameters: f.model.parameters, weightDecay: 0.1)
    optimizer.step(lr: 1e-3)
    for (entry, tensor) in zip(f.model.parameters.entries, f.model.parameters.tensors) {
      let reference = try #require(f.expected["adamw." + entry.name])
      let error = relativeError(tensor.scalars, reference.values)
      #expect(error <= 1e-5, "\(entry.name): relative error \(error)")
    }
  }

  /// Saves the fixture model after one AdamW step, with its logits, so that
  /// `scripts/gpt2_parity.py check` can load the folder in transformers. Skips unless
  /// SWIFTGPT_EXPORT_DIR is set; in the suite it checks the folder loads back unchanged.
  @Test("a saved HF folder loads back with identical parameters")
  func exportsAFolderTransformersLoads() throws {
    let f = try TinyGPT2Fixture()
    f.model.parameters.zeroGrad()
    f.model.forward(f.ids, batch: f.batch, length: f.length, targets: f.targets).loss!.backward()
    var optimizer = AdamW(parameters: f.model.parameters, weightDecay: 0.1)
    optimizer.step(lr: 1e-2)
    let folder = ProcessInfo.processInfo.environment["SWIFTGPT_EXPORT_DIR"] ?? temporaryDirectory()
    try f.model.save(huggingFaceFolder: folder)
    let logits = withoutGrad { f.model.forward(f.ids, batch: f.batch, length: f.length).logits }
    let idValues = f.ids.map(Float.init)
    try idValues.withUnsafeBufferPointer { ids in
      try Safetensors.write(folder + "/swift_logits.safetensors", tensors: [
        ("ids", [f.batch, f.length], ids.baseAddress!), ("logits", logits.shape, UnsafePointer(logits.data)),
      ])
    }
    let reloaded = try GPT.load(huggingFaceFolder: folder)
    #expect(reloaded.parameters.tensors.map(\.scalars) == f.model.parameters.tensors.map(\.scalars))
    let saved = try Safetensors.read(folder + "/model.safetensors").tensors
    #expect(saved["lm_head.weight"] == nil, "a tied head is not written, as save_pretrained")
    #expect(saved["transformer.h.1.attn.c_attn.weight"]?.shape == [64, 192])
  }

  @Test("config.json variants that change the computation are refused, equivalent ones accepted")
  func configVariants() throws {
    let base = try JSONSerialization.jsonObject(
      with: Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/gpt2-tiny/config.json"))) as! [String: Any]
    func load(_ change: [String: Any]) throws -> GPTConfig {
      let json = try JSONSerialization.data(withJSONObject: base.merging(change) { $1 })
      return try gptConfig(fromHuggingFace: json, path: "config.json")
    }
    // These loaded and gave other logits than transformers (scores scaled differently).
    #expect(throws: ModelError.unsupported(
      "scale_attn_weights false in config.json; SwiftGPT's attention scales scores by 1/√head_size")) {
      try load(["scale_attn_weights": false])
    }
    #expect(throws: ModelError.unsupported(
      "scale_attn_by_inverse_layer_idx true in config.json; SwiftGPT's attention scales scores by 1/√head_size only")) {
      try load(["scale_attn_by_inverse_layer_idx": true])
    }
    #expect(throws: ModelError.self) { try load(["activation_function": "gelu"]) }
    // The same function under another name, and a flag that changes no Float32 result.
    #expect(try load(["activation_function": "gelu_pytorch_tanh", "reorder_and_upcast_attn": true, "scale_attn_weights": true])
      == (try load([:])))
  }

  @Test("a folder of safetensors shards and model.safetensors.index.json loads as the single file does")
  func shardedFolderLoads() throws {
    // Split the fixture's weights as save_pretrained(max_shard_size=...) does: tensors spread
    // over model-0000k-of-00003.safetensors, and an index mapping each name to its file.
    let folder = temporaryDirectory()
    let source = fixturesDirectory + "/gpt2-tiny"
    try FileManager.default.copyItem(atPath: source + "/config.json", toPath: folder + "/config.json")
    let single = try GPT.load(huggingFaceFolder: source)
    let tensors = zip(single.parameters.entries, single.parameters.tensors).map { ($0.name, $0.shape, UnsafePointer($1.data)) }
    var weightMap: [String: String] = [:]
    for shard in 0..<3 {
      let file = "model-0000\(shard + 1)-of-00003.safetensors"
      let part = tensors.enumerated().filter { $0.offset % 3 == shard }.map(\.element)
      for (name, _, _) in part { weightMap[name] = file }
      try Safetensors.write(folder + "/" + file, tensors: part)
    }
    let index = try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 0], "weight_map": weightMap])
    try index.write(to: URL(fileURLWithPath: folder + "/model.safetensors.index.json"))
    let sharded = try GPT.load(huggingFaceFolder: folder)
    #expect(sharded.parameters.tensors.map(\.scalars) == single.parameters.tensors.map(\.scalars))
    // A tensor the index sends to a shard that lacks it is named in the error.
    weightMap["transformer.wte.weight"] = "model-00002-of-00003.safetensors"
    try JSONSerialization.data(withJSONObject: ["weight_map": weightMap])
      .write(to: URL(fileURLWithPath: folder + "/model.safetensors.index.json"))
    #expect(throws: ModelError.missingTensor(name: "transformer.wte.weight", path: folder + "/model.safetensors.index.json")) {
      try GPT.load(huggingFaceFolder: folder)
    }
  }

  @Test("a folder with only PyTorch's pytorch_model.bin says how to get safetensors")
  func pickleOnlyFolder() throws {
    // It said only "model.safetensors: no such file", beside the weights the user downloaded.
    let folder = temporaryDirectory()
    try FileManager.default.copyItem(atPath: fixturesDirectory + "/gpt2-tiny/config.json", toPath: folder + "/config.json")
    try Data("pickle".utf8).write(to: URL(fileURLWithPath: folder + "/pytorch_model.bin"))
    #expect(throws: ModelError.file(.unreadable(path: folder + "/model.safetensors", reason: "no such file; the folder's pytorch_model.bin "
      + "is a pickle, which SwiftGPT does not read: save it as safetensors with transformers "
      + "(model.save_pretrained(folder, safe_serialization=True))"))) { try GPT.load(huggingFaceFolder: folder) }
  }
}
