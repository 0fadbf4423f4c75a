import Foundation
import Testing

/// `swiftgpt finetune / predict / chat / lora merge`, end to end on a tiny pretrained model.
@Suite("swiftgpt finetune / predict / chat / lora")
struct FineTuneCLITests {
  let directory = makeTemporaryDirectory("swiftgpt-finetune")

  func pretrained() throws -> String { try pretrainedNano(in: directory, steps: 5) }

  func write(_ name: String, _ lines: [String]) throws -> String {
    let path = directory + "/" + name
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  @Test func classifyThenPredict() throws {
    let base = try pretrained()
    let rows = (0..<40).map { k in "\(k)\t\(k % 2 == 0 ? "좋은 영화 최고" : "지루한 영화 최악")\(k)\t\(k % 2 == 0 ? 1 : 0)" }
    let train = try write("train.tsv", ["id\tdocument\tlabel"] + rows)
    let out = directory + "/cls"
    let r = try swiftgpt(["finetune", "--task", "classify", "--checkpoint", base, "--train", train, "--eval", train,
                          "--epochs", "3", "--batch-size", "8", "--lr", "3e-3", "--out", out, "--threads", "1"])
    #expect(r.status == 0, "\(r.err)")
    #expect(r.out.contains("eval: accuracy") && r.out.contains("majority class 0.5000"), "\(r.out)")
    #expect(r.err.contains("trainable parameters:"), "\(r.err)")
    for file in ["task.json", "task_head.safetensors", "model.safetensors", "meta.json", "char_tokenizer.json"] {
      #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
    }
    // A second run into the same folder is refused unless --overwrite; the first run's model stays.
    let model = try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors"))
    let again = try swiftgpt(["finetune", "--task", "classify", "--checkpoint", base, "--train", train, "--max-steps", "1", "--out", out])
    #expect(again.status != 0 && again.err == "Error: \(out) already exists: replace it with --overwrite, or choose another --out\n",
            "\(again.err)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors")) == model)
    let replaced = try swiftgpt(["finetune", "--task", "classify", "--checkpoint", base, "--train", train, "--max-steps", "1",
                                 "--lr", "3e-3", "--out", out, "--overwrite", "--threads", "1"])
    #expect(replaced.status == 0 && replaced.err.contains("; 1 step in "), "said '1 steps': \(replaced.err)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors")) != model)
    let one = try swiftgpt(["predict", "--checkpoint", out, "--text", "좋은 영화 최고"])
    #expect(one.status == 0 && (one.out.hasPrefix("1\t") || one.out.hasPrefix("0\t")), "\(one.out) \(one.err)")
    let all = try swiftgpt(["predict", "--checkpoint", out, "--input", train])
    #expect(all.status == 0 && all.out.split(separator: "\n").count == 40 && all.err.contains("accuracy"), "\(all.err)")
    let wrong = try swiftgpt(["predict", "--checkpoint", out, "--text", "a", "--text", "b"])
    #expect(wrong.status != 0 && wrong.err.contains("classify model takes 1 --text"), "\(wrong.err)")
  }

  @Test func sftWithLoRAThenChatAndMerge() throws {
    let base = try pretrained()
    let chats = (0..<12).map { k in
      #"{"messages": [{"role": "user", "content": "헌법 제\#(k % 3)조?"}, {"role": "assistant", "content": "대한민국 \#(k % 3)"}]}"#
    }
    let data = try write("chat.jsonl", chats)
    let out = directory + "/sft"
    let r = try swiftgpt(["finetune", "--task", "sft", "--checkpoint", base, "--train", data, "--epochs", "2", "--batch-size", "4",
                          "--lr", "3e-3", "--lora", "--lora-r", "4", "--lora-targets", "c_attn", "c_fc", "--out", out, "--threads", "1"])
    #expect(r.status == 0, "\(r.err)")
    #expect(r.err.contains("optimizer state"), "\(r.err)")
    for file in ["sft.json", "adapter/adapter_config.json", "adapter/adapter_model.safetensors", "config.json"] {
      #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
    }
    // HF's generate stops where chat does: at <|im_end|> (the second of the two added ids).
    let sft = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/sft.json"))) as! [String: Any]
    let generation = try JSONSerialization.jsonObject(
      with: Data(contentsOf: URL(fileURLWithPath: out + "/generation_config.json"))) as! [String: Any]
    #expect(generation["eos_token_id"] as? Int == sft["end"] as? Int && sft["end"] != nil, "\(generation) \(sft)")
    let chat = try swiftgpt(["chat", "--checkpoint", out, "--max-new-tokens", "8", "--temperature", "0"],
                            stdin: "헌법 제1조?\n/reset\n헌법 제2조?\n")
    #expect(chat.status == 0, "\(chat.err)")
    #expect(chat.out.split(separator: "\n", omittingEmptySubsequences: false).count >= 2, "\(chat.out)")
    #expect(chat.err.contains("(history cleared)"), "/reset said nothing: \(chat.err)")
    // A character the model never saw is left out of the message, and chat says so (it said nothing).
    let snowman = try swiftgpt(["chat", "--checkpoint", out, "--max-new-tokens", "2"], stdin: "헌법 ☃ 제1조\n헌법 제1조\n")
    #expect(snowman.status == 0 && snowman.err == "note: 1 character outside the tokenizer's vocabulary was left out\n", "\(snowman.err)")
    // `exit` (and /exit, quit) ends the chat: it was sent to the model; empty lines are skipped.
    for word in ["exit", "/exit", "quit"] {
      let quit = try swiftgpt(["chat", "--checkpoint", out, "--max-new-tokens", "8"], stdin: "\n  \n\(word)\n헌법 제1조?\n")
      #expect(quit.status == 0 && quit.out.isEmpty, "\(word): \(quit.out)")
    }
    let merged = directory + "/merged"
    // The adapter defaults to the checkpoint's own (--adapter was required even for finetune --lora's output).
    let m = try swiftgpt(["lora", "merge", "--checkpoint", out, "--out", merged])
    #expect(m.status == 0, "\(m.err)")
    let none = try swiftgpt(["lora", "merge", "--checkpoint", merged, "--out", directory + "/again"])
    #expect(none.status == 1 && none.err == "Error: \(merged) has no adapter/ folder: give --adapter, the folder holding adapter_config.json\n",
            "\(none.err)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/again"))
    // chat said a folder that does not exist was not instruction-tuned.
    let missing = try swiftgpt(["chat", "--checkpoint", directory + "/nowhere"])
    #expect(missing.status == 1 && missing.err == "Error: cannot read \(directory)/nowhere: no such folder (expected one holding a model)\n",
            "\(missing.err)")
    #expect(FileManager.default.fileExists(atPath: merged + "/sft.json"))
    // Greedy chat from the merged folder (which has no adapter) says the same.
    #expect(!FileManager.default.fileExists(atPath: merged + "/adapter"))
    let again = try swiftgpt(["chat", "--checkpoint", merged, "--max-new-tokens", "8", "--temperature", "0"],
                             stdin: "헌법 제1조?\n/reset\n헌법 제2조?\n")
    #expect(again.out == chat.out)
  }

  @Test func badInputsAreOneLineErrors() throws {
    let base = try pretrained()
    let broken = try write("broken.jsonl", [#"{"text": "a", "label": "x"}"#, #"{"text": "b", "label": "y"}"#, "{oops"])
    var r = try swiftgpt(["finetune", "--task", "classify", "--checkpoint", base, "--train", broken, "--out", directory + "/x"])
    #expect(r.status != 0 && r.err.contains("broken.jsonl:3: not a JSON object"), "\(r.err)")
    let train = try write("ok.jsonl", [#"{"text": "a", "label": "x"}"#, #"{"text": "b", "label": "y"}"#])
    let eval = try write("eval.jsonl", [#"{"text": "a", "label": "z"}"#])
    r = try swiftgpt(["finetune", "--task", "classify", "--checkpoint", base, "--train", train, "--eval", eval, "--out", directory + "/x"])
    #expect(r.status != 0 && r.err.contains("eval.jsonl:1: label 'z' is not in the label set"), "\(r.err)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/x"), "nothing written on a bad eval file")
    r = try swiftgpt(["finetune", "--task", "summarize", "--checkpoint", base, "--train", train, "--out", directory + "/x"])
    #expect(r.status != 0 && r.err.contains("--task must be"), "\(r.err)")
    // LoRA knobs without --lora were ignored: the whole model was trained.
    r = try swiftgpt(["finetune", "--task", "classify", "--checkpoint", base, "--train", train, "--lora-targets", "c_fc", "--out", directory + "/x"])
    #expect(r.status == 64 && r.err.hasPrefix("Error: --lora-r, --lora-alpha, --lora-dropout and --lora-targets go with --lora"), "\(r.err)")
    r = try swiftgpt(["finetune", "--task", "classify", "--checkpoint", base, "--train", train, "--lora", "--lora-r", "0", "--out", directory + "/x"])
    #expect(r.status == 64 && r.err.hasPrefix("Error: --lora-r must be ≥ 1, got 0"), "\(r.err)")
    // An output that cannot be written is reported before training, not after it.
    r = try swiftgpt(["finetune", "--task", "classify", "--checkpoint", base, "--train", train, "--out", train + "/model"])
    #expect(r.status == 1 && r.err.hasPrefix("Error: cannot write \(train)/model: ") && !r.err.contains("trainable parameters"), "\(r.err)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/x"))
    // An adapter made for another base model.
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures").path
    r = try swiftgpt(["lora", "merge", "--checkpoint", base, "--adapter", fixtures + "/gpt2-tiny-lora", "--out", directory + "/m"])
    #expect(r.status != 0 && r.err.contains("lora_A.weight' has shape [4, 64], the model needs"), "\(r.err)")
    #expect(r.err.split(separator: "\n").count == 1)
    r = try swiftgpt(["chat", "--checkpoint", base + "/best"], stdin: "hi\n")
    #expect(r.status != 0 && r.err.contains("not instruction-tuned"), "\(r.err)")
  }
}
