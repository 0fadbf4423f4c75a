import Foundation
import Testing
import FileSupport
import TensorEngine
@testable import Models
@testable import Training

@Suite("Trainer: loop, checkpoints, resume")
struct TrainerTests {
  /// A dataset folder of a repeating pattern over `vocab` tokens (learnable), with a val split.
  func dataset(vocab: Int = 13, tokens: (train: Int, val: Int) = (3000, 400)) throws -> (train: TokenDataset, val: TokenDataset) {
    let dir = temporaryDirectory()
    for (split, n) in [("train", tokens.train), ("val", tokens.val)] {
      let writer = try TokenShardWriter(path: dir + "/\(split)_000000.bin", tokenWidth: 2)
      try writer.append((0..<n).map { ($0 * 5 + $0 / 7) % vocab }[...])
      try writer.finish()
    }
    return (try TokenDataset(folder: dir, split: "train"), try TokenDataset(folder: dir, split: "val"))
  }

  func options(steps: Int) -> TrainingOptions {
    var o = TrainingOptions()
    (o.batchSize, o.blockSize, o.maxSteps, o.warmupSteps, o.evalEvery, o.evalSteps, o.gradAccum) = (4, 16, steps, 3, 3, 2, 2)
    o.learningRate = 3e-3
    o.minLearningRate = 3e-4
    return o
  }

  func gpt() throws -> GPT {
    try GPT(config: GPTConfig(vocabSize: 13, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16, dropout: 0.1), seed: 4)
  }

  @Test("N steps + resume + N steps gives bit-identical weights and optimizer state to 2N steps")
  func resumeIsExact() throws {
    let (train, val) = try dataset()
    let straight = try Trainer(model: try gpt(), train: train, val: val, options: options(steps: 10))
    let outA = temporaryDirectory()
    #expect(try straight.run(out: outA) == .finished)

    let outB = temporaryDirectory()
    var o = options(steps: 10)
    let first = try Trainer(model: try gpt(), train: train, val: val, options: o)
    var calls = 0
    // Stop (as Ctrl-C does) before step 6: the run checkpoints step 5 into latest/.
    #expect(try first.run(out: outB, shouldStop: { calls += 1; return calls > 5 }) == .interrupted)
    #expect(first.step == 5)
    let resumed = try Trainer(resumingFrom: outB + "/latest", train: train, val: val)
    #expect(resumed.step == 5)
    #expect(try resumed.run(out: outB) == .finished)
    o.maxSteps = 10
    o.decaySteps = 10
    #expect(resumed.options == o)
    let a = straight.model.parameters, b = resumed.model.parameters
    #expect(memcmp(a.values.base, b.values.base, a.count * 4) == 0)
    #expect(memcmp(straight.optimizer.m.base, resumed.optimizer.m.base, a.count * 4) == 0)
    #expect(memcmp(straight.optimizer.v.base, resumed.optimizer.v.base, a.count * 4) == 0)
    #expect(straight.log.map(\.loss) == resumed.log.map(\.loss))
    #expect(straight.bestValLoss == resumed.bestValLoss)
  }

  @Test("a finished run resumed with more steps keeps its decay horizon: the rate stays at the floor")
  func resumeKeepsTheDecayHorizon() throws {
    let (train, val) = try dataset()
    let out = temporaryDirectory()
    #expect(try Trainer(model: try gpt(), train: train, val: val, options: options(steps: 6)).run(out: out) == .finished)
    let more = try Trainer(resumingFrom: out + "/latest", train: train, val: val, maxSteps: 9)
    #expect(more.options.decaySteps == 6 && more.options.maxSteps == 9)
    #expect(try more.run(out: out) == .finished)
    // The cosine restarted over 9 steps: lr went from 3e-4 back up to ~8e-4.
    let resumed = more.log.filter { $0.step > 6 }
    #expect(resumed.count == 3 && resumed.allSatisfy { $0.learningRate == 3e-4 }, "\(resumed.map(\.learningRate))")
    // The loss curve marks where the run was resumed (the state keeps it for later resumes).
    #expect(more.resumes == [6])
    let svg = try String(contentsOfFile: out + "/loss.svg", encoding: .utf8)
    #expect(svg.contains(">resumed</text>") && svg.contains("stroke-dasharray"))
    #expect(try Trainer(resumingFrom: out + "/latest", train: train, val: val, maxSteps: 10).resumes == [6, 9])
    // Fewer steps than the run has taken trained nothing and said "done".
    #expect(throws: TrainingError.invalidOption("--max-steps 5 is before the run's step 9: give more steps to train on")) {
      try Trainer(resumingFrom: out + "/latest", train: train, val: val, maxSteps: 5)
    }
  }

  @Test("a log line that is not a row is an error naming it, on resume too, not a row silently dropped")
  func malformedLogIsAnError() throws {
    let (train, val) = try dataset()
    let out = temporaryDirectory()
    #expect(try Trainer(model: try gpt(), train: train, val: val, options: options(steps: 3)).run(out: out) == .finished)
    let path = out + "/latest/log.csv"
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
    #expect(try readLog(path).map(\.step) == [0, 1, 2, 3])
    // A log of the version before grad_norm still reads.
    let old = lines.map { $0.split(separator: ",", omittingEmptySubsequences: false).prefix(7).joined(separator: ",") }
    try (old.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    #expect(try readLog(path).map(\.step) == [0, 1, 2, 3])
    var damaged = lines.map(String.init)
    damaged[2] = "2,0.5"
    try (damaged.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: FileError.malformed(path: path, line: 3, reason: "not a row of a training log ('2,0.5')")) { try readLog(path) }
    #expect(throws: TrainingError.file(.malformed(path: path, line: 3, reason: "not a row of a training log ('2,0.5')"))) {
      try Trainer(resumingFrom: out + "/latest", train: train, val: val, maxSteps: 5)
    }
    try "loss\n1\n".write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: FileError.malformed(path: path, line: 1,
                                        reason: "not a training log: expected the header '\(LogRow.header)'")) { try readLog(path) }
  }

  @Test("loss-curve axes have round ticks, and evaluations are joined by lines")
  func lossCurveAxes() {
    #expect(roundTicks(0, 2000) == [0, 500, 1000, 1500, 2000])
    #expect(roundTicks(0, 1500) == [0, 500, 1000, 1500])
    #expect(roundTicks(1.47, 4.23) == [1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5])
    #expect(roundTicks(0, 7) == [0, 1, 2, 3, 4, 5, 6, 7])
    let rows = (0...4).map { k in
      LogRow(step: 10 * k, loss: 4 - Float(k) / 2, learningRate: 1e-3, trainLoss: k % 2 == 0 ? 4 - Float(k) / 2 : nil,
             valLoss: k % 2 == 0 ? 4.1 - Float(k) / 2 : nil, tokensPerSecond: 1, elapsed: 1)
    }
    let svg = lossCurveSVG(rows, title: "t")
    #expect(svg.components(separatedBy: "<polyline").count - 1 == 3, "step loss, train and val evaluations")
    #expect(svg.contains(">2.0</text>") && svg.contains(">40</text>") && !svg.contains(">2.03</text>"))
  }

  @Test("a run writes latest/ and best/ checkpoints, a CSV log and an SVG curve; the loss falls")
  func runOutputs() throws {
    let (train, val) = try dataset()
    let out = temporaryDirectory()
    let trainer = try Trainer(model: try gpt(), train: train, val: val, options: options(steps: 30))
    var evaluations = 0
    _ = try trainer.run(out: out, files: ["note.txt": Data("hi".utf8)], events: { if case .evaluation = $0 { evaluations += 1 } })
    #expect(evaluations == 11)  // step 0, every 3 steps, and 30
    for file in ["latest/model.safetensors", "latest/config.json", "latest/optimizer.safetensors",
                 "latest/trainer_state.json", "latest/note.txt", "best/model.safetensors", "log.csv", "loss.svg"] {
      #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
    }
    let rows = try readLog(out + "/log.csv")
    #expect(rows.count == 31 && rows.map(\.step) == Array(0...30))
    #expect(rows.last!.valLoss! < rows.first!.valLoss! - 0.5, "val \(rows.first!.valLoss!) → \(rows.last!.valLoss!)")
    #expect(rows.last!.valLoss == trainer.log.last!.valLoss)
    let svg = try String(contentsOfFile: out + "/loss.svg", encoding: .utf8)
    #expect(svg.hasPrefix("<svg") && svg.contains("<polyline") && svg.contains("<circle"))
    // best/ holds the model with the lowest val loss, and it loads back.
    let best = try ModelFolder.load(out + "/best") as! GPT
    #expect(best.config == (trainer.model as! GPT).config)
    #expect(!FileManager.default.fileExists(atPath: out + "/latest.tmp"))
  }

  @Test("bigram trains and round-trips through a model folder")
  func bigramFolder() throws {
    let (train, val) = try dataset()
    var o = options(steps: 40)
    o.learningRate = 0.05
    o.minLearningRate = 0.05
    let trainer = try Trainer(model: try Bigram(vocabSize: 13), train: train, val: val, options: o)
    let out = temporaryDirectory()
    _ = try trainer.run(out: out)
    #expect(trainer.log.last!.valLoss! < trainer.log.first!.valLoss!)
    let loaded = try ModelFolder.load(out + "/latest")
    #expect(loaded is Bigram)
    #expect(memcmp(loaded.parameters.values.base, trainer.model.parameters.values.base, 13 * 13 * 4) == 0)
  }

  @Test("bad options, tokens outside the vocabulary and missing checkpoints are refused")
  func errors() throws {
    let (train, val) = try dataset()
    var o = options(steps: 5)
    o.blockSize = 32
    #expect(throws: TrainingError.invalidOption("--block-size 32 is longer than the model's context of 16 tokens")) {
      try Trainer(model: try gpt(), train: train, val: val, options: o)
    }
    o = options(steps: 5)
    o.learningRate = -1
    #expect(throws: TrainingError.self) { try Trainer(model: try gpt(), train: train, val: val, options: o) }
    // A step whose activations exceed the machine's memory is refused before it allocates them
    // (it crashed in the allocator): 2⁴⁰ sequences of 16 tokens need petabytes.
    o = options(steps: 5)
    o.batchSize = 1 << 40
    #expect {
      try Trainer(model: try gpt(), train: train, val: val, options: o)
    } throws: { error in
      let text = "\(error)"
      return text.hasPrefix("invalid option: a training step on 1099511627776 × 16 tokens needs at least ")
        && text.hasSuffix(" of memory, more than this machine's \(MemoryLimit.gigabytes(MemoryLimit.physical)); lower --batch-size or --block-size")
    }
    let small = try GPT(config: GPTConfig(vocabSize: 5, blockSize: 16, nLayer: 1, nHead: 1, nEmbd: 8))
    #expect(throws: TrainingError.invalidData("the train split has token id 12, but the model's vocabulary has 5 tokens")) {
      try Trainer(model: small, train: train, val: val, options: options(steps: 5))
    }
    let short = try dataset(tokens: (3000, 16)).val
    #expect(throws: TrainingError.invalidData("the val split has 16 tokens; a window of 16 needs 17 in one shard "
      + "(lower --block-size, or prepare more text)")) { try Trainer(model: try gpt(), train: train, val: short, options: options(steps: 5)) }
    let missing = temporaryDirectory() + "/latest"
    #expect(throws: (any Error).self) { try Trainer(resumingFrom: missing, train: train, val: val) }
  }
}
