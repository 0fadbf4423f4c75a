import FileSupport
import Foundation
import Testing
import TensorEngine
@testable import Models
import Training

@Suite("Optimisers, clipping and schedules")
struct TrainingTests {
  @Test("the nanoGPT schedule: linear warmup, cosine decay to min_lr, then flat")
  func cosineSchedule() {
    let s = LRSchedule(maxLR: 1e-3, minLR: 1e-4, warmupSteps: 10, decaySteps: 110)
    #expect(abs(s.lr(at: 0) - 1e-3 / 11) < 1e-9)
    #expect(abs(s.lr(at: 10) - 1e-3) < 1e-9)
    #expect(abs(s.lr(at: 60) - 5.5e-4) < 1e-8)  // halfway: (max + min) / 2
    #expect(s.lr(at: 110) == 1e-4)
    #expect(s.lr(at: 5000) == 1e-4)
    let linear = LRSchedule(maxLR: 1, minLR: 0, warmupSteps: 0, decaySteps: 100, decay: .linear)
    #expect(abs(linear.lr(at: 25) - 0.75) < 1e-6)
    #expect(LRSchedule(maxLR: 0.5, decay: .constant).lr(at: 1000) == 0.5)
  }

  @Test("clipGradNorm returns the norm and scales gradients down to maxNorm")
  func clipping() {
    let params = ParameterSet([("a", [2], true), ("b", [2], false)])
    for (i, v) in [Float(3), 0, 0, 4].enumerated() { params.grads.base[i] = v }
    #expect(clipGradNorm(params, maxNorm: 10) == 5)
    #expect(params.grads.base[0] == 3)
    #expect(abs(clipGradNorm(params, maxNorm: 1) - 5) < 1e-6)
    #expect(abs(params.grads.base[3] - 0.8) < 1e-5)
  }

  @Test("SGD with momentum and weight decay follows torch.optim.SGD")
  func sgd() {
    let params = ParameterSet([("w", [1], true)])
    params.values.base[0] = 1
    var opt = SGD(parameters: params, momentum: 0.9, weightDecay: 0.1)
    params.grads.base[0] = 0.5
    opt.step(lr: 0.1)  // d = 0.5 + 0.1 = 0.6 → p = 0.94
    #expect(abs(params.values.base[0] - 0.94) < 1e-6)
    opt.step(lr: 0.1)  // d = 0.5 + 0.094 = 0.594, buf = 0.54 + 0.594 = 1.134 → p = 0.8266
    #expect(abs(params.values.base[0] - 0.8266) < 1e-6)
  }

  @Test("AdamW decays only parameters marked for decay")
  func adamWDecayMask() {
    let params = ParameterSet([("w", [1], true), ("b", [1], false)])
    params.values.base[0] = 1
    params.values.base[1] = 1
    var opt = AdamW(parameters: params, weightDecay: 0.5)
    opt.step(lr: 0.1)  // zero gradients: only decay moves anything
    #expect(abs(params.values.base[0] - 0.95) < 1e-7)
    #expect(params.values.base[1] == 1)
  }

  @Test("the bigram model learns a deterministic sequence")
  func bigramLearns() throws {
    let model = try Bigram(vocabSize: 5)
    let ids: [Int32] = [0, 1, 2, 3, 4, 0, 1, 2]
    let targets: [Int32] = [1, 2, 3, 4, 0, 1, 2, 3]
    var opt = AdamW(parameters: model.parameters, weightDecay: 0)
    var first: Float = 0, last: Float = 0
    for step in 0..<200 {
      model.parameters.zeroGrad()
      let loss = model.forward(ids, batch: 2, length: 4, targets: targets).loss!
      if step == 0 { first = loss.item }
      last = loss.item
      loss.backward()
      opt.step(lr: 0.1)
    }
    #expect(first > 0.5)
    #expect(last < 0.05)
  }

  @Test("a small GPT overfits one batch with AdamW, clipping and a schedule")
  func gptOverfits() throws {
    let config = GPTConfig(vocabSize: 11, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 32, dropout: 0.1)
    let model = try GPT(config: config, seed: 3)
    let ids: [Int32] = (0..<16).map { Int32($0 % 11) }
    let targets: [Int32] = (1...16).map { Int32($0 % 11) }
    var opt = AdamW(parameters: model.parameters, weightDecay: 0.1)
    let schedule = LRSchedule(maxLR: 3e-3, minLR: 3e-4, warmupSteps: 5, decaySteps: 80)
    let rng = DropoutRNG(seed: 9)
    var losses: [Float] = []
    for step in 0..<80 {
      model.parameters.zeroGrad()
      let loss = model.forward(ids, batch: 2, length: 8, targets: targets, rng: rng).loss!
      losses.append(loss.item)
      loss.backward()
      clipGradNorm(model.parameters, maxNorm: 1)
      opt.step(lr: schedule.lr(at: step))
    }
    #expect(abs(losses[0] - logf(11)) < 0.3, "initial loss near ln V")
    #expect(losses.last! < 0.5, "final loss \(losses.last!)")
  }
}

@Suite("Model files and configs")
struct ModelFileTests {
  @Test("presets have the published shapes and parameter counts")
  func presets() throws {
    // GPT-2 124M: 124,439,808 parameters (tied head), as HF reports.
    #expect(GPT.layout(.gpt2).reduce(0) { $0 + $1.shape.reduce(1, *) } == 124_439_808)
    #expect(GPT.layout(.gpt2Medium).reduce(0) { $0 + $1.shape.reduce(1, *) } == 354_823_168)
    // nanoGPT's baby GPT reports 10.65M parameters without wpe (no biases).
    let baby = GPT.layout(.babyGPT()).reduce(0) { $0 + $1.shape.reduce(1, *) } - 256 * 384
    #expect(baby == 10_646_784)  // "number of parameters: 10.65M"
    #expect(GPTConfig.preset(named: "gpt2-xl")?.nEmbd == 1600)
  }

  @Test("invalid configs are rejected with a one-line reason")
  func invalidConfig() {
    #expect(throws: ModelError.invalidConfig("n_embd 10 is not divisible by n_head 3")) {
      try GPT(config: GPTConfig(vocabSize: 5, blockSize: 4, nLayer: 1, nHead: 3, nEmbd: 10))
    }
    // Sizes no machine holds are refused before anything is allocated (they crashed or ran out
    // of memory): a huge width, a huge depth, and counts that overflow Int when multiplied.
    for config in [GPTConfig(vocabSize: 5, blockSize: 4, nLayer: 1, nHead: 3, nEmbd: 300_000_000_000),
                   GPTConfig(vocabSize: 5, blockSize: 4, nLayer: 100_000_000, nHead: 1, nEmbd: 48),
                   GPTConfig(vocabSize: 5, blockSize: 4, nLayer: 1 << 40, nHead: 1, nEmbd: 1 << 40)] {
      #expect {
        try GPT(config: config)
      } throws: { error in
        "\(error)".hasPrefix("invalid model config: ") && "\(error)".contains("do not fit in this machine's")
      }
    }
  }

  @Test("safetensors round-trips F32 and reads F16 and BF16")
  func safetensorsDtypes() throws {
    let dir = temporaryDirectory()
    let values: [Float] = [1, -2.5, 0.125, 3]
    try values.withUnsafeBufferPointer { p in
      try Safetensors.write(dir + "/a.safetensors", tensors: [("x", [2, 2], p.baseAddress!)], metadata: ["k": "v\"q"])
    }
    let (tensors, metadata) = try Safetensors.read(dir + "/a.safetensors")
    #expect(tensors["x"]?.shape == [2, 2] && tensors["x"]?.values == values)
    #expect(metadata == ["k": "v\"q"])
    // Hand-made file with an F16 and a BF16 tensor.
    let header = #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}}"#
    var data = Data()
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(contentsOf: Array(header.utf8))
    for bits: UInt16 in [0x3C00, 0xC100, 0x4049] { withUnsafeBytes(of: bits.littleEndian) { data.append(contentsOf: $0) } }
    try data.write(to: URL(fileURLWithPath: dir + "/h.safetensors"))
    let mixed = try Safetensors.read(dir + "/h.safetensors").tensors
    #expect(mixed["h"]?.values == [1, -2.5])
    #expect(mixed["b"]?.values == [3.140625])
  }

  @Test("config.json and generation_config.json carry bos/eos ids the vocabulary has (transformers took 50256)")
  func specialTokenIDs() throws {
    let dir = temporaryDirectory()
    let model = try GPT(config: GPTConfig(vocabSize: 11, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 8, bosTokenID: 10, eosTokenID: 10))
    try model.save(huggingFaceFolder: dir + "/a")
    for file in ["config.json", "generation_config.json"] {
      let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/a/" + file))) as! [String: Any]
      #expect(json["bos_token_id"] as? Int == 10 && json["eos_token_id"] as? Int == 10, "\(file)")
    }
    #expect(try GPT.load(huggingFaceFolder: dir + "/a").config == model.config)
    // A char model has none: null, not GPT2Config's default.
    let char = try GPT(config: GPTConfig(vocabSize: 11, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 8))
    try char.save(huggingFaceFolder: dir + "/b")
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/b/config.json"))) as! [String: Any]
    #expect(json["eos_token_id"] is NSNull && json["bos_token_id"] is NSNull)
    // The parity fixture (vocab 96) says 50256, as GPT2Config writes by default: dropped.
    let tiny = try GPT.load(huggingFaceFolder: fixturesDirectory + "/gpt2-tiny")
    #expect(tiny.config.eosTokenID == nil && tiny.config.bosTokenID == nil)
    char.setSpecialTokenIDs(bos: 3, eos: 99)
    #expect(char.config.bosTokenID == 3 && char.config.eosTokenID == nil)
  }

  @Test("corrupt and missing files give one-line errors")
  func badFiles() throws {
    let dir = temporaryDirectory()
    #expect(throws: ModelError.file(.unreadable(path: dir + "/none.safetensors", reason: "no such file"))) {
      try Safetensors.read(dir + "/none.safetensors")
    }
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/short.safetensors"))
    #expect(throws: ModelError.file(.corrupt(path: dir + "/short.safetensors", reason: "shorter than the 8-byte header length"))) {
      try Safetensors.read(dir + "/short.safetensors")
    }
    var data = Data()
    withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { data.append(contentsOf: $0) }
    try data.write(to: URL(fileURLWithPath: dir + "/huge.safetensors"))
    #expect(throws: ModelError.self) { try Safetensors.read(dir + "/huge.safetensors") }
    // A length with the top bit set, and a shape whose element count overflows to 1.
    data = Data(repeating: 0xFF, count: 16)
    try data.write(to: URL(fileURLWithPath: dir + "/top.safetensors"))
    #expect(throws: ModelError.file(.corrupt(path: dir + "/top.safetensors",
                                           reason: "header length 18446744073709551615 exceeds the file"))) {
      try Safetensors.read(dir + "/top.safetensors")
    }
    let header = #"{"x":{"dtype":"F32","shape":[7,7905747460161236407],"data_offsets":[0,4]}}"#
    data = Data()
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(contentsOf: Array(header.utf8) + [0, 0, 0x80, 0x3F])
    try data.write(to: URL(fileURLWithPath: dir + "/overflow.safetensors"))
    #expect(throws: ModelError.self) { try Safetensors.read(dir + "/overflow.safetensors") }
    // Tensors sharing bytes, bytes of no tensor, and trailing bytes: Python's safetensors refuses
    // them all; they loaded (two tensors read the same floats).
    func file(_ header: String, floats: Int) throws -> String {
      var data = Data()
      withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
      data.append(contentsOf: Array(header.utf8) + [UInt8](repeating: 0, count: 4 * floats))
      let path = dir + "/\(abs(header.hashValue)).safetensors"
      try data.write(to: URL(fileURLWithPath: path))
      return path
    }
    let a = #""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#
    var path = try file("{\(a),\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", floats: 3)
    #expect(throws: ModelError.file(.corrupt(path: path, reason: "tensor 'b' overlaps another tensor's bytes"))) { try Safetensors.read(path) }
    path = try file("{\(a),\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", floats: 4)
    #expect(throws: ModelError.file(.corrupt(path: path, reason: "bytes 8..<12 of the data belong to no tensor"))) { try Safetensors.read(path) }
    path = try file("{\(a)}", floats: 3)
    #expect(throws: ModelError.file(.corrupt(path: path, reason: "4 bytes after the last tensor belong to no tensor"))) { try Safetensors.read(path) }
    path = try file("{\(a)}", floats: 2)
    #expect(try Safetensors.read(path).tensors["a"]?.values == [0, 0])
    // A folder whose weights do not fit its config.
    let model = try GPT(config: GPTConfig(vocabSize: 7, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 8))
    try model.save(huggingFaceFolder: dir + "/m")
    let config = try String(contentsOfFile: dir + "/m/config.json", encoding: .utf8)
    try config.replacingOccurrences(of: "\"n_embd\" : 8", with: "\"n_embd\" : 16")
      .write(toFile: dir + "/m/config.json", atomically: true, encoding: .utf8)
    #expect(throws: ModelError.shapeMismatch(name: "transformer.wte.weight", expected: [7, 16], found: [7, 8])) {
      try GPT.load(huggingFaceFolder: dir + "/m")
    }
    #expect(ModelError.shapeMismatch(name: "x", expected: [1], found: [2]).description.split(separator: "\n").count == 1)
  }

  @Test("a model without biases saves zero biases that reload to the same logits")
  func biasFreeExport() throws {
    let config = GPTConfig(vocabSize: 9, blockSize: 6, nLayer: 1, nHead: 2, nEmbd: 8, bias: false)
    let model = try GPT(config: config, seed: 4)
    let dir = temporaryDirectory()
    try model.save(huggingFaceFolder: dir)
    let loaded = try GPT.load(huggingFaceFolder: dir)
    let ids: [Int32] = [1, 2, 3, 8, 0, 5]
    let a = withoutGrad { model.forward(ids, batch: 1, length: 6).logits.scalars }
    let b = withoutGrad { loaded.forward(ids, batch: 1, length: 6).logits.scalars }
    #expect(relativeError(b, a) < 1e-6)
  }
}
