import Foundation
import Inference
import Models
import Testing
import TensorEngine
import Tokenizers
@testable import Training

/// Every file reader, fed random truncations, byte flips and insertions of a valid file: each
/// one loads or throws an error that reads as one line — never a crash, a hang or a runaway
/// allocation.
@Suite("file readers survive damaged files")
struct FileFuzzTests {
  /// Damaged copies of `data`: cut at random lengths, with random bytes flipped, with random
  /// bytes inserted; the same ones for the same seed.
  static func damaged(_ data: Data, count: Int, seed: UInt64) -> [Data] {
    var rng = RandomGenerator(seed: seed)
    let bytes = [UInt8](data)
    return (0..<count).map { k in
      var copy = bytes
      switch k % 3 {
      case 0:
        copy = Array(copy.prefix(Int.random(in: 0..<max(1, copy.count), using: &rng)))
      case 1:
        for _ in 0...Int.random(in: 0..<4, using: &rng) where !copy.isEmpty {
          copy[Int.random(in: 0..<copy.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
        }
      default:
        let at = Int.random(in: 0...copy.count, using: &rng)
        copy.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
      }
      return Data(copy)
    }
  }

  /// Writes each damaged copy to `name` in a fresh folder and reads it with `read`.
  func survive(_ original: Data, name: String, count: Int = 600, seed: UInt64 = 7, read: (String) throws -> Void) throws {
    let dir = temporaryDirectory()
    let path = dir + "/" + name
    var (loaded, refused) = (0, 0)
    for (k, data) in Self.damaged(original, count: count, seed: seed).enumerated() {
      try data.write(to: URL(fileURLWithPath: path))
      do {
        try read(path)
        loaded += 1
      } catch {
        refused += 1
        let message = "\(error)"
        #expect(!message.isEmpty && !message.contains("\n"), "copy \(k): \(message)")
      }
    }
    #expect(refused > 0, "\(name): no damaged copy was refused (loaded \(loaded))")
  }

  @Test func safetensors() throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/gpt2-tiny/model.safetensors"))
    // Keep it small: the first tensors only, re-written.
    let (tensors, _) = try Safetensors.read(fixturesDirectory + "/gpt2-tiny/model.safetensors")
    let names = tensors.keys.sorted().prefix(4)
    let dir = temporaryDirectory()
    let kept = names.map { (name: $0, values: tensors[$0]!.values, shape: tensors[$0]!.shape) }
    try withExtendedLifetime(kept) {
      let pointers = kept.map { entry in
        entry.values.withUnsafeBufferPointer { (entry.name, entry.shape, UnsafePointer($0.baseAddress!)) }
      }
      try Safetensors.write(dir + "/small.safetensors", tensors: pointers)
    }
    #expect(data.count > 0)
    try survive(try Data(contentsOf: URL(fileURLWithPath: dir + "/small.safetensors")), name: "m.safetensors") {
      _ = try Safetensors.read($0)
    }
  }

  @Test func tokenShards() throws {
    let dir = temporaryDirectory()
    let writer = try TokenShardWriter(path: dir + "/train_000000.bin", tokenWidth: 2)
    try writer.append(Array(0..<300)[...])
    try writer.finish()
    try survive(try Data(contentsOf: URL(fileURLWithPath: dir + "/train_000000.bin")), name: "train_000000.bin") { path in
      let shard = try TokenShard(path: path)
      if shard.count > 0 { _ = shard[shard.count - 1] }
      // A prepared folder: the shard against its meta.json.
      let folder = (path as NSString).deletingLastPathComponent
      try DatasetMeta(vocabSize: 300, tokenizer: "", trainTokens: 300, valTokens: 0, tokenBytes: 2).write(folder: folder)
      _ = try PreparedDataset(folder: folder)
    }
  }

  @Test func tokenizerFiles() throws {
    let dir = temporaryDirectory()
    let corpus = String(repeating: "대한민국 헌법 hello world, the quick brown fox 123\n", count: 20)
    // minbpe .model
    let bpe = try RegexTokenizer.train(text: corpus, vocabSize: 300, pattern: .cl100k, specialTokens: ["<|endoftext|>"])
    try bpe.save(prefix: dir + "/bpe")
    try survive(try Data(contentsOf: URL(fileURLWithPath: dir + "/bpe.model")), name: "t.model") { _ = try loadTokenizer($0) }
    // tiktoken ranks: the 256 bytes and a few merges.
    var ranks = (0..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }
    for (k, token) in ["th", "he", "the", " the", "an"].enumerated() {
      ranks.append("\(Data(token.utf8).base64EncodedString()) \(256 + k)")
    }
    try survive(Data((ranks.joined(separator: "\n") + "\n").utf8), name: "t.tiktoken") { path in
      let encoding = try loadTokenizer(path)
      _ = try encoding.encode("the then")
    }
    // HF tokenizer.json
    let base = PipelineTokenizer(normalizer: .nfkc, preTokenizer: .sequence([.whitespaceSplit, .punctuation(.isolated)]),
                                 model: PipelineBPE.empty, decoder: .wordPiece(prefix: "##", cleanup: true))
    let hf = try PipelineBPETrainer(vocabSize: 120, specialTokens: ["<|endoftext|>"], continuingSubwordPrefix: "##")
      .train(base, on: corpus.split(separator: "\n").map(String.init))
    try hf.save(to: dir + "/tokenizer.json")
    try survive(try Data(contentsOf: URL(fileURLWithPath: dir + "/tokenizer.json")), name: "tokenizer.json") { path in
      let tokenizer = try PipelineTokenizer(file: path)
      _ = try tokenizer.encoding(of: "hello 대한민국")
    }
    // char vocabulary
    try CharTokenizer(corpus: corpus).save(to: dir + "/chars.json")
    try survive(try Data(contentsOf: URL(fileURLWithPath: dir + "/chars.json")), name: "chars.json") { _ = try loadTokenizer($0) }
  }
}
