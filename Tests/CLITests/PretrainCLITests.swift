import Foundation
import Testing

@Suite("swiftgpt prepare / train / sample")
struct PretrainCLITests {
  let directory = makeTemporaryDirectory("swiftgpt-pretrain")

  @Test func prepareTrainResumeSample() throws {
    let corpus = directory + "/ko.txt"
    try String(repeating: "대한민국은 민주공화국이다.\n모든 권력은 국민으로부터 나온다.\n", count: 200)
      .write(toFile: corpus, atomically: true, encoding: .utf8)
    let prepared = try swiftgpt(["prepare", "--input", corpus, "--tokenizer", "char", "--output", directory + "/data"])
    #expect(prepared.status == 0, "\(prepared.err)")
    #expect(prepared.out.contains("vocab 23 (char_tokenizer.json)"), "\(prepared.out)")
    let common = ["--data", directory + "/data", "--model", "gpt-nano", "--block-size", "16", "--batch-size", "4",
                  "--eval-every", "10", "--eval-steps", "2", "--out", directory + "/run", "--threads", "1"]
    let trained = try swiftgpt(["train", "--max-steps", "20"] + common)
    #expect(trained.status == 0, "\(trained.err)")
    #expect(trained.out.contains("step    20: train"), "\(trained.out)")
    #expect(trained.out.contains("(cosine), on 1 thread of the CPU\n"), "said '1 threads': \(trained.out)")
    // 20 steps under the default 100-step warmup never reach --lr: said, not left to the loss curve.
    #expect(trained.err == "note: the warmup (100 steps) is as long as the run (20): the rate rises only to 0.000198 of --lr 0.001; "
      + "give a shorter --warmup\n", "\(trained.err)")
    // A resumed run keeps its model and options: flags other than --max-steps were silently ignored.
    let ignored = try swiftgpt(["train", "--resume", "--max-steps", "30"] + common)
    #expect(ignored.status == 64 && ignored.err.hasPrefix("Error: --resume continues the run with its own model and options; "
      + "drop --model, --block-size, --batch-size, --eval-every, --eval-steps (only --max-steps may change)"), "\(ignored.err)")
    // Resumed without --data: the embedded corpus was written into the run, then found to be
    // "tokenized otherwise"; now the run asks for its data and nothing is written.
    let dataless = try swiftgpt(["train", "--out", directory + "/run", "--resume", "--max-steps", "30"])
    #expect(dataless.status == 1 && dataless.err == "Error: the run in \(directory)/run trained on a dataset of its own "
      + "(vocabulary 23, tokenizer char_tokenizer.json): resume it with --data and that folder\n", "\(dataless.err)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/run/data"))
    let resuming = ["--data", directory + "/data", "--out", directory + "/run", "--threads", "1", "--resume"]
    let resumed = try swiftgpt(["train", "--max-steps", "30"] + resuming)
    #expect(resumed.status == 0, "\(resumed.err)")
    #expect(resumed.out.contains("resuming") && resumed.out.contains("step    30: train"), "\(resumed.out)")
    let log = try String(contentsOfFile: directory + "/run/log.csv", encoding: .utf8)
    #expect(log.split(separator: "\n").count == 32)  // header + steps 0...30
    let finished = try swiftgpt(["train"] + resuming)
    #expect(finished.status == 0 && finished.out.hasPrefix("resuming \(directory)/run/latest at step 30 of 30: the run is finished "
      + "(give a larger --max-steps to train on)\n"), "\(finished.out)")
    // A new run into the same folder is refused without --overwrite, and leaves it as it was.
    let state = try Data(contentsOf: URL(fileURLWithPath: directory + "/run/latest/trainer_state.json"))
    let fresh = try swiftgpt(["train", "--max-steps", "5"] + common)
    #expect(fresh.status == 1 && fresh.err.contains("already holds a training run: continue it with --resume"), "\(fresh.err)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/run/latest/trainer_state.json")) == state)
    // Resuming on data with another tokenizer of the same size (23 other characters) is refused: it
    // trained on ids that meant other characters and saved the new tokenizer with the run.
    let other = directory + "/other.txt"
    try String(repeating: "abcdefghijklmnopqrstuv\n", count: 200).write(toFile: other, atomically: true, encoding: .utf8)
    #expect(try swiftgpt(["prepare", "--input", other, "--output", directory + "/other"]).out.contains("vocab 23"))
    let mixed = try swiftgpt(["train", "--max-steps", "40"] + resuming + ["--data", directory + "/other"])
    #expect(mixed.status == 1 && mixed.err.contains("was tokenized otherwise than the run in \(directory)/run/latest (vocabulary 23 vs 23, "
      + "tokenizer char_tokenizer.json vs char_tokenizer.json); prepare it with the run's tokenizer: swiftgpt prepare --tokenizer "
      + "\(directory)/run/latest/char_tokenizer.json"), "\(mixed.err)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/run/latest/trainer_state.json")) == state)
    for file in ["loss.svg", "best/char_tokenizer.json", "best/meta.json", "latest/trainer_state.json"] {
      #expect(FileManager.default.fileExists(atPath: directory + "/run/" + file), "\(file)")
    }
    let sample = try swiftgpt(["sample", "--checkpoint", directory + "/run", "--prompt", "대한", "--max-new-tokens", "30",
                               "--seed", "3", "--num-samples", "2"])
    #expect(sample.status == 0, "\(sample.err)")
    let samples = sample.out.components(separatedBy: "---------------\n")
    #expect(samples.count == 2 && samples.allSatisfy { $0.hasPrefix("대한") })
    #expect(samples.allSatisfy { $0.unicodeScalars.count == "대한".unicodeScalars.count + 30 + 1 })  // + newline
    let again = try swiftgpt(["sample", "--checkpoint", directory + "/run", "--prompt", "대한", "--max-new-tokens", "30",
                              "--seed", "3", "--num-samples", "2", "--stream"])
    #expect(again.out == sample.out)
    let greedy = try swiftgpt(["sample", "--checkpoint", directory + "/run/latest", "--temperature", "0", "--max-new-tokens", "10"])
    #expect(greedy.status == 0 && greedy.err.contains("10 tokens"))
    let reduced = try swiftgpt(["sample", "--checkpoint", directory + "/run/latest", "--max-new-tokens", "10", "--precision", "bf16"])
    #expect(reduced.status == 0 && reduced.err.contains("10 tokens"), "\(reduced.err)")
  }

  @Test func withoutAValidationSplitTheBestCheckpointIsByTrainLoss() throws {
    let corpus = directory + "/noval.txt"
    try String(repeating: "abc def\n", count: 300).write(toFile: corpus, atomically: true, encoding: .utf8)
    #expect(try swiftgpt(["prepare", "--input", corpus, "--val-fraction", "0", "--output", directory + "/noval"]).status == 0)
    let r = try swiftgpt(["train", "--data", directory + "/noval", "--model", "gpt-nano", "--block-size", "8", "--max-steps", "2",
                          "--eval-steps", "1", "--out", directory + "/novalrun", "--threads", "1"])
    // It said "best val loss" for what was the training loss.
    #expect(r.status == 0 && r.out.contains("done: best train loss "), "\(r.out)\(r.err)")
  }

  @Test func demoChecksItsPromptBeforeTraining() throws {
    // A prompt outside the embedded corpus's characters failed only after the whole training run.
    let out = directory + "/demo"
    let r = try swiftgpt(["demo", "--prompt", "ㄱㄴㄷ", "--out", out, "--threads", "1"])
    #expect(r.status == 1 && r.err.contains("character U+3131 (\"\\u{3131}\") is not in the vocabulary"), "\(r.err)")
    #expect(FileManager.default.fileExists(atPath: out + "/data/meta.json") && !FileManager.default.fileExists(atPath: out + "/latest"))
  }

  @Test func demoReplacesOnlyItsOwnRuns() throws {
    // `demo --out` a folder holding a run on the user's data replaced that run with the demo's.
    let corpus = directory + "/own.txt"
    try String(repeating: "hello world\n", count: 100).write(toFile: corpus, atomically: true, encoding: .utf8)
    #expect(try swiftgpt(["prepare", "--input", corpus, "--tokenizer", "char", "--output", directory + "/own"]).status == 0)
    let run = directory + "/ownrun"
    #expect(try swiftgpt(["train", "--data", directory + "/own", "--model", "gpt-nano", "--block-size", "16", "--max-steps", "2",
                          "--out", run, "--threads", "1"]).status == 0)
    let state = try Data(contentsOf: URL(fileURLWithPath: run + "/latest/model.safetensors"))
    let refused = try swiftgpt(["demo", "--out", run, "--max-steps", "0", "--threads", "1"])
    #expect(refused.status == 1 && refused.err == "Error: \(run) holds a training run on other data, which the demo would replace: "
      + "choose another --out\n", "\(refused.err)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/latest/model.safetensors")) == state)
    #expect(!FileManager.default.fileExists(atPath: run + "/data"))
    // Its own run it replaces, as a demo run again does.
    for _ in 0..<2 {
      let again = try swiftgpt(["demo", "--out", directory + "/demo2", "--max-steps", "0", "--threads", "1"])
      #expect(again.status == 0, "\(again.err)")
    }
  }

  @Test func gpt2DataAndBigram() throws {
    let corpus = directory + "/en.txt"
    try String(repeating: "The quick brown fox jumps over the lazy dog.\n", count: 100)
      .write(toFile: corpus, atomically: true, encoding: .utf8)
    let prepared = try swiftgpt(["prepare", "--input", corpus, "--tokenizer", "gpt2", "--output", directory + "/gpt2"])
    #expect(prepared.status == 0 && prepared.out.contains("vocab 50257 (gpt2)"), "\(prepared.out)\(prepared.err)")
    let trained = try swiftgpt(["train", "--data", directory + "/gpt2", "--model", "gpt-nano", "--block-size", "8",
                                "--max-steps", "3", "--eval-every", "0", "--eval-steps", "1", "--out", directory + "/nano"])
    #expect(trained.status == 0, "\(trained.err)")
    // transformers reads bos/eos from here (it took GPT2Config's default when they were missing).
    let config = try String(contentsOfFile: directory + "/nano/best/config.json", encoding: .utf8)
    #expect(config.contains("\"eos_token_id\" : 50256") && config.contains("\"bos_token_id\" : 50256"), "\(config)")
    #expect(FileManager.default.fileExists(atPath: directory + "/nano/best/generation_config.json"))
    let sample = try swiftgpt(["sample", "--checkpoint", directory + "/nano", "--prompt", "The", "--max-new-tokens", "5"])
    #expect(sample.status == 0 && sample.out.hasPrefix("The"), "\(sample.err)")
    // A 50257² bigram table would need 10 GB: refused with a one-line error.
    let bigram = try swiftgpt(["train", "--data", directory + "/gpt2", "--model", "bigram", "--out", directory + "/bigram"])
    #expect(bigram.status != 0 && bigram.err.contains("bigram table"), "\(bigram.err)")
  }

  @Test(arguments: [
    (["train", "--data", "/nonexistent", "--out", "/tmp/x"], "cannot read /nonexistent: no train*.bin token files"),
    (["train", "--data", "/proc", "--model", "gpt5", "--out", "/tmp/x"], "cannot read /proc: no train*.bin token files"),
    (["prepare", "--input", "/nonexistent.txt", "--output", "/tmp/x"], "cannot read /nonexistent.txt: no such file"),
    (["prepare", "--input", "/etc/passwd", "--tokenizer", "p50k", "--output", "/tmp/x"], "unknown encoding 'p50k'"),
    (["sample", "--checkpoint", "/nonexistent"], "cannot read /nonexistent: no such folder"),
    (["sample", "--checkpoint", "/tmp", "--temperature=-1"], "temperature must be finite and ≥ 0, got -1.0"),
    (["sample", "--checkpoint", "/tmp", "--temperature", "inf"], "temperature must be finite and ≥ 0, got inf"),
    (["sample", "--checkpoint", "/tmp", "--top-p", "1.5"], "top-p must be in [0, 1], got 1.5"),
    (["sample", "--checkpoint", "/tmp", "--top-k=-1"], "top-k must be ≥ 0 (0: off), got -1"),
    (["sample", "--checkpoint", "/tmp", "--precision", "f8"], "The value 'f8' is invalid for '--precision <precision>'"),
    (["sample", "--checkpoint", "/tmp", "--threads", "100000"], "--threads must be between 1 and"),
    (["chat", "--checkpoint", "/tmp", "--threads", "0"], "--threads must be between 1 and"),
    (["train", "--resume", "--data", "/nonexistent", "--out", "/nonexistent"], "run `swiftgpt prepare` first"),
  ])
  func badInput(arguments: [String], message: String) throws {
    let r = try swiftgpt(arguments)
    #expect(r.status != 0)
    #expect(r.err.contains(message), "\(r.err)")
    #expect(!r.err.contains("Fatal error") && !r.err.contains("Stack dump"))
  }

  @Test func unknownModelAndMissingCheckpoint() throws {
    let corpus = directory + "/t.txt"
    try String(repeating: "abcdefg\n", count: 100).write(toFile: corpus, atomically: true, encoding: .utf8)
    _ = try swiftgpt(["prepare", "--input", corpus, "--output", directory + "/d"])
    let unknown = try swiftgpt(["train", "--data", directory + "/d", "--model", "gpt5", "--out", directory + "/o"])
    #expect(unknown.status != 0 && unknown.err.contains("unknown model 'gpt5'"), "\(unknown.err)")
    let resume = try swiftgpt(["train", "--data", directory + "/d", "--resume", "--out", directory + "/none"])
    #expect(resume.status != 0 && resume.err.contains("is missing"), "\(resume.err)")
    let tooLong = try swiftgpt(["train", "--data", directory + "/d", "--block-size", "1000", "--out", directory + "/o"])
    // Found when the run is set up, not at its first batch, which left an output folder holding a lock file.
    #expect(tooLong.status == 1 && tooLong.err.hasSuffix("the train split has 720 tokens; a window of 1000 needs 1001 in one shard "
      + "(lower --block-size, or prepare more text)\n"), "\(tooLong.err)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/o"))
  }

  @Test func nanoGPTDataAndHuggingFaceFolder() throws {
    // nanoGPT's headerless uint16 train.bin / val.bin, no meta.json: ids < 256, so vocab = max + 1.
    let data = directory + "/nano"
    try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
    let tokens = (0..<4000).map { UInt16(($0 * 7) % 50) }
    try tokens.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: data + "/train.bin"))
    try tokens.prefix(500).withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: data + "/val.bin"))
    let trained = try swiftgpt(["train", "--data", data, "--model", "gpt-nano", "--block-size", "16", "--max-steps", "3",
                                "--eval-every", "0", "--eval-steps", "1", "--out", directory + "/nanorun"])
    #expect(trained.status == 0, "\(trained.err)")
    #expect(trained.err.contains("vocabulary 50, no tokenizer"), "\(trained.err)")
    let noTokenizer = try swiftgpt(["sample", "--checkpoint", directory + "/nanorun"])
    #expect(noTokenizer.status != 0 && noTokenizer.err.contains("give --tokenizer"), "\(noTokenizer.err)")
    // A Hugging Face GPT-2 folder (the parity fixture, vocab 96) with a 96-character tokenizer.
    let chars = String((32..<128).map { Character(Unicode.Scalar($0)!) })
    try chars.write(toFile: directory + "/ascii.txt", atomically: true, encoding: .utf8)
    _ = try swiftgpt(["tokenizer", "train", "--char", "--input", directory + "/ascii.txt", "--output", directory + "/ascii"])
    let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/gpt2-tiny").path
    let hf = try swiftgpt(["sample", "--checkpoint", fixture, "--tokenizer", directory + "/ascii.json", "--prompt", "Hi",
                           "--max-new-tokens", "12", "--temperature", "0"])
    #expect(hf.status == 0 && hf.out.hasPrefix("Hi") && hf.out.unicodeScalars.count == 2 + 12 + 1, "\(hf.err)")
  }

  @Test func ctrlCSavesACheckpoint() throws {
    let corpus = directory + "/c.txt"
    try String(repeating: "hello world, hello swift\n", count: 400).write(toFile: corpus, atomically: true, encoding: .utf8)
    _ = try swiftgpt(["prepare", "--input", corpus, "--output", directory + "/cd"])
    let process = try launchSwiftgpt(["train", "--data", directory + "/cd", "--model", "gpt-nano", "--max-steps", "100000",
                                      "--eval-every", "0", "--out", directory + "/co", "--threads", "1"])
    // Wait for training to start (the step-0 checkpoint of best/ appears), then interrupt.
    let deadline = Date().addingTimeInterval(60)
    while !FileManager.default.fileExists(atPath: directory + "/co/best/trainer_state.json") && Date() < deadline {
      Thread.sleep(forTimeInterval: 0.05)
    }
    Thread.sleep(forTimeInterval: 0.3)
    process.interrupt()
    process.waitUntilExit()
    #expect(process.terminationStatus == 130)
    let state = try String(contentsOfFile: directory + "/co/latest/trainer_state.json", encoding: .utf8)
    #expect(state.contains("\"step\""))
  }
}
