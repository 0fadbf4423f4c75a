import Foundation
import Testing

/// Inputs the CLI misread or checked too late.
@Suite("swiftgpt inputs: read exactly, checked early")
struct InputCLITests {
  let directory = makeTemporaryDirectory("swiftgpt-input")

  @Test func aByteOrderMarkOnStandardInputIsText() throws {
    // tiktoken: [171, 119, 123, 64]; the BOM was dropped ([64]).
    let r = try swiftgpt(["tokenizer", "encode", "--encoding", "gpt2", "--ids"], stdin: "\u{FEFF}a")
    #expect(r.status == 0 && r.out == "[171, 119, 123, 64]\n", "\(r.out) \(r.err)")
  }

  @Test func anUnknownPatternNameIsAnError() throws {
    try "hello hello world".write(toFile: directory + "/c.txt", atomically: true, encoding: .utf8)
    // `--pattern GPT4` was taken as a regex, matched nothing and ended in "the training text is empty".
    var r = try swiftgpt(["tokenizer", "train", "--input", directory + "/c.txt", "--vocab-size", "260", "--pattern", "gpt-4",
                          "--output", directory + "/t"])
    #expect(r.status == 64 && r.err.contains("The value 'gpt-4' is invalid for '--pattern"), "\(r.err)")
    r = try swiftgpt(["tokenizer", "train", "--input", directory + "/c.txt", "--vocab-size", "260", "--pattern", "GPT4",
                      "--output", directory + "/t"])
    #expect(r.status == 0, "\(r.err)")
    r = try swiftgpt(["tokenizer", "train", "--input", directory + "/c.txt", "--vocab-size", "260", "--pattern", #"regex:\w+|\s"#,
                      "--output", directory + "/u/"])
    // A trailing slash wrote the hidden files u/.model and u/.vocab.
    #expect(r.status == 0 && FileManager.default.fileExists(atPath: directory + "/u.model"), "\(r.err)")
  }

  @Test func serveRefusesEmptyValuesRatherThanOpeningTheAPI() throws {
    // `--api-key "$KEY"` with KEY unset let in any client that sent an empty X-Api-Key, and a key
    // file with no key in it served the API to anyone; both are refused before anything listens.
    let model = directory + "/none"  // never read: the keys are checked first
    var r = try swiftgpt(["serve", "--checkpoint", model, "--api-key", ""])
    #expect(r.status == 64 && r.err.contains("--api-key is empty"), "\(r.err)")
    try "# our keys\n\n".write(toFile: directory + "/keys", atomically: true, encoding: .utf8)
    r = try swiftgpt(["serve", "--checkpoint", model, "--api-key-file", directory + "/keys"])
    #expect(r.status == 1 && r.err == "Error: \(directory)/keys has no API key (one a line; # starts a comment): the server would be open to anyone\n",
            "\(r.err)")
    r = try swiftgpt(["serve", "--checkpoint", model, "--cors", ""])
    #expect(r.status == 64 && r.err.contains("--cors is empty"), "\(r.err)")
    // An empty model id was served as ""; two tokenizer files of one name, one silently dropped.
    r = try swiftgpt(["serve", "--checkpoint", model, "--alias", ""])
    #expect(r.status == 64 && r.err.contains("--alias is empty"), "\(r.err)")
    r = try swiftgpt(["serve", "--checkpoint", model, "--tokenizers", "a/t.json", "b/t.json"])
    #expect(r.status == 64 && r.err.contains("--tokenizers names two files t.json"), "\(r.err)")
  }

  @Test func tokenizerTrainChecksItsOutputFolderFirst() throws {
    // The output's missing folder was found after the whole training, as "no such file".
    try String(repeating: "hello world\n", count: 50).write(toFile: directory + "/t.txt", atomically: true, encoding: .utf8)
    for extra in [["--vocab-size", "260"], ["--char"], ["--pipeline", "hf", "--vocab-size", "300"]] {
      let output = directory + "/missing/tok" + (extra.contains("hf") ? ".json" : "")
      let r = try swiftgpt(["tokenizer", "train", "--input", directory + "/t.txt", "--output", output] + extra)
      #expect(r.status == 1 && r.err == "Error: cannot write \(output): its folder \(directory)/missing does not exist\n", "\(extra): \(r.err)")
    }
  }

  @Test func serveRunNamesTheBadLineOfItsLog() throws {
    // A run folder whose log.csv has a bad line was said to have "no training log (log.csv)".
    let run = directory + "/run"
    try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
    var r = try swiftgpt(["serve", "--run", run])
    #expect(r.status == 1 && r.err == "Error: \(run) has no training log (log.csv): give the --out folder of `swiftgpt train`\n", "\(r.err)")
    try "step,loss,lr,train_loss,val_loss,tokens_per_sec,elapsed_s\n0,6.5,0.001,,,0.0,0.000\ngarbage\n"
      .write(toFile: run + "/log.csv", atomically: true, encoding: .utf8)
    r = try swiftgpt(["serve", "--run", run])
    #expect(r.status == 1 && r.err == "Error: \(run)/log.csv:3: not a row of a training log ('garbage')\n", "\(r.err)")
  }

  @Test func trainOpensTheTokenizerAndItsOutputBeforeTraining() throws {
    let corpus = directory + "/c.txt"
    try String(repeating: "hello world, hello swift\n", count: 100).write(toFile: corpus, atomically: true, encoding: .utf8)
    #expect(try swiftgpt(["tokenizer", "train", "--input", corpus, "--vocab-size", "280", "--output", directory + "/bpe"]).status == 0)
    #expect(try swiftgpt(["prepare", "--input", corpus, "--tokenizer", directory + "/bpe.model", "--output", directory + "/d"]).status == 0)
    // A broken tokenizer in the dataset: the run trained to the end, and nothing could sample the checkpoint.
    try "minbpe v1\ngarbage\n".write(toFile: directory + "/d/tokenizer.model", atomically: true, encoding: .utf8)
    var r = try swiftgpt(["train", "--data", directory + "/d", "--model", "gpt-nano", "--max-steps", "2", "--out", directory + "/o"])
    #expect(r.status == 1 && r.err.contains("tokenizer.model") && !r.out.contains("step "), "\(r.out) \(r.err)")
    // --resume into a checkpoint that cannot be replaced: found before training, not at the save.
    #expect(try swiftgpt(["prepare", "--input", corpus, "--tokenizer", directory + "/bpe.model", "--output", directory + "/d"]).status == 0)
    r = try swiftgpt(["train", "--data", directory + "/d", "--model", "gpt-nano", "--block-size", "16", "--max-steps", "2", "--eval-every", "2",
                      "--eval-steps", "1", "--out", directory + "/o"])
    #expect(r.status == 0, "\(r.err)")
    try "mine".write(toFile: directory + "/o/latest/notes.txt", atomically: true, encoding: .utf8)
    r = try swiftgpt(["train", "--data", directory + "/d", "--out", directory + "/o", "--resume", "--max-steps", "4"])
    #expect(r.status == 1 && r.err.contains("latest: it holds files SwiftGPT did not write (notes.txt)") && !r.out.contains("step     3"),
            "\(r.out) \(r.err)")
  }
}

@Suite("Precision")
struct PrecisionCLITests {
  /// TF32 and bf16 are GPU arithmetic: asked of the CPU they are a one-line error, before the
  /// run writes anything.
  @Test(arguments: ["bf16", "tf32"])
  func reducedPrecisionOnTheCPUIsAnErrorBeforeAnythingIsWritten(_ precision: String) throws {
    let dir = makeTemporaryDirectory("swiftgpt-precision")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try swiftgpt(["train", "--device", "cpu", "--precision", precision, "--max-steps", "1", "--out", dir + "/run"])
    #expect(r.status != 0)
    #expect(r.err.contains("--precision \(precision) needs a GPU"), "\(r.err)")
    #expect(r.err.split(separator: "\n").count == 1)
    #expect(!FileManager.default.fileExists(atPath: dir + "/run"))
  }
}
