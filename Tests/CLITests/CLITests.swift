import Foundation
import Testing

/// The `swiftgpt` binary built next to the test bundle.
func swiftgptBinary() throws -> URL {
  let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  let candidates = [products, products.deletingLastPathComponent()].map { $0.appendingPathComponent("swiftgpt") }
  guard let binary = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
    throw CLIError("swiftgpt binary not found near \(products.path)")
  }
  return binary
}

/// Starts `swiftgpt` in the background, its output discarded.
func launchSwiftgpt(_ arguments: [String]) throws -> Process {
  let process = Process()
  process.executableURL = try swiftgptBinary()
  process.arguments = arguments
  process.standardOutput = FileHandle.nullDevice
  process.standardError = FileHandle.nullDevice
  try process.run()
  return process
}

/// Runs the `swiftgpt` binary built next to the test bundle (in `directory` when given).
func swiftgpt(_ arguments: [String], stdin: String? = nil, in directory: String? = nil) throws -> (status: Int32, out: String, err: String) {
  let process = Process()
  process.executableURL = try swiftgptBinary()
  process.arguments = arguments
  if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
  let input = Pipe()
  let output = Pipe()
  let error = Pipe()
  process.standardInput = input
  process.standardOutput = output
  process.standardError = error
  try process.run()
  input.fileHandleForWriting.write(Data((stdin ?? "").utf8))
  try input.fileHandleForWriting.close()
  let out = output.fileHandleForReading.readDataToEndOfFile()
  let err = error.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

/// A gpt-nano trained for `steps` steps on the embedded Korean corpus (char-level), in `directory/pre`.
func pretrainedNano(in directory: String, steps: Int) throws -> String {
  let run = directory + "/pre"
  let r = try swiftgpt(["train", "--model", "gpt-nano", "--max-steps", String(steps), "--eval-every", String(steps),
                        "--eval-steps", "1", "--batch-size", "4", "--out", run, "--threads", "1"])
  #expect(r.status == 0, "\(r.err)")
  return run
}

/// A fresh empty directory under the system's temporary directory.
func makeTemporaryDirectory(_ prefix: String) -> String {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
  try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url.path
}

struct CLIError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

@Suite("swiftgpt CLI")
struct CLITests {
  let directory = makeTemporaryDirectory("swiftgpt-cli")

  @Test func encodeIdsPrintsOneJSONArray() throws {
    let r = try swiftgpt(["tokenizer", "encode", "--encoding", "gpt2", "--ids"], stdin: "Hello, world!")
    #expect(r.status == 0)
    #expect(r.out == "[15496, 11, 995, 0]\n")
    let k = try swiftgpt(["tokenizer", "encode", "--encoding", "cl100k_base", "--ids", "--text", "hello world"])
    #expect(k.out == "[15339, 1917]\n")
  }

  @Test func decodeReadsJSONArray() throws {
    let r = try swiftgpt(["tokenizer", "decode", "--encoding", "gpt2"], stdin: "[15496, 11, 995, 0]")
    #expect(r.status == 0 && r.out == "Hello, world!")
  }

  @Test func specialTokenFlags() throws {
    let refused = try swiftgpt(["tokenizer", "encode", "--encoding", "gpt2", "--ids", "--text", "a<|endoftext|>"])
    #expect(refused.status != 0 && refused.out.isEmpty)
    #expect(refused.err.contains("special token <|endoftext|>"))
    let allowed = try swiftgpt(["tokenizer", "encode", "--encoding", "gpt2", "--ids", "--allow-special", "--text", "a<|endoftext|>"])
    #expect(allowed.out == "[64, 50256]\n")
    let plain = try swiftgpt(["tokenizer", "encode", "--encoding", "gpt2", "--ids", "--special-as-text", "--text", "<|endoftext|>"])
    #expect(plain.out == "[27, 91, 437, 1659, 5239, 91, 29]\n")
  }

  @Test func showBracketsTokensAndCounts() throws {
    let r = try swiftgpt(["tokenizer", "show", "--encoding", "cl100k_base", "--text", "hello world"])
    #expect(r.out == "[hello][ world]\ntokens: 2  characters: 11  bytes: 11  bytes/token: 5.5\n")
  }

  @Test func trainThenEncodeWithTheModel() throws {
    let corpus = "\(directory)/corpus.txt"
    try String(repeating: "대한민국은 민주공화국이다. 모든 권력은 국민으로부터 나온다.\n", count: 50)
      .write(toFile: corpus, atomically: true, encoding: .utf8)
    let train = try swiftgpt([
      "tokenizer", "train", "--input", corpus, "--vocab-size", "300", "--pattern", "gpt4",
      "--special", "<|endoftext|>", "--output", "\(directory)/ko",
    ])
    #expect(train.status == 0, "\(train.err)")
    #expect(train.err.contains("learned 43 merges"))
    let encoded = try swiftgpt(["tokenizer", "encode", "--tokenizer", "\(directory)/ko.model", "--ids", "--allow-special",
                                "--text", "대한민국<|endoftext|>"])
    #expect(encoded.status == 0)
    let ids = try JSONDecoder().decode([Int].self, from: Data(encoded.out.utf8))
    #expect(ids.last == 299)
    let decoded = try swiftgpt(["tokenizer", "decode", "--tokenizer", "\(directory)/ko.model", "--ids", encoded.out])
    #expect(decoded.out == "대한민국<|endoftext|>")
  }

  @Test func charTokenizerTrainEncodeDecode() throws {
    let corpus = "\(directory)/char.txt"
    try "한국어 문장\n".write(toFile: corpus, atomically: true, encoding: .utf8)
    let train = try swiftgpt(["tokenizer", "train", "--char", "--input", corpus, "--output", "\(directory)/char"])
    #expect(train.status == 0 && train.err.contains("7 characters"))
    let encoded = try swiftgpt(["tokenizer", "encode", "--tokenizer", "\(directory)/char.json", "--ids", "--text", "문장 한국"])
    #expect(encoded.out == "[3, 5, 1, 6, 2]\n")
    let unknown = try swiftgpt(["tokenizer", "encode", "--tokenizer", "\(directory)/char.json", "--text", "x"])
    #expect(unknown.status != 0 && unknown.err.contains("character U+0078 (\"x\") is not in the vocabulary"))
  }

  @Test(arguments: [
    (["tokenizer", "encode", "--encoding", "p50k", "--text", "x"], "unknown encoding 'p50k'"),
    (["tokenizer", "encode", "--tokenizer", "/nonexistent.model", "--text", "x"], "cannot read /nonexistent.model: no such file"),
    (["tokenizer", "decode", "--encoding", "gpt2", "--ids", "[1, 2.5]"], "expected a JSON array of integer token ids"),
    (["tokenizer", "decode", "--encoding", "cl100k_base", "--ids", "[100256]"], "token id 100256 is not in the vocabulary"),
    (["tokenizer", "train", "--input", "/nonexistent.txt", "--vocab-size", "300", "--output", "/tmp/x"], "cannot read /nonexistent.txt"),
    (["tokenizer", "train", "--input", "/dev/null", "--vocab-size", "300", "--output", "/tmp/x"], "the training text is empty"),
    (["tokenizer", "train", "--input", "/dev/null", "--vocab-size", "100", "--output", "/tmp/x"], "vocabulary size 100 is too small"),
    (["tokenizer", "encode", "--vocab-sizee", "1"], "Unknown option '--vocab-sizee'"),
    // The bench commands crashed on these (no steps to take a median of; allocations that failed).
    (["bench", "gpt", "--steps", "0"], "--steps must be ≥ 1, got 0"),
    (["bench", "gpt", "--batch-size", "0"], "--batch-size must be ≥ 1, got 0"),
    (["bench", "gpt", "--block-size", "100000"], "a training step on 16 × 100000 tokens needs at least"),
    (["bench", "gemm", "--m", "1000000", "--n", "1000000"], "lower --m, --n or --k"),
    (["bench", "attention", "--block-size", "100000"], "lower --batch-size or --block-size"),
    (["bench", "encode", "--input", "/dev/null", "--repeats", "0"], "--repeats must be ≥ 1, got 0"),
  ])
  func badInputIsAOneLineErrorAndNonZeroExit(arguments: [String], message: String) throws {
    let r = try swiftgpt(arguments, stdin: "")
    #expect(r.status != 0)
    #expect(r.err.contains(message), "\(r.err)")
    #expect(r.err.split(separator: "\n").first { $0.contains(message) } != nil)
    #expect(!r.err.contains("Fatal error") && !r.err.contains("Stack dump"))
  }

  @Test func aBareNameThatIsAFolderIsNotTakenForAnEncoding() throws {
    // `--tokenizer data` (a dataset folder) was reported as "unknown encoding 'data'".
    try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
    let r = try swiftgpt(["tokenizer", "encode", "--tokenizer", "data", "--text", "x"], in: directory)
    #expect(r.status == 1 && r.err == "Error: cannot read data: unknown tokenizer format "
      + "(expected .model (minbpe or SentencePiece), .json, .tiktoken or a folder with tokenizer.json)\n", "\(r.err)")
  }

  @Test func badFileDoesNotReplaceExistingOutput() throws {
    let prefix = "\(directory)/keep"
    try "precious".write(toFile: prefix + ".model", atomically: true, encoding: .utf8)
    let r = try swiftgpt(["tokenizer", "train", "--input", "/dev/null", "--vocab-size", "300", "--output", prefix])
    #expect(r.status != 0)
    #expect(try String(contentsOfFile: prefix + ".model", encoding: .utf8) == "precious")
  }
}
