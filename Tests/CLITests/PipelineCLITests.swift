import Foundation
import Testing

/// `swiftgpt tokenizer … --pipeline hf` and `--tokenizer tokenizer.json`, end to end.
@Suite("swiftgpt HF pipeline CLI")
struct PipelineCLITests {
  let directory = makeTemporaryDirectory("swiftgpt-hf")
  let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/ko_constitution.txt").path

  @Test func trainFolderThenEncodeDecodeShowPrepare() throws {
    let folder = directory + "/tok"
    let train = try swiftgpt([
      "tokenizer", "train", "--pipeline", "hf", "--input", corpus, "--vocab-size", "800", "--special", "<|endoftext|>",
      "--output", folder,
    ])
    #expect(train.status == 0, "\(train.err)")
    for file in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
      #expect(FileManager.default.fileExists(atPath: folder + "/" + file), "\(file)")
    }
    let map = try String(contentsOfFile: folder + "/special_tokens_map.json", encoding: .utf8)
    #expect(map.contains("\"eos_token\": \"<|endoftext|>\""))

    let text = "대한민국은 민주공화국이다."
    let ids = try swiftgpt(["tokenizer", "encode", "--tokenizer", folder + "/tokenizer.json", "--ids", "--text", text])
    #expect(ids.status == 0, "\(ids.err)")
    let array = try JSONDecoder().decode([Int].self, from: Data(ids.out.utf8))
    #expect(!array.isEmpty && array.count < text.count)
    // The folder works as well as the file; decoding gives the text back (WordPiece decoder).
    let decoded = try swiftgpt(["tokenizer", "decode", "--tokenizer", folder, "--ids", ids.out])
    #expect(decoded.status == 0 && decoded.out == text)
    let listed = try swiftgpt(["tokenizer", "encode", "--tokenizer", folder, "--text", text])
    #expect(listed.out.contains("\t##"), "continuation tokens are shown with their prefix")
    let shown = try swiftgpt(["tokenizer", "show", "--tokenizer", folder, "--text", text])
    #expect(shown.status == 0, "\(shown.err)")

    let data = directory + "/data"
    let prepared = try swiftgpt(["prepare", "--input", corpus, "--tokenizer", folder + "/tokenizer.json", "--output", data])
    #expect(prepared.status == 0, "\(prepared.err)")
    let meta = try String(contentsOfFile: data + "/meta.json", encoding: .utf8)
    #expect(meta.contains("\"vocab_size\" : 800"))
  }

  @Test func encodePrintsOffsets() throws {
    // The byte-level BPE of Tests/Fixtures/hf_pipelines.json; HF gives these offsets.
    let fixture = corpus.replacingOccurrences(of: "ko_constitution.txt", with: "hf_pipelines.json")
    let entries = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture))) as! [[String: Any]]
    let file = directory + "/bytelevel.json"
    try JSONSerialization.data(withJSONObject: entries[0]["tokenizer"]!).write(to: URL(fileURLWithPath: file))
    let hf = try swiftgpt(["tokenizer", "encode", "--tokenizer", file, "--offsets", "--text", "Hi 한"])
    #expect(hf.status == 0, "\(hf.err)")
    #expect(hf.out == "40\tH\t0..<1\t0..<1\n73\ti\t1..<2\t1..<2\n221\tĠ\t3..<3\t3..<3\n275\tíķľ\t3..<4\t3..<6\n")
    let bpe = try swiftgpt(["tokenizer", "encode", "--encoding", "cl100k_base", "--offsets", "--text", "한국어 hello"])
    #expect(bpe.out == "24486\t한\t0..<1\t0..<3\n89059\t\\xEA\\xB5\t1..<2\t3..<5\n255\t\\xAD\t1..<2\t5..<6\n32179\t어\t2..<3\t6..<9\n24748\t hello\t3..<9\t9..<15\n")
    let both = try swiftgpt(["tokenizer", "encode", "--encoding", "gpt2", "--offsets", "--ids", "--text", "x"])
    #expect(both.status != 0 && both.err.contains("either --ids or --offsets"))
  }

  @Test func byteLevelJSONOutputRoundTrips() throws {
    let file = directory + "/bl.json"
    let train = try swiftgpt([
      "tokenizer", "train", "--pipeline", "hf", "--pre-tokenizer", "byte-level", "--input", corpus, "--vocab-size", "400",
      "--output", file,
    ])
    #expect(train.status == 0, "\(train.err)")
    let text = "제1조 ① 대한민국은 민주공화국이다. 😀"
    let ids = try swiftgpt(["tokenizer", "encode", "--tokenizer", file, "--ids", "--text", text])
    let decoded = try swiftgpt(["tokenizer", "decode", "--tokenizer", file, "--ids", ids.out])
    #expect(decoded.out == text)
  }

  @Test func trainWithAConfigKeepsItsComponents() throws {
    let config = directory + "/config.json"
    try #"""
      {"normalizer": {"type": "Lowercase"},
       "pre_tokenizer": {"type": "Whitespace"},
       "post_processor": {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<s>": {"id": "<s>", "ids": [77], "tokens": ["<s>"]}}},
       "model": {"type": "BPE", "vocab": {}, "merges": []}}
      """#.write(toFile: config, atomically: true, encoding: .utf8)
    let out = directory + "/configured.json"
    let missing = try swiftgpt(["tokenizer", "train", "--pipeline", "hf", "--config", config, "--input", corpus,
                                "--vocab-size", "300", "--output", out])
    #expect(missing.status != 0 && missing.err.contains("the post-processor uses <s>"), "\(missing.err)")
    let r = try swiftgpt(["tokenizer", "train", "--pipeline", "hf", "--config", config, "--input", corpus,
                          "--vocab-size", "300", "--special", "<s>", "--output", out])
    #expect(r.status == 0, "\(r.err)")
    let ids = try swiftgpt(["tokenizer", "encode", "--tokenizer", out, "--ids", "--text", "ABC 대한"])
    #expect(ids.out.hasPrefix("[0, "), "the template's <s> now has id 0: \(ids.out)")
    let json = try String(contentsOfFile: out, encoding: .utf8)
    #expect(json.contains("\"type\": \"Lowercase\"") && json.contains("\"type\": \"Whitespace\""))
  }

  @Test func vocabulariesTheAlphabetOutgrowsAreSaidSo() throws {
    // A vocabulary the alphabet exceeds came out larger than asked, silently.
    let over = try swiftgpt(["tokenizer", "train", "--pipeline", "hf", "--model", "wordpiece", "--input", corpus, "--vocab-size", "30",
                             "--output", directory + "/wp.json"])
    let size = try #require(((try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/wp.json")))
      as? [String: Any])?["model"] as? [String: Any])?["vocab"] as? [String: Int]).count
    #expect(over.status == 0 && size > 30 && over.err.contains("note: the corpus's alphabet alone (every character, with its "
      + "continuing-subword form where the model has one) takes more than 30 tokens; the vocabulary has \(size)\n"), "\(over.err)")
    // Unigram's floor is the corpus's characters; the message said "256 bytes + special tokens".
    let under = try swiftgpt(["tokenizer", "train", "--pipeline", "hf", "--model", "unigram", "--input", corpus, "--vocab-size", "30",
                              "--output", directory + "/u.json"])
    #expect(under.status == 1 && under.err.hasPrefix("Error: vocabulary size 30 is too small: it must be at least ")
      && under.err.contains(" (the corpus's ") && under.err.hasSuffix(" characters + 1 special token)\n"), "\(under.err)")
  }

  @Test func badPipelineFlagsAreRefusedWithTheCommandsUsage() throws {
    // They were reported with the top-level usage ("swiftgpt <subcommand>").
    for (flag, message) in [("--normalizer", "unknown normalizer 'bogus'"), ("--pre-tokenizer", "unknown pre-tokenizer 'bogus'")] {
      let r = try swiftgpt(["tokenizer", "train", "--pipeline", "hf", flag, "bogus", "--input", corpus, "--vocab-size", "300",
                            "--output", directory + "/never.json"])
      #expect(r.status == 64 && r.err.hasPrefix("Error: \(message)"), "\(r.err)")
      #expect(r.err.contains("Usage: swiftgpt tokenizer train"), "\(r.err)")
      #expect(!FileManager.default.fileExists(atPath: directory + "/never.json"))
    }
    // An alphabet of no characters trained, and wrote, an empty vocabulary.
    let empty = try swiftgpt(["tokenizer", "train", "--pipeline", "hf", "--limit-alphabet", "0", "--input", corpus,
                              "--vocab-size", "300", "--output", directory + "/never.json"])
    #expect(empty.status == 64 && empty.err.hasPrefix("Error: --limit-alphabet must be ≥ 1, got 0"), "\(empty.err)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/never.json"))
  }

  @Test(arguments: [
    (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "b"]]}}"#, "model.merges[0]`: 'b' is not in the vocabulary"),
    (#"{"model": {"type": "Foo"}}"#, "model.type`: unknown type 'Foo'"),
    (#"{"normalizer": {"type": "NFX"}, "model": {"type": "BPE", "vocab": {}}}"#, "normalizer.type`: unknown type 'NFX'"),
    (#"{"model": {"type": "BPE", "vocab": {"a": "zero"}}}"#, "model.vocab.a`: expected an integer"),
    (#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}}"#, "model.unk_token`: '[UNK]' is not in the vocabulary"),
    (#"{"model": {"type": "BPE", "vocab": {}}, "#, "invalid JSON"),
  ])
  func badTokenizerJSONNamesTheField(_ json: String, _ message: String) throws {
    let file = directory + "/bad-\(abs(json.hashValue)).json"
    try json.write(toFile: file, atomically: true, encoding: .utf8)
    let r = try swiftgpt(["tokenizer", "encode", "--tokenizer", file, "--text", "ab"])
    #expect(r.status != 0)
    #expect(r.err.contains(message), "\(r.err)")
    #expect(r.err.split(separator: "\n").count == 1, "one-line error")
  }
}
