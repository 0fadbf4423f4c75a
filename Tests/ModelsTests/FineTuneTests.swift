import FileSupport
import Foundation
import Testing
import TensorEngine
@testable import Models
import Tokenizers
@testable import Training

/// A tiny char-level GPT for fine-tuning tests.
func tinyGPT(vocabSize: Int, block: Int = 32) throws -> GPT {
  try GPT(config: GPTConfig(vocabSize: vocabSize, blockSize: block, nLayer: 2, nHead: 2, nEmbd: 32), seed: 7)
}

@Suite("Fine-tuning: data, GPT-1 tasks, instruction tuning")
struct FineTuneTests {
  let dir = temporaryDirectory()

  func write(_ name: String, _ text: String) throws -> String {
    let path = dir + "/" + name
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  @Test func readsTheRealFormats() throws {
    let nsmc = try TaskDataset(reading: write("nsmc.tsv", "id\tdocument\tlabel\n1\t재밌다\t1\n2\t별로\t0\n"), task: .classify)
    #expect(nsmc.labels == ["0", "1"] && nsmc.examples == [TaskExample(texts: ["재밌다"], label: 1), TaskExample(texts: ["별로"], label: 0)])
    let nli = try TaskDataset(reading: write("nli.tsv", "sentence1\tsentence2\tgold_label\na\tb\tneutral\nc\td\tentailment\n"), task: .entail)
    #expect(nli.labels == ["entailment", "neutral"] && nli.examples[0] == TaskExample(texts: ["a", "b"], label: 1))
    let sts = try TaskDataset(
      reading: write("sts.tsv", "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\ng\tf\t2012\t0\t3.800\tx\ty\n"), task: .similar)
    #expect(sts.examples == [TaskExample(texts: ["x", "y"], score: 3.8)])
    let klue = try TaskDataset(reading: write("klue.json", #"[{"sentence1": "p", "sentence2": "q", "labels": {"real-label": 4.5}}]"#),
                               task: .similar)
    #expect(klue.examples[0].score == 4.5)
    let mc = try TaskDataset(
      reading: write("mc.jsonl", #"{"context": "c", "question": "q?", "choices": ["x", "y", "z"], "label": 2}"# + "\n"), task: .choice)
    #expect(mc.examples == [TaskExample(texts: ["c q?", "x", "y", "z"], label: 2)])
  }

  @Test func badRecordsNameFileAndLine() throws {
    let broken = try write("broken.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{not json\n")
    #expect(throws: ModelError.file(.malformed(path: broken, line: 2, reason: "not a JSON object"))) {
      try TaskDataset(reading: broken, task: .classify)
    }
    let eval = try write("eval.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": \"maybe\"}\n")
    #expect(throws: ModelError.file(.malformed(path: eval, line: 2, reason: "label 'maybe' is not in the label set [\"x\", \"y\"]"))) {
      try TaskDataset(reading: eval, task: .classify, labels: ["x", "y"])
    }
    let missing = try write("missing.jsonl", "{\"sentence\": \"a\"}\n")
    #expect(throws: ModelError.self) { try TaskDataset(reading: missing, task: .classify) }
    let chat = try write("chat.jsonl", #"[{"role": "user", "content": "hi"}]"# + "\n")
    #expect(throws: ModelError.file(.malformed(path: chat, line: 1, reason: "the chat has no assistant message to learn from"))) {
      try InstructionDataset(reading: chat, template: .chat)
    }
    // A folder given as a data file was reported as "permission denied".
    #expect(throws: ModelError.file(.unreadable(path: dir, reason: "it is a directory"))) { try TaskDataset(reading: dir, task: .classify) }
  }

  @Test func gpt1InputTransformations() throws {
    let encode: (String) -> [Int] = { $0.unicodeScalars.map { Int($0.value) - 97 } }  // a → 0, b → 1, …
    let base = try tinyGPT(vocabSize: 26)
    let (s, d, e): (Int32, Int32, Int32) = (26, 27, 28)
    let classify = try TaskModel(base: base, task: .classify, labels: ["n", "y"])
    #expect(classify.gpt.config.vocabSize == 29 && (classify.start, classify.delimiter, classify.extract) == (s, d, e))
    #expect(classify.sequences(TaskExample(texts: ["abc"]), maxLength: 8, encode: encode) == [[s, 0, 1, 2, e]])
    #expect(classify.sequences(TaskExample(texts: ["abcdefgh"]), maxLength: 5, encode: encode) == [[s, 0, 1, 2, e]])
    let entail = try TaskModel(base: base, task: .entail, labels: ["a", "b", "c"])
    #expect(entail.sequences(TaskExample(texts: ["ab", "c"]), maxLength: 16, encode: encode) == [[s, 0, 1, d, 2, e]])
    let similar = try TaskModel(base: base, task: .similar, labels: [])
    #expect(similar.sequences(TaskExample(texts: ["ab", "c"]), maxLength: 16, encode: encode) == [[s, 0, 1, d, 2, e], [s, 2, d, 0, 1, e]])
    let choice = try TaskModel(base: base, task: .choice, labels: [])
    #expect(choice.sequences(TaskExample(texts: ["a", "b", "c"]), maxLength: 16, encode: encode) == [[s, 0, d, 1, e], [s, 0, d, 2, e]])
    #expect(choice.head["score.weight"]!.shape == [1, 32] && entail.head["score.weight"]!.shape == [3, 32])
  }

  /// Texts of random letters; the label says whether they contain a "z".
  func separableData(_ count: Int, seed: UInt64) -> TaskDataset {
    var rng = RandomGenerator(seed: seed)
    let examples = (0..<count).map { k -> TaskExample in
      var text = (0..<12).map { _ in String(UnicodeScalar(97 + UInt8(rng.next() % 25))) }.joined()
      if k % 2 == 1 { text.insert("z", at: text.index(text.startIndex, offsetBy: Int(rng.next() % 12))) }
      return TaskExample(texts: [text], label: k % 2)
    }
    return TaskDataset(task: .classify, examples: examples, labels: ["no", "yes"])
  }

  @Test(arguments: [false, true])
  func classifierLearnsASeparableTask(lora: Bool) throws {
    let encode: (String) -> [Int] = { $0.unicodeScalars.map { Int($0.value) - 97 } }
    let base = try tinyGPT(vocabSize: 26)
    let model = try TaskModel(base: base, task: .classify, labels: ["no", "yes"])
    let before = model.gpt.parameters.tensors.map(\.scalars)
    var options = FineTuneOptions()
    (options.epochs, options.batchSize, options.lr, options.warmupFraction) = (6, 16, lora ? 5e-3 : 2e-3, 0.05)
    var losses: [Float] = []
    let summary = try model.fineTune(
      train: separableData(400, seed: 1), options: options,
      lora: lora ? LoRAConfig(rank: 4, alpha: 8, targets: ["c_attn", "c_proj", "c_fc"]) : nil, encode: encode
    ) { losses.append($0.taskLoss) }
    let metrics = try model.evaluate(separableData(200, seed: 2), encode: encode)
    #expect(metrics.accuracy! >= 0.9, "\(metrics), losses \(losses.prefix(3)) … \(losses.suffix(3))")
    #expect(metrics.majorityBaseline == 0.5)
    if lora {
      // Only the adapters and the head learned; optimizer state is a fraction of a full run's.
      #expect(model.gpt.parameters.tensors.map(\.scalars) == before)
      #expect(summary.trainable == model.gpt.adapter!.parameterCount + model.head.count)
      #expect(summary.optimizerBytes < model.gpt.parameterCount * 8 / 4)
    } else {
      #expect(summary.trainable == model.gpt.parameterCount + model.head.count && summary.optimizerBytes == 8 * summary.trainable)
    }
    // Saved and loaded again, it predicts the same.
    try model.save(to: dir + "/task")
    let again = try TaskModel(folder: dir + "/task")
    #expect((again.gpt.adapter != nil) == lora)
    let inputs = model.encode(separableData(20, seed: 3), maxLength: 32, encode: encode)
    #expect(again.predict(inputs).map(\.index) == model.predict(inputs).map(\.index))
  }

  @Test func similarityAndChoiceLossesFall() throws {
    let encode: (String) -> [Int] = { $0.unicodeScalars.map { Int($0.value) - 97 } }
    var options = FineTuneOptions()
    (options.epochs, options.batchSize, options.lr) = (4, 8, 3e-3)
    // Similar: the score is the number of shared letters.
    let pairs = (0..<64).map { k -> TaskExample in
      let a = String("abcdefgh".prefix(1 + k % 8)), b = String("abcdefgh".suffix(1 + (k / 8) % 8))
      return TaskExample(texts: [a, b], score: Float(Set(a).intersection(b).count))
    }
    let similar = try TaskModel(base: try tinyGPT(vocabSize: 26), task: .similar, labels: [], lmCoefficient: 0)
    var losses: [Float] = []
    try similar.fineTune(train: TaskDataset(task: .similar, examples: pairs, labels: []), options: options, encode: encode) {
      losses.append($0.loss)
    }
    let (early, late): (Float, Float) = (losses.prefix(4).reduce(0, +), losses.suffix(4).reduce(0, +))
    #expect(late < early / 2, "\(losses)")
    let metrics = try similar.evaluate(TaskDataset(task: .similar, examples: pairs, labels: []), encode: encode)
    #expect(metrics.pearson! > 0.5 && metrics.spearman! > 0.5, "\(metrics)")
    // Choice: the right choice repeats the context's first letter; rows may differ in length.
    let items = (0..<48).map { k -> TaskExample in
      let c = String(UnicodeScalar(97 + UInt8(k % 20)))
      let wrong = ["y", "x", "w", "v"].prefix(2 + k % 3)
      let right = k % 3
      var choices = Array(wrong)
      choices.insert(c, at: min(right, choices.count))
      return TaskExample(texts: [c] + choices, label: min(right, choices.count - 1))
    }
    let choice = try TaskModel(base: try tinyGPT(vocabSize: 26), task: .choice, labels: [])
    losses = []
    try choice.fineTune(train: TaskDataset(task: .choice, examples: items, labels: []), options: options, encode: encode) {
      losses.append($0.taskLoss)
    }
    let (first, last): (Float, Float) = (losses.prefix(4).reduce(0, +), losses.suffix(4).reduce(0, +))
    #expect(last < first, "\(losses)")
  }

  @Test func correlations() {
    #expect(abs(pearson([1, 2, 3, 4], [2, 4, 6, 8]) - 1) < 1e-12)
    #expect(ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1])
  }

  @Test func sftTargetsOnlyTheResponses() throws {
    let tokens = InstructionTokens(start: 100, end: 101, template: .chat)
    let encode: (String) -> [Int] = { $0.unicodeScalars.map { Int($0.value) % 100 } }
    let pieces = InstructionTemplate.chat.pieces(chat: [
      ChatMessage(role: "system", content: "s"), ChatMessage(role: "user", content: "q"), ChatMessage(role: "assistant", content: "ab"),
    ])
    let (ids, targets) = tokens.encode(pieces, maxLength: 100, encode: encode)
    let text = "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\nab<|im_end|>\n"
    #expect(ids.count == text.replacingOccurrences(of: "<|im_start|>", with: "S").replacingOccurrences(of: "<|im_end|>", with: "E").count)
    // Exactly "a", "b" and the final <|im_end|> are predicted, each from the token before it.
    let trained = targets.enumerated().filter { $0.element != -100 }
    #expect(trained.map(\.element) == [Int32(97 % 100), Int32(98 % 100), 101])
    #expect(trained.map(\.offset) == [ids.count - 5, ids.count - 4, ids.count - 3])
    // Alpaca: the prompt is not trained, the output and <|im_end|> are.
    let alpaca = InstructionTemplate.alpaca.pieces(instruction: "Say hi", input: "", output: "hi")
    #expect(alpaca.first == .text("Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nSay hi\n\n### Response:\n", trained: false))
    let (aIds, aTargets) = tokens.encode(alpaca, maxLength: 1000, encode: encode)
    #expect(aTargets.filter { $0 != -100 } == [4, 5, 101] && aIds.last == 101)  // "h", "i" (mod 100), <|im_end|>
  }

  @Test(arguments: [false, true])
  func sftLossIsTheMaskedCrossEntropy(lora: Bool) throws {
    let base = try tinyGPT(vocabSize: 100, block: 64)
    let (model, tokens) = try InstructionTuning.prepare(base, existing: nil, template: .chat)
    #expect(model.vocabSize == 102 && tokens.start == 100 && tokens.end == 101)
    let encode: (String) -> [Int] = { $0.unicodeScalars.map { Int($0.value) % 100 } }
    let path = try write("chat.jsonl", (0..<16).map { k in
      #"[{"role": "user", "content": "q\#(k % 4)"}, {"role": "assistant", "content": "a\#(k % 4)a"}]"#
    }.joined(separator: "\n"))
    let data = try InstructionDataset(reading: path, template: .alpaca)
    #expect(data.template == .chat)
    // The loss the trainer minimises is the mean cross-entropy over trained positions only.
    let (ids, targets) = tokens.encode(data.examples[0], maxLength: 64, encode: encode)
    let (logits, loss) = model.forward(ids, batch: 1, length: ids.count, targets: targets)
    var manual: Double = 0
    var counted = 0
    for (t, target) in targets.enumerated() where target != -100 {
      let row = Array(logits.scalars[(t * 102)..<(t * 102 + 102)])
      let top = row.max()!
      manual += Double(log(row.map { exp($0 - top) }.reduce(0, +)) + top - row[Int(target)])
      counted += 1
    }
    #expect(abs(Double(loss!.item) - manual / Double(counted)) < 1e-4)
    let before = model.parameters.tensors.map(\.scalars)
    var options = FineTuneOptions()
    (options.epochs, options.batchSize, options.lr) = (3, 4, 3e-3)
    var losses: [Float] = []
    let bytes = try InstructionTuning.fineTune(
      model, data: data, tokens: tokens, options: options, lora: lora ? LoRAConfig(rank: 4, alpha: 8) : nil, encode: encode,
      progress: { losses.append($0.loss) }
    ).optimizerBytes
    #expect(losses.last! < losses.first!, "\(losses)")
    #expect((model.parameters.tensors.map(\.scalars) == before) == lora)
    #expect(bytes == 8 * (lora ? model.adapter!.parameterCount : model.parameterCount))
  }

  @Test func sftLengthsBeyondTheContextOrFilledByPromptsAreSaidSo() throws {
    let (model, tokens) = try InstructionTuning.prepare(try tinyGPT(vocabSize: 100, block: 64), existing: nil, template: .alpaca)
    // Alpaca's preamble alone is over 100 characters: no response within 64 tokens.
    let path = try write("alpaca.jsonl", #"{"instruction": "Say hi", "output": "hi"}"#)
    let data = try InstructionDataset(reading: path, template: .alpaca)
    let encode: (String) -> [Int] = { $0.unicodeScalars.map { Int($0.value) % 100 } }
    func tune(_ maxLength: Int?) throws {
      var options = FineTuneOptions()
      (options.maxLength, options.maxSteps) = (maxLength, 1)
      try InstructionTuning.fineTune(model, data: data, tokens: tokens, options: options, encode: encode)
    }
    // "raise --max-length" was the advice when it was already the whole context.
    #expect(throws: TrainingError.invalidData("no example keeps a response token within the model's context of 64 tokens: its prompts, "
      + "with the template's text, fill it (shorter ones, --template chat, or a model with a longer context)")) { try tune(nil) }
    #expect(throws: TrainingError.invalidData("no example keeps a response token within --max-length 32: raise it (up to the model's "
      + "context of 64 tokens)")) { try tune(32) }
    // A --max-length past the context was cut to it silently.
    #expect(throws: TrainingError.invalidOption("--max-length 65 is longer than the model's context of 64 tokens")) { try tune(65) }
  }

  @Test func sftRefusesABatchThatCannotFitInMemory() throws {
    // One conversation of 2¹⁷ tokens: the attention probabilities alone are 2 layers × 2 heads ×
    // (2¹⁷)² floats, 275 GB. It crashed in the allocator; now it is refused before the first step.
    let (model, tokens) = try InstructionTuning.prepare(try tinyGPT(vocabSize: 100, block: 1 << 17), existing: nil, template: .chat)
    let path = try write("long.jsonl", #"[{"role": "user", "content": "q"}, {"role": "assistant", "content": "\#(String(repeating: "a", count: 1 << 17))"}]"#)
    let data = try InstructionDataset(reading: path, template: .chat)
    #expect {
      try InstructionTuning.fineTune(model, data: data, tokens: tokens, options: FineTuneOptions(), encode: { $0.unicodeScalars.map { Int($0.value) % 100 } })
    } throws: { "\($0)".hasPrefix("invalid option: a training step on 1 × 131072 tokens needs at least 2") && "\($0)".hasSuffix("lower --batch-size or --max-length") }
  }
}
