import Foundation
import Testing

/// What the CLI must never lose or misread: output paths as users type them, folders holding
/// their own files, saves killed halfway, two runs into one folder, diverged fine-tuning.
@Suite("swiftgpt output folders: nothing lost")
struct OutputSafetyCLITests {
  let directory = makeTemporaryDirectory("swiftgpt-safety")

  func pretrained() throws -> String { try pretrainedNano(in: directory, steps: 3) }

  func classifyData() throws -> String {
    let path = directory + "/train.tsv"
    let rows = (0..<8).map { k in "\(k % 2 == 0 ? "좋은 영화" : "지루한 영화")\t\(k % 2)" }
    try (["text\tlabel"] + rows).joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  func entries(_ path: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }

  @Test func outputPathsAsUsersTypeThem() throws {
    let base = try pretrained(), train = try classifyData()
    let finetune = ["finetune", "--task", "classify", "--checkpoint", base, "--train", train, "--max-steps", "1", "--threads", "1"]
    // A trailing slash (tab completion): trained, then failed with "cannot write chat2/.old", the
    // model left in a hidden chat2/.tmp.
    var r = try swiftgpt(finetune + ["--out", directory + "/cls/"])
    #expect(r.status == 0, "\(r.err)")
    #expect(entries(directory + "/cls").contains("task.json") && !entries(directory + "/cls").contains(".tmp"))
    r = try swiftgpt(finetune + ["--out", directory + "/cls/", "--overwrite"])
    #expect(r.status == 0 && !entries(directory).contains("cls.old") && !entries(directory).contains("cls.tmp"), "\(r.err)")
    // `--out .` in an empty folder ("cannot write ..old"): written in place, the folder kept.
    let here = directory + "/here"
    try FileManager.default.createDirectory(atPath: here, withIntermediateDirectories: true)
    r = try swiftgpt(finetune + ["--out", "."], in: here)
    #expect(r.status == 0, "\(r.err)")
    #expect(entries(here).contains("model.safetensors") && entries(here).contains("task.json"), "\(entries(here))")
    r = try swiftgpt(finetune + ["--out", ".", "--overwrite"], in: here)
    #expect(r.status == 0 && entries(here).contains("model.safetensors"), "\(r.err)")
    // A file where a folder belongs said "NSCocoaErrorDomain error 512".
    for command in [["train", "--max-steps", "1", "--out", train + "/run"], ["prepare", "--input", train, "--output", train + "/data"],
                    finetune + ["--out", train + "/m"], ["tokenizer", "train", "--input", train, "--vocab-size", "260", "--output", train + "/t"]] {
      r = try swiftgpt(command)
      #expect(r.status == 1 && r.err.hasPrefix("Error: cannot write ") && r.err.hasSuffix("\(train) is a file, not a folder\n"),
              "\(command[0]): \(r.err)")
    }
    let merged = directory + "/merged/"
    r = try swiftgpt(["lora", "merge", "--checkpoint", base, "--adapter", directory + "/nope", "--out", merged])
    #expect(r.status != 0 && !FileManager.default.fileExists(atPath: merged), "a failed merge leaves no folder: \(r.err)")
  }

  @Test func foldersWithTheUsersFilesAreNeverDeleted() throws {
    let base = try pretrained(), train = try classifyData()
    let out = directory + "/mine"
    try FileManager.default.createDirectory(atPath: out + "/data", withIntermediateDirectories: true)
    try "keep me".write(toFile: out + "/notes.txt", atomically: true, encoding: .utf8)
    // finetune --overwrite deleted the whole folder; it is refused before training.
    let r = try swiftgpt(["finetune", "--task", "classify", "--checkpoint", base, "--train", train, "--max-steps", "1",
                          "--out", out, "--overwrite"])
    #expect(r.status == 1 && r.err == "Error: cannot write \(out): it holds files SwiftGPT did not write (data/, notes.txt); "
      + "move them away or write to another folder\n" && !r.err.contains("trainable"), "\(r.err)")
    #expect(entries(out) == ["data", "notes.txt"])
    // lora merge replaced its output always; it now needs --overwrite, and keeps the user's files.
    let sft = directory + "/sft"
    let chats = directory + "/chat.jsonl"
    try #"{"messages": [{"role": "user", "content": "안녕"}, {"role": "assistant", "content": "네"}]}"#
      .write(toFile: chats, atomically: true, encoding: .utf8)
    var s = try swiftgpt(["finetune", "--task", "sft", "--checkpoint", base, "--train", chats, "--max-steps", "1", "--lora",
                          "--out", sft])
    #expect(s.status == 0, "\(s.err)")
    let merged = directory + "/merged"
    s = try swiftgpt(["lora", "merge", "--checkpoint", sft, "--adapter", sft + "/adapter", "--out", merged])
    #expect(s.status == 0, "\(s.err)")
    s = try swiftgpt(["lora", "merge", "--checkpoint", sft, "--adapter", sft + "/adapter", "--out", merged])
    #expect(s.status == 1 && s.err.contains("already exists: replace it with --overwrite"), "\(s.err)")
    try "keep me".write(toFile: merged + "/notes.txt", atomically: true, encoding: .utf8)
    s = try swiftgpt(["lora", "merge", "--checkpoint", sft, "--adapter", sft + "/adapter", "--out", merged, "--overwrite"])
    #expect(s.status == 1 && s.err.contains("it holds files SwiftGPT did not write (notes.txt)"), "\(s.err)")
    #expect(FileManager.default.fileExists(atPath: merged + "/notes.txt"))
    try FileManager.default.removeItem(atPath: merged + "/notes.txt")
    s = try swiftgpt(["lora", "merge", "--checkpoint", sft, "--adapter", sft + "/adapter", "--out", merged, "--overwrite"])
    #expect(s.status == 0, "\(s.err)")
  }

  @Test func aSaveKilledBetweenItsRenamesIsRecovered() throws {
    let run = try pretrained()
    // What a kill between `rename(latest, latest.old)` and `rename(latest.tmp, latest)` left:
    // --resume failed, and a plain rerun deleted both complete checkpoints.
    let fm = FileManager.default
    try fm.moveItem(atPath: run + "/latest", toPath: run + "/latest.old")
    try fm.copyItem(atPath: run + "/latest.old", toPath: run + "/latest.tmp")
    var r = try swiftgpt(["train", "--out", run, "--max-steps", "3"])
    #expect(r.status == 1 && r.err.contains("already holds a training run"), "\(r.err)")
    #expect(entries(run).contains("latest") && !entries(run).contains("latest.old"))
    try fm.moveItem(atPath: run + "/latest", toPath: run + "/latest.old")
    try fm.copyItem(atPath: run + "/latest.old", toPath: run + "/latest.tmp")
    r = try swiftgpt(["train", "--out", run, "--resume", "--max-steps", "5", "--threads", "1"])
    #expect(r.status == 0 && r.out.contains("resuming \(run)/latest at step 3 of 5"), "\(r.out) \(r.err)")
  }

  @Test func twoRunsIntoOneFolderAndSIGTERM() throws {
    let corpus = directory + "/c.txt"
    try String(repeating: "hello world, hello swift\n", count: 400).write(toFile: corpus, atomically: true, encoding: .utf8)
    #expect(try swiftgpt(["prepare", "--input", corpus, "--output", directory + "/cd"]).status == 0)
    let log = directory + "/train.log"
    #expect(FileManager.default.createFile(atPath: log, contents: nil))
    let process = Process()
    process.executableURL = try swiftgptBinary()
    process.arguments = ["train", "--data", directory + "/cd", "--model", "gpt-nano", "--max-steps", "100000",
                         "--eval-every", "0", "--out", directory + "/co", "--threads", "1"]
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    process.standardError = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(60)
    while !FileManager.default.fileExists(atPath: directory + "/co/best/trainer_state.json") && Date() < deadline {
      Thread.sleep(forTimeInterval: 0.05)
    }
    // stdout to a file is flushed line by line: `train > log` showed nothing until exit.
    let text = try String(contentsOfFile: log, encoding: .utf8)
    #expect(text.contains("model: GPT") && text.contains("step     0:"), "\(text)")
    // A second run into the same folder: both reported success and one was lost.
    let second = try swiftgpt(["train", "--data", directory + "/cd", "--model", "gpt-nano", "--max-steps", "2",
                               "--out", directory + "/co", "--overwrite"])
    #expect(second.status == 1 && second.err.contains("\(directory)/co is in use by another swiftgpt process"), "\(second.err)")
    let prepare = try swiftgpt(["prepare", "--input", corpus, "--output", directory + "/co"])
    #expect(prepare.status == 1 && prepare.err.contains("is in use by another swiftgpt process"), "\(prepare.err)")
    // SIGTERM (docker stop, Slurm) saves as Ctrl-C does.
    process.terminate()
    process.waitUntilExit()
    #expect(process.terminationStatus == 130)
    #expect(FileManager.default.fileExists(atPath: directory + "/co/latest/trainer_state.json"))
  }

  @Test func ctrlCSavesAFineTunedModel() throws {
    let base = try pretrained(), train = try classifyData()
    let out = directory + "/stopped"
    let process = try launchSwiftgpt(["finetune", "--task", "classify", "--checkpoint", base, "--train", train,
                                      "--epochs", "100000", "--batch-size", "2", "--out", out, "--threads", "1"])
    Thread.sleep(forTimeInterval: 1.5)
    process.interrupt()
    process.waitUntilExit()
    // It ran to the end of its epochs (or was killed, losing the work).
    #expect(process.terminationStatus == 130)
    #expect(FileManager.default.fileExists(atPath: out + "/task_head.safetensors"))
    let predict = try swiftgpt(["predict", "--checkpoint", out, "--text", "좋은 영화"])
    #expect(predict.status == 0, "\(predict.err)")
  }

  @Test func divergedFineTuningStops() throws {
    let base = try pretrained(), train = try classifyData()
    let out = directory + "/nan"
    // --lr 1e30 wrote a model of NaN tensors and exited 0.
    var r = try swiftgpt(["finetune", "--task", "classify", "--checkpoint", base, "--train", train, "--lr", "1e30",
                          "--epochs", "2", "--out", out, "--threads", "1"])
    #expect(r.status == 1 && r.err.contains("became non-finite at step 2; lower --lr"), "\(r.err)")
    #expect(!FileManager.default.fileExists(atPath: out), "nothing written")
    r = try swiftgpt(["finetune", "--task", "classify", "--checkpoint", base, "--train", train, "--lm-coef", "nan", "--out", out])
    #expect(r.status == 64 && r.err.hasPrefix("Error: --lm-coef must be finite and ≥ 0, got nan"), "\(r.err)")
  }
}
