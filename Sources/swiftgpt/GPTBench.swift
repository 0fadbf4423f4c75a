import ArgumentParser
import Foundation
import Inference
import Models
import TensorEngine
import Training

/// The attention shape shared by `bench gpt` and `bench attention` (defaults: the tiny model).
struct BenchShape: ParsableArguments {
  @Option(name: .customLong("n-head"), help: "Attention heads.") var heads = 4
  @Option(name: .customLong("n-embd"), help: "Embedding width.") var embd = 128
  @Option(name: .customLong("batch-size"), help: "Sequences per batch.") var batch = 16
  @Option(name: .customLong("block-size"), help: "Sequence length.") var block = 64

  func validate() throws {
    try requireAtLeast(1, ["--n-head": heads, "--n-embd": embd, "--batch-size": batch, "--block-size": block])
  }
}

/// `swiftgpt bench gpt`: training-step speed of a GPT on random tokens, as one JSON object.
struct GPTBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gpt",
    abstract: "Time forward + backward + clip + AdamW steps of a GPT on random tokens.")

  @Option(name: .customLong("n-layer"), help: "Layers.") var layers = 4
  @OptionGroup var shape: BenchShape
  @Option(name: .customLong("vocab-size"), help: "Vocabulary size.") var vocab = 65
  @Flag(help: "Give linear layers and LayerNorms biases.") var bias = false
  @Option(help: "Timed steps.") var steps = 10
  @Option(help: "Untimed warm-up steps.") var warmup = 2
  @Option(help: "Threads.") var threads = 1
  @Option(help: "Where to compute: cpu, cuda or auto (default: cpu).") var device: DeviceChoice = .cpu
  @OptionGroup var precision: PrecisionOption

  func validate() throws {
    try requireAtLeast(1, ["--n-layer": layers, "--vocab-size": vocab, "--steps": steps, "--threads": threads])
    try requireAtLeast(0, ["--warmup": warmup])
  }

  func run() throws {
    Parallel.threads = threads
    let (heads, embd, batch, block) = (shape.heads, shape.embd, shape.batch, shape.block)
    let config = GPTConfig(vocabSize: vocab, blockSize: block, nLayer: layers, nHead: heads, nEmbd: embd,
                           dropout: 0, bias: bias)
    let model = try GPT(config: config)
    let (device, where_) = try DeviceOption(device: device).resolve()
    let precision = try self.precision.apply(to: device)
    try model.checkActivationMemory(batch: batch, length: block, knobs: "--batch-size or --block-size", device: device)
    model.parameters.place(on: device)
    var optimizer = AdamW(parameters: model.parameters, weightDecay: 0.1)
    var rng = RandomGenerator(seed: 1)
    let n = batch * block
    var times: [Double] = []
    var loss: Float = 0
    for step in 0..<(warmup + steps) {
      let ids = (0..<n).map { _ in Int32(rng.next() % UInt64(vocab)) }
      let targets = (0..<n).map { _ in Int32(rng.next() % UInt64(vocab)) }
      let start = Terminal.now()
      model.parameters.zeroGrad()
      let l = model.forward(ids, batch: batch, length: block, targets: targets).loss!
      loss = l.item
      l.backward()
      clipGradNorm(model.parameters, maxNorm: 1)
      optimizer.step(lr: 1e-4)
      if step >= warmup { times.append(Terminal.now() - start) }  // `item` and the norm waited for the GPU
    }
    try device.gpu?.checkFailure()
    let sorted = times.sorted()
    // nanoGPT's estimate: 6·N (N without wpe) + 12·L·T·C per token, forward and backward.
    let flopsPerToken = 6 * (model.parameterCount - block * embd) + 12 * layers * block * embd
    let object: [String: Any] = [
      "median_ms": sorted[sorted.count / 2] * 1e3, "best_ms": sorted[0] * 1e3,
      "tokens_per_s": Double(n) / sorted[sorted.count / 2],
      "gflops": Double(flopsPerToken * n) / sorted[sorted.count / 2] / 1e9,
      "parameters": model.parameterCount, "loss": loss, "threads": threads, "device": where_,
      "precision": precision.rawValue,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
  }
}

/// `swiftgpt bench gemm`: GFLOP/s of the engine's SGEMM on one shape, the peak the training
/// benchmark is compared with.
struct GemmBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gemm",
    abstract: "Time C = op(A)·op(B) on one shape (default A·Bᵀ, the Linear forward layout).")

  @Option var m = 4096
  @Option var n = 1152
  @Option var k = 384
  @Option(help: "Repetitions (best is reported).") var repeats = 10
  @Option(help: "Threads.") var threads = 1
  @Option(help: "Which operands are transposed: nt (A·Bᵀ), nn (A·B, backward dX) or tn (Aᵀ·B, backward dW).")
  var layout = "nt"

  func validate() throws {
    guard ["nt", "nn", "tn"].contains(layout) else {
      throw ValidationError("--layout must be nt, nn or tn, got '\(layout)'")
    }
    try requireAtLeast(1, ["--m": m, "--n": n, "--k": k, "--repeats": repeats, "--threads": threads])
    let (dm, dn, dk) = (Double(m), Double(n), Double(k))
    try requireMemory(4 * (dm * dk + dn * dk + dm * dn), lower: "--m, --n or --k")
  }

  func run() throws {
    let (transA, transB) = (layout.first == "t", layout.last == "t")
    let a = Storage(count: m * k), b = Storage(count: n * k), c = Storage(count: m * n)
    var rng = RandomGenerator(seed: 1)
    for i in 0..<a.count { a.base[i] = rng.nextUniform() }
    for i in 0..<b.count { b.base[i] = rng.nextUniform() }
    var best = Double.infinity
    for _ in 0..<repeats {
      let start = Terminal.now()
      sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a.base, lda: transA ? m : k,
            b: b.base, ldb: transB ? k : n, c: c.base, ldc: n, accumulate: false, threads: threads)
      best = min(best, Terminal.now() - start)
    }
    let object: [String: Any] = [
      "gflops": 2 * Double(m * n * k) / best / 1e9, "best_s": best, "threads": threads, "layout": layout]
    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
  }
}

/// `swiftgpt bench attention`: causal self-attention forward and forward + backward on random
/// inputs (the fused kernel alone, without the projections).
struct AttentionBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "attention", abstract: "Time causal self-attention, forward and forward + backward.")

  @OptionGroup var shape: BenchShape
  @Option(help: "Repetitions (best is reported).") var repeats = 50
  @Option(help: "Threads.") var threads = 1

  func validate() throws {
    guard shape.embd % shape.heads == 0 else { throw ValidationError("--embd must be a multiple of --heads") }
    try requireAtLeast(1, ["--repeats": repeats, "--threads": threads])
    // The attention probabilities (B·H·T²) and q, k, v, the output and their gradients.
    let (b, t) = (Double(shape.batch), Double(shape.block))
    try requireMemory(4 * (b * Double(shape.heads) * t * t + 8 * b * t * Double(shape.embd)), lower: "--batch-size or --block-size")
  }

  func run() throws {
    let (heads, embd, batch, block) = (shape.heads, shape.embd, shape.batch, shape.block)
    Parallel.threads = threads
    var rng = RandomGenerator(seed: 1)
    let qkv = Tensor(shape: [batch, block, 3 * embd],
                     scalars: (0..<(batch * block * 3 * embd)).map { _ in rng.nextUniform() * 2 - 1 },
                     requiresGrad: true)
    var (forward, both) = (Double.infinity, Double.infinity)
    for _ in 0..<repeats {
      qkv.clearGrad()
      let start = Terminal.now()
      let y = causalSelfAttention(qkv, heads: heads)
      let middle = Terminal.now()
      sum(y).backward()
      let end = Terminal.now()
      (forward, both) = (min(forward, middle - start), min(both, end - start))
    }
    // The products a causal kernel needs: q·kᵀ and att·v over the T(T+1)/2 visible pairs, forward;
    // twice that backward.
    let flops = 2.0 * 2 * Double(batch * embd * block * (block + 1) / 2)
    let object: [String: Any] = [
      "forward_ms": forward * 1e3, "forward_backward_ms": both * 1e3,
      "forward_gflops": flops / forward / 1e9, "forward_backward_gflops": 3 * flops / both / 1e9,
      "threads": threads]
    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
  }
}

/// `swiftgpt bench decode`: batched decoding (`BatchDecoder`, as `serve` runs its slots) — the
/// time of one step of R sequences against R = 1, the model-side bound on serving throughput.
struct DecodeBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "decode",
    abstract: "Time batched decoding steps of a GPT (serve's slots): tokens/s for each number of rows.")

  @Option(help: "A model folder or run folder (default: a random GPT of the shape below).") var checkpoint: String?
  @Option(name: .customLong("n-layer"), help: "Layers.") var layers = 6
  @Option(name: .customLong("n-head"), help: "Attention heads.") var heads = 6
  @Option(name: .customLong("n-embd"), help: "Embedding width.") var embd = 384
  @Option(name: .customLong("vocab-size"), help: "Vocabulary size.") var vocab = 558
  @Option(name: .customLong("block-size"), help: "Context.") var block = 256
  @Option(parsing: .upToNextOption, help: "Rows (sequences decoded together) to time.") var rows: [Int] = [1, 2, 4, 8]
  @Option(help: "Prompt tokens per row before the timed steps.") var prompt = 16
  @Option(help: "Timed steps per round.") var steps = 64
  @Option(help: "Rounds (the row counts alternate; medians are reported).") var rounds = 3
  @Option(help: "Threads.") var threads = 2
  @Option(help: "Where to compute: cpu, cuda or auto (default: cpu).") var device: DeviceChoice = .cpu

  func validate() throws {
    try requireAtLeast(1, ["--n-layer": layers, "--n-head": heads, "--n-embd": embd, "--vocab-size": vocab, "--block-size": block,
                           "--prompt": prompt, "--steps": steps, "--rounds": rounds, "--threads": threads])
    guard rows.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--rows must be ≥ 1") }
  }

  func run() throws {
    Parallel.threads = threads
    let model: GPT
    if let checkpoint {
      guard let gpt = try ModelDirectory(checkpoint).loadModel() as? GPT else { throw CLIError("\(checkpoint) is not a GPT") }
      model = gpt
    } else {
      model = try GPT(config: GPTConfig(vocabSize: vocab, blockSize: block, nLayer: layers, nHead: heads, nEmbd: embd), seed: 1)
    }
    guard prompt + steps < model.config.blockSize else { throw CLIError("--prompt + --steps must be below the context, \(model.config.blockSize)") }
    let (device, where_) = try DeviceOption(device: device).resolve()
    model.parameters.place(on: device)
    var times: [Int: [Double]] = [:]
    for _ in 0..<rounds {
      for count in rows {
        let decoder = BatchDecoder(model: model, slots: count)
        var rng = RandomGenerator(seed: 1)
        var next: [Int32] = []
        for slot in 0..<count {
          decoder.reset(slot: slot)
          let logits = decoder.prefill(slot: slot, (0..<prompt).map { _ in Int32(rng.next() % UInt64(model.vocabSize)) })
          next.append(Int32(logits.indices.max { logits[$0] < logits[$1] }!))
        }
        let start = Terminal.now()
        for _ in 0..<steps {
          let logits = decoder.step(next.indices.map { (slot: $0, tokens: [next[$0]]) })
          next = logits.map { row in Int32(row.indices.max { row[$0] < row[$1] }!) }
        }
        times[count, default: []].append((Terminal.now() - start) / Double(steps))  // each step read its logits back
      }
    }
    try device.gpu?.checkFailure()
    let single = times[1].map { $0.sorted()[$0.count / 2] }
    for count in rows {
      let step = times[count]!.sorted()[times[count]!.count / 2]
      var object: [String: Any] = ["rows": count, "step_ms": step * 1e3, "tokens_per_s": Double(count) / step, "threads": threads,
                                   "device": where_]
      if let single { object["vs_one_row"] = Double(count) * single / step }
      print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    }
  }
}
