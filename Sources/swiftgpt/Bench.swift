import FileSupport
import ArgumentParser
import Foundation
import Models
import Tokenizers

/// `swiftgpt bench …`: timings for bench/*.py, printed as one JSON object.
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure tokenizer and training speed (used by the scripts in bench/).",
    subcommands: [EncodeBench.self, TrainBench.self, GPTBench.self, GemmBench.self, AttentionBench.self, DecodeBench.self])
}

/// Refuses any of `flags` (name and value) below `minimum`.
func requireAtLeast(_ minimum: Int, _ flags: KeyValuePairs<String, Int>) throws {
  for (flag, value) in flags where value < minimum { throw ValidationError("\(flag) must be ≥ \(minimum), got \(value)") }
}

/// Refuses a benchmark whose buffers (`bytes`) exceed this machine's memory.
func requireMemory(_ bytes: Double, lower flags: String) throws {
  if let refusal = MemoryLimit.refusal("this benchmark", needs: bytes, lower: flags) { throw ValidationError(refusal) }
}

/// Best and median of repeated timings, as JSON.
func timingJSON(_ seconds: [Double], bytes: Int, extra: [String: Any]) throws -> String {
  let sorted = seconds.sorted()
  var object = extra
  object["seconds"] = seconds
  object["best_s"] = sorted[0]
  object["median_s"] = sorted[sorted.count / 2]
  object["best_mbps"] = Double(bytes) / 1e6 / sorted[0]
  object["median_mbps"] = Double(bytes) / 1e6 / sorted[sorted.count / 2]
  return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

struct EncodeBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "encode",
    abstract: "Time encodeOrdinary over a file split into documents or chunks.")

  @Option(help: "Built-in encoding.") var encoding = "cl100k_base"
  @Option(help: "A tokenizer to time instead of a built-in encoding: a HF tokenizer.json (encodeBatch, with offsets, no special tokens) or a SentencePiece .model.")
  var tokenizer: String?
  @Option(name: .customLong("input"), help: "UTF-8 text file.") var file: String
  @Option(help: "docs (split on blank lines) or chunks (consecutive docs regrouped to ~64 KB).")
  var mode = "docs"
  @Option(help: "Repetitions.") var repeats = 5
  @Option(help: "Threads (encodeOrdinaryBatch).") var threads = 1
  @Option(help: "Write all ids as little-endian uint32 to this file.") var idsOut: String?
  @Option(help: "HF pipeline: write every token's character offsets as little-endian uint32 start, end pairs.")
  var offsetsOut: String?

  func validate() throws { try requireAtLeast(1, ["--repeats": repeats, "--threads": threads]) }

  func run() throws {
    let encode: ([String]) throws -> [[Int]]
    var offsets: [Range<Int>] = []
    if let tokenizer {
      let loaded = try loadTokenizer(tokenizer)
      if let pipeline = loaded as? PipelineTokenizer {
        // encodeBatch gives each token's offsets, as HF's encode_batch does.
        encode = { units in
          let encodings = try pipeline.encodeBatch(units, addSpecialTokens: false, threads: threads)
          offsets = encodings.flatMap(\.offsets)
          return encodings.map(\.ids)
        }
      } else {
        encode = { try $0.map(loaded.encodeOrdinary) }
      }
    } else {
      let enc = try Encoding.named(encoding)
      encode = { threads == 1 ? $0.map(enc.encodeOrdinary) : enc.encodeOrdinaryBatch($0, threads: threads) }
    }
    let units = try splitUnits(try readTextFile(file), mode: mode)
    let bytes = units.reduce(0) { $0 + $1.utf8.count }
    var times: [Double] = []
    var ids: [[Int]] = []
    for _ in 0..<repeats {
      let start = Terminal.now()
      ids = try encode(units)
      times.append(Terminal.now() - start)
    }
    let all = ids.flatMap { $0 }
    if let idsOut {
      let data = all.withUnsafeBufferPointer { buffer in
        Data(buffer.map { UInt32($0).littleEndian }.withUnsafeBytes { Array($0) })
      }
      try data.write(to: URL(fileURLWithPath: idsOut), options: .atomic)
    }
    if let offsetsOut {
      let values = offsets.flatMap { [UInt32($0.lowerBound).littleEndian, UInt32($0.upperBound).littleEndian] }
      try values.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: offsetsOut), options: .atomic)
    }
    print(try timingJSON(times, bytes: bytes, extra: ["units": units.count, "bytes": bytes, "tokens": all.count]))
  }
}

/// The benchmark's documents: split on blank lines (as the tokenizer notes do), or regrouped
/// into ~64 KB chunks of consecutive documents.
func splitUnits(_ text: String, mode: String) throws -> [String] {
  let docs = text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
  switch mode {
  case "docs": return docs
  case "chunks":
    var chunks: [String] = []
    var current = ""
    for doc in docs {
      current += current.isEmpty ? doc : "\n\n" + doc
      if current.utf8.count >= 65536 {
        chunks.append(current)
        current = ""
      }
    }
    if !current.isEmpty { chunks.append(current) }
    return chunks
  default: throw ValidationError("--mode must be docs or chunks")
  }
}

struct TrainBench: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "train", abstract: "Time BPE training on a file.")

  @Option(name: .customLong("input"), help: "UTF-8 text file.") var file: String
  @Option(help: "Vocabulary size.") var vocabSize = 32000
  @Option(help: "Split pattern: gpt2, gpt4, none or regex:PATTERN.") var pattern = PatternArgument(.cl100k)
  @Option(help: "Repetitions.") var repeats = 3
  @Option(help: "Write the trained model to PREFIX.model / .vocab (hf: a tokenizer.json path).") var output: String?
  @Option(help: "Trainer: bpe (minbpe) or hf (HF pipeline, configured by the options below).") var pipeline = "bpe"
  @OptionGroup(title: "HF pipeline") var hf: PipelineOptions
  @Option(help: "Special tokens (hf).") var special: [String] = []
  @Option(help: "Threads (hf word counting).") var threads = 1

  func validate() throws { try requireAtLeast(1, ["--repeats": repeats, "--threads": threads]) }

  func run() throws {
    let text = try readTextFile(file)
    if pipeline == "hf" { return try runPipeline(text) }
    let split = pattern.pattern
    var times: [Double] = []
    var countTimes: [Double] = []
    var model: RegexTokenizer?
    for _ in 0..<repeats {
      let start = Terminal.now()
      var counts = PieceCounts(pattern: split)
      counts.add(text)
      countTimes.append(Terminal.now() - start)
      model = try RegexTokenizer.train(counts, vocabSize: vocabSize)
      times.append(Terminal.now() - start)
    }
    if let output { try model!.save(prefix: output) }
    print(try timingJSON(times, bytes: text.utf8.count, extra: [
      "count_seconds": countTimes, "merges": model!.merges.count, "bytes": text.utf8.count,
    ]))
  }

  /// Times HF-pipeline training on the file's lines (HF's `train(files)` reads lines too).
  private func runPipeline(_ text: String) throws {
    let base = try hf.base()
    let lines = linesWithEndings(text)
    var times: [Double] = []
    var trained: PipelineTokenizer?
    for _ in 0..<repeats {
      let start = Terminal.now()
      trained = hf.isUnigram
        ? try hf.unigramTrainer(vocabSize: vocabSize, specialTokens: special, for: base).train(base, on: lines, threads: threads)
        : try hf.trainer(vocabSize: vocabSize, specialTokens: special, for: base).train(base, on: lines, threads: threads)
      times.append(Terminal.now() - start)
    }
    if let output { try trained!.save(to: output) }
    print(try timingJSON(times, bytes: text.utf8.count, extra: ["vocab": trained!.vocabSize, "bytes": text.utf8.count]))
  }
}
