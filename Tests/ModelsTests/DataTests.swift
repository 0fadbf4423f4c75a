import FileSupport
import Foundation
import Inference
import Testing
import TensorEngine
import Tokenizers
@testable import Training

@Suite("Token shards and dataset preparation")
struct DataTests {
  @Test("llm.c shards round-trip as uint16 and uint32; nanoGPT raw .bin files read too")
  func shardsRoundTrip() throws {
    let dir = temporaryDirectory()
    for width in [2, 4] {
      let path = dir + "/s\(width).bin"
      let tokens = [0, 1, 65_535, 7, 300] + (width == 4 ? [100_276] : [])
      let writer = try TokenShardWriter(path: path, tokenWidth: width)
      try writer.append(tokens[...])
      try writer.finish()
      let shard = try TokenShard(path: path)
      #expect(shard.count == tokens.count)
      #expect(shard.tokenWidth == width)
      #expect((0..<shard.count).map { Int(shard[$0]) } == tokens)
      let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
      #expect(bytes.count == 1024 + width * tokens.count)
      let magic = bytes.withUnsafeBytes { $0.load(as: Int32.self) }
      #expect(magic == (width == 2 ? 20240520 : 20240801))
    }
    // nanoGPT: raw little-endian uint16, no header.
    let raw = dir + "/train.bin"
    try Data([3, 0, 1, 1, 0xFF, 0xFF]).write(to: URL(fileURLWithPath: raw))
    let shard = try TokenShard(path: raw)
    #expect((0..<shard.count).map { shard[$0] } == [3, 257, 65_535])
  }

  @Test("a shard whose header disagrees with its size is refused")
  func corruptShard() throws {
    let path = temporaryDirectory() + "/bad.bin"
    var data = TokenShard.header(count: 10, tokenWidth: 2)
    data.append(contentsOf: [1, 0, 2, 0])
    try data.write(to: URL(fileURLWithPath: path))
    #expect(throws: TrainingError.file(.corrupt(path: path, reason: "header says 10 tokens but the file has 1028 bytes"))) {
      try TokenShard(path: path)
    }
    #expect(throws: TrainingError.self) { try TokenShard(path: path + ".missing") }
  }

  @Test("char preparation: nanoGPT's split, and ids equal to encoding the text whole")
  func prepareChar() throws {
    let dir = temporaryDirectory()
    let text = String(repeating: "가나다 라마바\n사아자 차카\n", count: 40)
    try text.write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
    var preparer = DatasetPreparer(inputs: [dir + "/in.txt"], tokenizer: "char", output: dir + "/data")
    preparer.blockBytes = 97  // many blocks, cut inside multi-byte characters' neighbourhoods
    let meta = try preparer.run()
    let tokenizer = try CharTokenizer(file: dir + "/data/char_tokenizer.json")
    #expect(meta.vocabSize == tokenizer.vocabSize && meta.vocabSize == Set(text.unicodeScalars).count)
    let train = try TokenDataset(folder: dir + "/data", split: "train")
    let val = try TokenDataset(folder: dir + "/data", split: "val")
    let all = (0..<train.count).map { Int(train.shards[0][$0]) } + (0..<val.count).map { Int(val.shards[0][$0]) }
    #expect(all == (try tokenizer.encode(text)))
    // The split is at byte int(0.9 · n) (moved to the next character boundary).
    let splitByte = Int(Double(text.utf8.count) * 0.9)
    let trainText = try tokenizer.decode(Array(all.prefix(train.count)))
    #expect(trainText.utf8.count >= splitByte && trainText.utf8.count < splitByte + 4)
    #expect(meta.trainTokens == train.count && meta.valTokens == val.count)
  }

  @Test("GPT-2 preparation in small blocks gives the ids of encoding each file whole, EOT first")
  func prepareGPT2() throws {
    let dir = temporaryDirectory()
    let a = String(repeating: "Hello  world,\n  indented line\n\nnew paragraph 123456 ok\n", count: 30)
    let b = "Second file: 대한민국 헌법\n" + String(repeating: "x y\n", count: 10)
    try a.write(toFile: dir + "/a.txt", atomically: true, encoding: .utf8)
    try b.write(toFile: dir + "/b.txt", atomically: true, encoding: .utf8)
    var preparer = DatasetPreparer(inputs: [dir + "/a.txt", dir + "/b.txt"], tokenizer: "gpt2", output: dir + "/data")
    (preparer.blockBytes, preparer.valFraction, preparer.shardTokens) = (64, 0, 100)
    let meta = try preparer.run()
    let gpt2 = try Encoding.named("gpt2")
    let expected = [50256] + gpt2.encodeOrdinary(a) + [50256] + gpt2.encodeOrdinary(b)
    let train = try TokenDataset(folder: dir + "/data", split: "train")
    #expect(train.shards.count == (expected.count + 99) / 100)
    let got = train.shards.flatMap { s in (0..<s.count).map { Int(s[$0]) } }
    #expect(got == expected)
    #expect(meta == DatasetMeta(vocabSize: 50257, tokenizer: "gpt2", trainTokens: expected.count, valTokens: 0,
                                tokenBytes: 2, endOfText: 50256))
    #expect(try DatasetMeta(folder: dir + "/data") == meta)

    // Preparing again into the same folder replaces the dataset: the first run's extra shards
    // were left behind and read with the new ones.
    preparer.shardTokens = 100_000
    _ = try preparer.run()
    let again = try TokenDataset(folder: dir + "/data", split: "train")
    #expect(again.shards.count == 1 && again.count == expected.count)
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/data").sorted()
      == [".lock", "meta.json", "train_000000.bin", "val_000000.bin"])
    // A failed run leaves the dataset as it was.
    var failing = preparer
    failing.tokenizerSpec = dir + "/missing.model"
    #expect(throws: (any Error).self) { try failing.run() }
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/data").sorted()
      == [".lock", "meta.json", "train_000000.bin", "val_000000.bin"])
    // Token files that prepare did not name would be read with the new shards: refused.
    try FileManager.default.copyItem(atPath: dir + "/data/train_000000.bin", toPath: dir + "/data/train.bin")
    #expect(throws: TrainingError.invalidOption(dir + "/data holds other token files (train.bin) that training would read "
      + "with the new shards; move them away or choose another --output")) { try preparer.run() }
  }

  @Test("BPE preparation cuts blocks only where pieces end: indented lines, CR line ends, one long line")
  func prepareCutsBetweenPieces() throws {
    let dir = temporaryDirectory()
    // No block has a newline followed by a non-space: the reader cut such text at any character
    // boundary, inside pieces ([220, 454] for [674]), or inside a character ("not valid UTF-8").
    let texts = [
      String(repeating: "  indented line of text, 42 tokens\n", count: 20),
      String(repeating: "carriage\rreturn only line ends\r", count: 20),
      String(repeating: "one long line without any newline at all ", count: 20),
      String(repeating: "대한민국은 민주공화국이다 　모든 권력은 국민으로부터 나온다 ", count: 20),
      String(repeating: "띄어쓰기가없는아주긴한국어문장", count: 20) + " end",
    ]
    for (k, text) in texts.enumerated() {
      try text.write(toFile: dir + "/in\(k).txt", atomically: true, encoding: .utf8)
      for name in ["gpt2", "cl100k_base"] {
        var preparer = DatasetPreparer(inputs: [dir + "/in\(k).txt"], tokenizer: name, output: dir + "/data\(k)\(name)")
        (preparer.blockBytes, preparer.valFraction) = (64, 0)
        let meta = try preparer.run()
        let train = try TokenDataset(folder: dir + "/data\(k)\(name)", split: "train")
        let got = (0..<train.count).map { Int(train.shards[0][$0]) }
        #expect(got == [meta.endOfText!] + (try Encoding.named(name)).encodeOrdinary(text), "text \(k), \(name)")
      }
    }
  }

  @Test("a dataset whose meta.json disagrees with its shards (an interrupted prepare) is refused")
  func interruptedInstall() throws {
    let dir = temporaryDirectory()
    try String(repeating: "hello world\n", count: 50).write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
    let meta = try DatasetPreparer(inputs: [dir + "/in.txt"], tokenizer: "gpt2", output: dir + "/data").run()
    #expect(try PreparedDataset(folder: dir + "/data").meta == meta)
    // New shards beside the old meta.json: the counts differ.
    let writer = try TokenShardWriter(path: dir + "/data/train_000000.bin", tokenWidth: 2)
    try writer.append([1, 2, 3][...])
    try writer.finish()
    #expect(throws: TrainingError.file(.corrupt(path: dir + "/data/meta.json", reason: "it counts \(meta.trainTokens) train and "
      + "\(meta.valTokens) val tokens of 2 bytes, but the shards hold 3 and \(meta.valTokens) of 2 (an interrupted "
      + "`swiftgpt prepare`?); prepare the data again"))) { try PreparedDataset(folder: dir + "/data") }
    // prepare removes meta.json before it moves shards in: shards without it are refused, not
    // read as nanoGPT data.
    try FileManager.default.removeItem(atPath: dir + "/data/meta.json")
    #expect(throws: TrainingError.file(.unreadable(path: dir + "/data/meta.json", reason: "no such file beside the shards "
      + "`swiftgpt prepare` wrote (an interrupted prepare?); prepare the data again"))) { try PreparedDataset(folder: dir + "/data") }
  }

  @Test("preparation errors: no input, missing file, empty file, bad fraction")
  func prepareErrors() throws {
    let dir = temporaryDirectory()
    #expect(throws: TrainingError.file(.unreadable(path: dir + "/nope.txt", reason: "no such file"))) {
      try DatasetPreparer(inputs: [dir + "/nope.txt"], tokenizer: "char", output: dir + "/o").run()
    }
    // A folder given as input was reported as "no such file".
    #expect(throws: TrainingError.file(.unreadable(path: dir, reason: "it is a directory"))) {
      try DatasetPreparer(inputs: [dir], tokenizer: "char", output: dir + "/o").run()
    }
    try "".write(toFile: dir + "/empty.txt", atomically: true, encoding: .utf8)
    #expect(throws: TrainingError.invalidData("the input files are empty")) {
      try DatasetPreparer(inputs: [dir + "/empty.txt"], tokenizer: "char", output: dir + "/o").run()
    }
    var p = DatasetPreparer(inputs: [dir + "/empty.txt"], tokenizer: "char", output: dir + "/o")
    p.valFraction = 1
    #expect(throws: TrainingError.self) { try p.run() }
    // Invalid UTF-8 (here a file cut inside a character) is refused as tokenizer training refuses
    // it; it was decoded with U+FFFD in place of the bytes.
    try Data("대한민국".utf8.dropLast()).write(to: URL(fileURLWithPath: dir + "/cut.txt"))
    for tokenizer in ["char", "gpt2"] {
      #expect(throws: TrainingError.file(.unreadable(path: dir + "/cut.txt", reason: "not valid UTF-8 text"))) {
        try DatasetPreparer(inputs: [dir + "/cut.txt"], tokenizer: tokenizer, output: dir + "/o").run()
      }
    }
  }

  @Test("batches are random windows with next-token targets, fixed by the seed")
  func batches() throws {
    let dir = temporaryDirectory()
    let writer = try TokenShardWriter(path: dir + "/train_000000.bin", tokenWidth: 2)
    try writer.append(Array(0..<500)[...])
    try writer.finish()
    let data = try TokenDataset(folder: dir, split: "train")
    var rng = RandomGenerator(seed: 5)
    let (x, y) = try data.batch(4, length: 16, rng: &rng)
    for b in 0..<4 {
      let row = Array(x[(b * 16)..<(b * 16 + 16)])
      #expect(row == (0..<16).map { row[0] + Int32($0) })
      #expect(Array(y[(b * 16)..<(b * 16 + 16)]) == row.map { $0 + 1 })
      #expect(row[0] + 16 < 500)
    }
    var again = RandomGenerator(seed: 5)
    #expect(try data.batch(4, length: 16, rng: &again).inputs == x)
    #expect(throws: TrainingError.self) { try data.batch(1, length: 500, rng: &rng) }
  }
}
