import CUDA

/// Each CUDA op against the CPU engine on seeded random inputs: forward values and every
/// gradient. Run on a GPU by `swiftgpt doctor --check` (and `scripts/gpu_check.sh`).
public enum CUDAParity {
  /// One compared output: the largest difference relative to the largest CPU value.
  public struct Result: Sendable {
    public let name: String
    public let relativeError: Float
    public let tolerance: Float
    public var passed: Bool { relativeError <= tolerance }
  }

  /// Runs every check in FP32, and the matrix products again in TF32 and bf16 on sm_80 and
  /// newer (tolerances 5e-3 and 2e-2: inputs rounded to 10 and 7 stored mantissa bits, sums in
  /// FP32); returns one result per compared output. The products' precision is left as it was.
  public static func run(_ ops: CUDAOps, seed: UInt64 = 1) throws(CUDAError) -> [Result] {
    let precision = ops.precision
    defer { try? ops.setPrecision(precision) }
    try ops.setPrecision(.fp32)
    var checker = Checker(ops: ops, random: RandomGenerator(seed: seed))
    try checker.matmul()
    if ops.device.computeCapability.major >= 8 {
      for (reduced, tolerance) in [(Precision.tf32, Float(5e-3)), (.bf16, 2e-2)] {
        try ops.setPrecision(reduced)
        try checker.matmul(precision: reduced, tolerance: tolerance)
      }
      try ops.setPrecision(.fp32)
    }
    try checker.addAndBias()
    try checker.gelu()
    try checker.layerNorm()
    try checker.embedding()
    try checker.attention()
    try checker.crossEntropy()
    try checker.adamw()
    try checker.sumOfSquares()
    return checker.results
  }
}

private struct Checker {
  let ops: CUDAOps
  var random: RandomGenerator
  var results: [CUDAParity.Result] = []
  /// FP32 against FP32 with sums in other orders.
  let tolerance: Float = 1e-5

  var device: CUDADevice { ops.device }

  mutating func values(_ count: Int) -> [Float] { (0..<count).map { _ in random.nextNormal() } }

  /// A CPU tensor of random values that requires grad, and the same values on the device.
  mutating func input(_ shape: [Int]) throws(CUDAError) -> (Tensor, DeviceBuffer) {
    let v = values(shape.reduce(1, *))
    return (Tensor(shape: shape, scalars: v, requiresGrad: true), try device.upload(v))
  }

  /// Backpropagates Σ out·r for a random r on the CPU and returns r on the device (dout).
  mutating func backward(_ out: Tensor) throws(CUDAError) -> DeviceBuffer {
    let r = values(out.count)
    sum(mul(out, Tensor(shape: out.shape, scalars: r))).backward()
    return try device.upload(r)
  }

  mutating func compare(_ name: String, _ gpu: DeviceBuffer, _ cpu: [Float], tolerance: Float? = nil) throws(CUDAError) {
    let got = try gpu.values(Float.self, count: cpu.count)
    var largest: Float = 0, difference: Float = 0
    for (g, c) in zip(got, cpu) {
      largest = max(largest, abs(c))
      difference = max(difference, g.isFinite ? abs(g - c) : .infinity)
    }
    results.append(.init(name: name, relativeError: difference / max(largest, .leastNormalMagnitude),
                         tolerance: tolerance ?? self.tolerance))
  }

  /// The products of `matmul` and its two gradients, in the ops' current precision.
  mutating func matmul(precision: Precision = .fp32, tolerance: Float? = nil) throws(CUDAError) {
    for transposeB in [false, true] {
      let (m, k, n) = (96, 160, 72)
      let (a, ga) = try input([m, k]), (b, gb) = try input(transposeB ? [n, k] : [k, n])
      let out = TensorEngine.matmul(a, b, transposeB: transposeB)
      let gout = try device.allocate(Float.self, count: m * n)
      try ops.gemm(transA: false, transB: transposeB, m: m, n: n, k: k, a: ga, lda: k, b: gb, ldb: transposeB ? k : n,
                   c: gout, ldc: n, accumulate: false)
      let dout = try backward(out)
      let (da, db) = (try device.allocate(Float.self, count: m * k), try device.allocate(Float.self, count: k * n))
      try ops.gemm(transA: false, transB: !transposeB, m: m, n: k, k: n, a: dout, lda: n, b: gb, ldb: transposeB ? k : n,
                   c: da, ldc: k, accumulate: false)
      if transposeB {
        try ops.gemm(transA: true, transB: false, m: n, n: k, k: m, a: dout, lda: n, b: ga, ldb: k, c: db, ldc: k, accumulate: false)
      } else {
        try ops.gemm(transA: true, transB: false, m: k, n: n, k: m, a: ga, lda: k, b: dout, ldb: n, c: db, ldc: n, accumulate: false)
      }
      let tag = (transposeB ? "matmul(Bᵀ)" : "matmul") + (precision == .fp32 ? "" : " \(precision.rawValue)")
      try compare(tag, gout, out.scalars, tolerance: tolerance)
      try compare("\(tag) dA", da, a.grad!, tolerance: tolerance)
      try compare("\(tag) dB", db, b.grad!, tolerance: tolerance)
    }
  }

  mutating func addAndBias() throws(CUDAError) {
    let (rows, c) = (37, 200)
    let (x, gx) = try input([rows, c]), (bias, gbias) = try input([c])
    let out = add(x, bias)
    let gout = try device.allocate(Float.self, count: rows * c)
    try ops.add(gout, gx, gbias, count: rows * c, inner: c)
    let dout = try backward(out)
    let (dx, dbias) = (try device.allocate(Float.self, count: rows * c), try device.allocate(Float.self, count: c))
    try ops.accumulate(dx, dout, count: rows * c, add: false)
    try ops.columnSums(dbias, dout, rows: rows, cols: c, accumulate: true)
    try compare("add", gout, out.scalars)
    try compare("add dx", dx, x.grad!)
    try compare("bias grad (column sums)", dbias, bias.grad!)
  }

  mutating func gelu() throws(CUDAError) {
    let n = 5000
    let (x, gx) = try input([n])
    let out = TensorEngine.gelu(x)
    let gout = try device.allocate(Float.self, count: n)
    try ops.gelu(gout, gx, count: n)
    let dout = try backward(out)
    let dx = try device.allocate(Float.self, count: n)
    try ops.geluBackward(dx, gx, dout, count: n, add: false)
    try compare("gelu", gout, out.scalars)
    try compare("gelu dx", dx, x.grad!)
  }

  mutating func layerNorm() throws(CUDAError) {
    let (rows, c) = (70, 384)
    let (x, gx) = try input([rows, c]), (w, gw) = try input([c]), (b, gb) = try input([c])
    let out = TensorEngine.layerNorm(x, weight: w, bias: b)
    let (gout, stats) = (try device.allocate(Float.self, count: rows * c), try device.allocate(Float.self, count: 2 * rows))
    try ops.layerNorm(gout, stats: stats, x: gx, weight: gw, bias: gb, rows: rows, channels: c, eps: 1e-5)
    let dout = try backward(out)
    let (dx, dw, db) = (try device.allocate(Float.self, count: rows * c), try device.allocate(Float.self, count: c),
                        try device.allocate(Float.self, count: c))
    try ops.layerNormBackward(dx: (dx, false), dweight: dw, dbias: db, dout: dout, x: gx, weight: gw, stats: stats,
                              rows: rows, channels: c)
    try compare("layerNorm", gout, out.scalars)
    try compare("layerNorm dx", dx, x.grad!)
    try compare("layerNorm dweight", dw, w.grad!)
    try compare("layerNorm dbias", db, b.grad!)
  }

  mutating func embedding() throws(CUDAError) {
    let (vocab, c, n) = (50, 96, 300)
    let (table, gtable) = try input([vocab, c])
    let ids = (0..<n).map { _ in Int32(random.next() % UInt64(vocab)) }
    let out = TensorEngine.embedding(table, ids: ids, shape: [n])
    let gout = try device.allocate(Float.self, count: n * c)
    try ops.embedding(gout, ids: try device.upload(ids), table: gtable, count: n, channels: c)
    let dout = try backward(out)
    let dtable = try device.allocate(Float.self, count: vocab * c)
    try ops.embeddingBackward(dtable, dout: dout, ids: ids, channels: c)
    try compare("embedding", gout, out.scalars)
    try compare("embedding dtable", dtable, table.grad!, tolerance: 0)  // the same additions in the same order
  }

  /// Two shapes: one whose sequence is shorter than a head (the head-sized buffers are then
  /// larger than the T×T ones).
  mutating func attention() throws(CUDAError) {
    try attention(batch: 2, t: 67, channels: 128, heads: 4, name: "causal self-attention")
    try attention(batch: 3, t: 5, channels: 64, heads: 2, name: "attention, T < head size")
  }

  mutating func attention(batch b: Int, t: Int, channels c: Int, heads: Int, name: String) throws(CUDAError) {
    let (qkv, gqkv) = try input([b, t, 3 * c])
    let out = causalSelfAttention(qkv, heads: heads)
    let gout = try device.allocate(Float.self, count: b * t * c)
    let state = try ops.causalSelfAttention(gout, qkv: gqkv, batch: b, t: t, heads: heads, channels: c)
    let dout = try backward(out)
    let dqkv = try device.allocate(Float.self, count: b * t * 3 * c)
    try ops.causalSelfAttentionBackward(dqkv, add: false, dy: dout, state: state)
    try compare(name, gout, out.scalars)
    try compare("\(name) dqkv", dqkv, qkv.grad!)
  }

  mutating func crossEntropy() throws(CUDAError) {
    let (rows, v) = (45, 1000)
    let (logits, glogits) = try input([rows, v])
    let targets = (0..<rows).map { r in r % 7 == 3 ? -100 : Int32(random.next() % UInt64(v)) }
    let loss = TensorEngine.crossEntropy(logits, targets: targets)
    let gloss = try device.allocate(Float.self, count: 1)
    let state = try ops.crossEntropy(gloss, logits: glogits, targets: targets, vocabulary: v)
    loss.backward()
    let dlogits = try device.allocate(Float.self, count: rows * v)
    try ops.crossEntropyBackward(dlogits, add: false, logits: glogits, dloss: try device.upload([Float(1)]), state: state)
    try compare("cross-entropy", gloss, loss.scalars)
    try compare("cross-entropy dlogits", dlogits, logits.grad!)
  }

  mutating func adamw() throws(CUDAError) {
    let n = 3000
    var (p, g, m, v) = (values(n), values(n), values(n).map { $0 * 0.1 }, values(n).map { $0 * $0 })
    let (gp, gg, gm, gv) = (try device.upload(p), try device.upload(g), try device.upload(m), try device.upload(v))
    let (stepSize, bc2, decay): (Float, Float, Float) = (1e-3 / (1 - 0.9 * 0.9), (1 - 0.95 * 0.95 as Float).squareRoot(), 1 - 1e-4)
    adamwUpdate(parameters: &p, gradients: g, m: &m, v: &v, count: n, beta1: 0.9, beta2: 0.95, eps: 1e-8,
                stepSize: stepSize, bc2Sqrt: bc2, decayFactor: decay)
    try ops.adamw(parameters: gp, gradients: gg, m: gm, v: gv, offset: 0, count: n, beta1: 0.9, beta2: 0.95, eps: 1e-8,
                  stepSize: stepSize, bc2Sqrt: bc2, decayFactor: decay)
    try compare("AdamW parameters", gp, p)
    try compare("AdamW m", gm, m)
    try compare("AdamW v", gv, v)
  }

  mutating func sumOfSquares() throws(CUDAError) {
    let n = 100_003
    let x = values(n)
    let gpu = try ops.sumOfSquares(try device.upload(x), count: n)
    let cpu = x.reduce(0.0) { $0 + Double($1) * Double($1) }
    results.append(.init(name: "sum of squares (gradient norm)", relativeError: Float(abs(Double(gpu) - cpu) / cpu),
                         tolerance: tolerance))
  }
}
