import Synchronization

/// The tensor engine's ops on a GPU: one function per op, its shapes in the comment, launching
/// the kernels of `KernelLibrary` and cuBLAS. Buffers hold `Float`s unless named otherwise;
/// `add`/`accumulate` flags say whether a gradient adds to what its buffer holds.
public final class CUDAOps: @unchecked Sendable {
  public let device: CUDADevice
  public let kernels: KernelLibrary
  public let blas: CuBLAS

  public init(kernels: KernelLibrary, blas: CuBLAS) {
    device = kernels.device
    self.kernels = kernels
    self.blas = blas
  }

  /// The first GPU failure, kept as CUDA keeps its own errors: ops called after it do nothing,
  /// and whoever drives the ops (the trainer, after each step) reports it.
  private let firstFailure = Mutex<CUDAError?>(nil)

  /// The failure that stopped GPU work, if any.
  public var failure: CUDAError? { firstFailure.withLock { $0 } }

  /// Runs `body` unless an earlier call failed, keeping its failure.
  public func run(_ body: () throws(CUDAError) -> Void) {
    guard failure == nil else { return }
    do { try body() } catch { firstFailure.withLock { if $0 == nil { $0 = error } } }
  }

  /// Throws the failure that stopped GPU work, if any.
  public func checkFailure() throws(CUDAError) { if let failure { throw failure } }

  private let productPrecision = Mutex<Precision>(.fp32)

  /// The arithmetic of every matrix product (`gemm`); FP32 until set.
  public var precision: Precision { productPrecision.withLock { $0 } }

  /// Sets the arithmetic of the matrix products.
  public func setPrecision(_ precision: Precision) throws(CUDAError) {
    try blas.allowTF32(precision == .tf32)
    productPrecision.withLock { $0 = precision }
  }

  // MARK: Matrix products

  /// Row-major C[M, N] (+)= op(A)[M, K] · op(B)[K, N], batched as `CuBLAS.gemm`, in `precision`:
  /// for bf16 the FP32 inputs are rounded to bfloat16 copies first (C and the sums stay FP32).
  public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: any DeviceMemory, lda: Int, b: any DeviceMemory,
                   ldb: Int, c: any DeviceMemory, ldc: Int, accumulate: Bool,
                   batch: (count: Int, strides: (a: Int, b: Int, c: Int)) = (1, (0, 0, 0))) throws(CUDAError) {
    guard precision == .bf16, m > 0, n > 0, k > 0 else {
      try blas.gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
                    accumulate: accumulate, batch: batch)
      return
    }
    // The elements each operand spans, from its first to its last: op(A) is A[M, K] or A[K, M].
    let spanA = (batch.count - 1) * batch.strides.a + (transA ? (k - 1) * lda + m : (m - 1) * lda + k)
    let spanB = (batch.count - 1) * batch.strides.b + (transB ? (n - 1) * ldb + k : (k - 1) * ldb + n)
    try blas.gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: try bfloat16(a, count: spanA), lda: lda,
                  b: try bfloat16(b, count: spanB), ldb: ldb, c: c, ldc: ldc, accumulate: accumulate, batch: batch, inputs: .bf16)
  }

  /// A bfloat16 copy of x[n] (rounded to nearest, ties to even).
  public func bfloat16(_ x: any DeviceMemory, count n: Int) throws(CUDAError) -> DeviceBuffer {
    let y = try device.allocate(UInt16.self, count: n, zeroed: false)
    try kernels.launch("to_bf16", threads: n, [.buffer(y), .buffer(x), .long(n)])
    return y
  }

  /// Grid of the two-stage sums: fixed, so a sum's order never depends on the device.
  static let sumBlocks = 256

  // MARK: Element-wise

  /// out[n] = a[n] + b[i mod inner] (b broadcast over a's leading axes).
  public func add(_ out: any DeviceMemory, _ a: any DeviceMemory, _ b: any DeviceMemory, count n: Int, inner: Int) throws(CUDAError) {
    try kernels.launch("add_broadcast", threads: n, [.buffer(out), .buffer(a), .buffer(b), .long(n), .int(inner)])
  }

  /// dst[n] (+)= src[n].
  public func accumulate(_ dst: any DeviceMemory, _ src: any DeviceMemory, count n: Int, add: Bool) throws(CUDAError) {
    try scale(dst, src, by: 1, count: n, add: add)
  }

  /// out[cols] (+)= Σ_rows x[rows, cols], in the CPU engine's chunk order (bias gradients).
  public func columnSums(_ out: any DeviceMemory, _ x: any DeviceMemory, rows: Int, cols: Int, accumulate: Bool) throws(CUDAError) {
    try sumInChunks(into: out, rows: rows, cols: cols, accumulate: accumulate, "column_sum_partials", [.buffer(x)])
  }

  /// out[cols] (+)= the sum over rows of a term of each row, as the CPU engine's `sumRows` adds
  /// it: the kernel `partials(partial, arguments…, rows, cols, chunks)` sums the rows of each of
  /// at most 16 chunks into partial[chunks, cols], then the chunks are added in order.
  private func sumInChunks(into out: any DeviceMemory, rows: Int, cols: Int, accumulate: Bool, _ partials: String,
                           _ arguments: [KernelArgument]) throws(CUDAError) {
    let chunks = min(rows, 16)
    let partial = try device.allocate(Float.self, count: max(1, chunks) * cols, zeroed: false)
    if chunks > 0 {
      try kernels.launch(partials, grid: ((cols + 255) / 256, chunks), block: 256,
                         [.buffer(partial)] + arguments + [.int(rows), .int(cols), .int(chunks)])
    }
    try kernels.launch("add_partials", threads: cols, [.buffer(out), .buffer(partial), .int(chunks), .int(cols), .int(accumulate ? 1 : 0)])
  }

  /// out[n] = gelu(x[n]) (GPT-2's tanh approximation).
  public func gelu(_ out: any DeviceMemory, _ x: any DeviceMemory, count n: Int) throws(CUDAError) {
    try kernels.launch("gelu_forward", threads: n, [.buffer(out), .buffer(x), .long(n)])
  }

  /// dx[n] (+)= dout[n] · gelu'(x[n]).
  public func geluBackward(_ dx: any DeviceMemory, _ x: any DeviceMemory, _ dout: any DeviceMemory, count n: Int, add: Bool) throws(CUDAError) {
    try kernels.launch("gelu_backward", threads: n, [.buffer(dx), .buffer(x), .buffer(dout), .long(n), .int(add ? 1 : 0)])
  }

  /// out[n] (+)= a[n] · b[n].
  public func multiply(_ out: any DeviceMemory, _ a: any DeviceMemory, _ b: any DeviceMemory, count n: Int, add: Bool) throws(CUDAError) {
    try kernels.launch("multiply", threads: n, [.buffer(out), .buffer(a), .buffer(b), .long(n), .int(add ? 1 : 0)])
  }

  /// out[n] (+)= x[n] · s.
  public func scale(_ out: any DeviceMemory, _ x: any DeviceMemory, by s: Float, count n: Int, add: Bool) throws(CUDAError) {
    try kernels.launch("scale_into", threads: n, [.buffer(out), .buffer(x), .float(s), .long(n), .int(add ? 1 : 0)])
  }

  /// One AdamW step over `count` parameters starting `offset` elements into p, g, m, v (the
  /// engine's `adamwUpdate` arguments).
  public func adamw(parameters p: any DeviceMemory, gradients g: any DeviceMemory, m: any DeviceMemory, v: any DeviceMemory, offset: Int,
                    count: Int, beta1: Float, beta2: Float, eps: Float, stepSize: Float, bc2Sqrt: Float,
                    decayFactor: Float) throws(CUDAError) {
    try kernels.launch("adamw_update", threads: count,
                       [.pointer(p.pointer.advanced(by: offset)), .pointer(g.pointer.advanced(by: offset)),
                        .pointer(m.pointer.advanced(by: offset)), .pointer(v.pointer.advanced(by: offset)), .long(count),
                        .float(beta1), .float(beta2), .float(eps), .float(stepSize), .float(bc2Sqrt), .float(decayFactor)])
  }

  /// Σ x[n]², summed in a fixed order (the gradient norm before clipping).
  public func sumOfSquares(_ x: any DeviceMemory, count n: Int) throws(CUDAError) -> Float {
    let partial = try device.allocate(Float.self, count: Self.sumBlocks, zeroed: false)
    let total = try device.allocate(Float.self, count: 1, zeroed: false)
    try kernels.launch("sum_squares_partials", grid: (Self.sumBlocks, 1), block: 256, [.buffer(partial), .buffer(x), .long(n)])
    try kernels.launch("sum_partials", grid: (1, 1), block: 256, [.buffer(total), .buffer(partial), .int(Self.sumBlocks)])
    return try total.values(Float.self, count: 1)[0]
  }

  /// out[0] = Σ x[n], by one block in a fixed order (small tensors: a loss's terms).
  public func sum(_ out: any DeviceMemory, _ x: any DeviceMemory, count n: Int) throws(CUDAError) {
    try kernels.launch("sum_partials", grid: (1, 1), block: 256, [.buffer(out), .buffer(x), .int(n)])
  }

  /// dst[n] (+)= s[0].
  public func spread(_ dst: any DeviceMemory, scalar s: any DeviceMemory, count n: Int, add: Bool) throws(CUDAError) {
    try kernels.launch("spread_scalar", threads: n, [.buffer(dst), .buffer(s), .long(n), .int(add ? 1 : 0)])
  }

  /// x[n] *= s.
  public func scale(_ x: any DeviceMemory, by s: Float, count n: Int) throws(CUDAError) {
    try scale(x, x, by: s, count: n, add: false)
  }

  // MARK: Embedding

  /// out[n, C] = table[ids[n], :]. ids: n `Int32`s on the device.
  public func embedding(_ out: any DeviceMemory, ids: any DeviceMemory, table: any DeviceMemory, count n: Int, channels c: Int) throws(CUDAError) {
    try kernels.launch("embedding_forward", threads: n * c, [.buffer(out), .buffer(ids), .buffer(table), .int(n), .int(c)])
  }

  /// dtable[V, C] += dout[n, C] gathered by `ids` (host values), each row's positions added in order.
  public func embeddingBackward(_ dtable: any DeviceMemory, dout: any DeviceMemory, ids: [Int32], channels c: Int) throws(CUDAError) {
    var positions: [Int32: [Int32]] = [:]
    for (i, id) in ids.enumerated() { positions[id, default: []].append(Int32(i)) }
    let groupIDs = positions.keys.sorted()
    var starts: [Int32] = [0], flat: [Int32] = []
    for id in groupIDs { flat += positions[id]!; starts.append(Int32(flat.count)) }
    guard !groupIDs.isEmpty else { return }
    let (g, s, p) = (try device.upload(groupIDs), try device.upload(starts), try device.upload(flat))
    try kernels.launch("embedding_backward", grid: ((c + 255) / 256, groupIDs.count), block: 256,
                       [.buffer(dtable), .buffer(dout), .buffer(g), .buffer(s), .buffer(p), .int(c)])
  }

  // MARK: LayerNorm

  /// out[rows, C] = LayerNorm(x) · w + b, stats[rows, 2] = (mean, rstd). b may be nil.
  public func layerNorm(_ out: any DeviceMemory, stats: any DeviceMemory, x: any DeviceMemory, weight: any DeviceMemory, bias: (any DeviceMemory)?,
                        rows: Int, channels c: Int, eps: Float) throws(CUDAError) {
    try kernels.launch("layernorm_forward", grid: ((rows + 3) / 4, 1), block: 128,
                       [.buffer(out), .buffer(stats), .buffer(x), .buffer(weight), bias.map { .buffer($0) } ?? .null,
                        .int(rows), .int(c), .float(eps)])
  }

  /// LayerNorm's gradients: dx (+)= …, dweight += Σ x̂·dout, dbias += Σ dout (each optional).
  public func layerNormBackward(dx: (buffer: any DeviceMemory, add: Bool)?, dweight: (any DeviceMemory)?, dbias: (any DeviceMemory)?,
                                dout: any DeviceMemory, x: any DeviceMemory, weight: any DeviceMemory, stats: any DeviceMemory,
                                rows: Int, channels c: Int) throws(CUDAError) {
    if let dbias { try columnSums(dbias, dout, rows: rows, cols: c, accumulate: true) }
    if let dweight {
      try sumInChunks(into: dweight, rows: rows, cols: c, accumulate: true, "layernorm_weight_partials",
                      [.buffer(dout), .buffer(x), .buffer(stats)])
    }
    if let dx {
      try kernels.launch("layernorm_backward_input", grid: ((rows + 3) / 4, 1), block: 128,
                         [.buffer(dx.buffer), .buffer(dout), .buffer(x), .buffer(weight), .buffer(stats), .int(rows), .int(c),
                          .int(dx.add ? 1 : 0)])
    }
  }

  // MARK: Attention

  /// What causal self-attention keeps for its backward pass: q, k, v [B, NH, T, hs] and the
  /// probabilities [B, NH, T, T].
  public struct AttentionState {
    public let q, k, v, att: DeviceBuffer
    public let batch, t, heads, headSize: Int
  }

  /// y[B, T, C] = causal softmax(q·kᵀ/√hs)·v per head, from qkv [B, T, 3C] (the engine's
  /// `causalSelfAttention`).
  public func causalSelfAttention(_ y: any DeviceMemory, qkv: any DeviceMemory, batch b: Int, t: Int, heads nh: Int,
                                  channels c: Int) throws(CUDAError) -> AttentionState {
    let hs = c / nh, n = b * nh * t * hs, rows = b * nh * t
    let (q, k, v) = (try device.allocate(Float.self, count: n, zeroed: false), try device.allocate(Float.self, count: n, zeroed: false),
                     try device.allocate(Float.self, count: n, zeroed: false))
    try kernels.launch("attention_split_heads", threads: n,
                       [.buffer(q), .buffer(k), .buffer(v), .buffer(qkv), .int(b), .int(t), .int(nh), .int(hs)])
    let scores = try device.allocate(Float.self, count: rows * t, zeroed: false)
    // scores[bh] = q[bh] · k[bh]ᵀ   [T, hs]·[hs, T]
    try gemm(transA: false, transB: true, m: t, n: t, k: hs, a: q, lda: hs, b: k, ldb: hs, c: scores, ldc: t,
             accumulate: false, batch: (b * nh, (t * hs, t * hs, t * t)))
    let att = try device.allocate(Float.self, count: rows * t, zeroed: false)
    try kernels.launch("causal_softmax_forward", grid: ((rows + 3) / 4, 1), block: 128,
                       [.buffer(att), .buffer(scores), .int(rows), .int(t), .int(0), .float(1 / Float(hs).squareRoot())])
    // yh[bh] = att[bh] · v[bh]   [T, T]·[T, hs]
    let yh = try device.allocate(Float.self, count: n, zeroed: false)
    try gemm(transA: false, transB: false, m: t, n: hs, k: t, a: att, lda: t, b: v, ldb: hs, c: yh, ldc: hs,
             accumulate: false, batch: (b * nh, (t * t, t * hs, t * hs)))
    try kernels.launch("attention_move_heads", threads: n, [.buffer(y), .buffer(yh), .int(b), .int(t), .int(nh), .int(hs), .int(0)])
    return AttentionState(q: q, k: k, v: v, att: att, batch: b, t: t, heads: nh, headSize: hs)
  }

  /// dqkv[B, T, 3C] (+)= the gradient of `causalSelfAttention` for dy [B, T, C].
  public func causalSelfAttentionBackward(_ dqkv: any DeviceMemory, add: Bool, dy: any DeviceMemory, state s: AttentionState) throws(CUDAError) {
    let (b, t, nh, hs) = (s.batch, s.t, s.heads, s.headSize)
    let n = b * nh * t * hs, rows = b * nh * t, bh = b * nh
    let dyh = try device.allocate(Float.self, count: n, zeroed: false)
    try kernels.launch("attention_move_heads", threads: n, [.buffer(dyh), .buffer(dy), .int(b), .int(t), .int(nh), .int(hs), .int(1)])
    // datt = dyh · vᵀ   [T, hs]·[hs, T];  dv = attᵀ · dyh   [T, T]ᵀ·[T, hs]
    let datt = try device.allocate(Float.self, count: rows * t, zeroed: false)
    try gemm(transA: false, transB: true, m: t, n: t, k: hs, a: dyh, lda: hs, b: s.v, ldb: hs, c: datt, ldc: t,
             accumulate: false, batch: (bh, (t * hs, t * hs, t * t)))
    let (dq, dk, dv) = (try device.allocate(Float.self, count: n, zeroed: false), try device.allocate(Float.self, count: n, zeroed: false),
                        try device.allocate(Float.self, count: n, zeroed: false))
    try gemm(transA: true, transB: false, m: t, n: hs, k: t, a: s.att, lda: t, b: dyh, ldb: hs, c: dv, ldc: hs,
             accumulate: false, batch: (bh, (t * t, t * hs, t * hs)))
    // dscores = softmax backward (scaled); dq = dscores · k; dk = dscoresᵀ · q
    let dscores = try device.allocate(Float.self, count: rows * t, zeroed: false)
    try kernels.launch("causal_softmax_backward", grid: ((rows + 3) / 4, 1), block: 128,
                       [.buffer(dscores), .buffer(s.att), .buffer(datt), .int(rows), .int(t), .float(1 / Float(hs).squareRoot())])
    try gemm(transA: false, transB: false, m: t, n: hs, k: t, a: dscores, lda: t, b: s.k, ldb: hs, c: dq, ldc: hs,
             accumulate: false, batch: (bh, (t * t, t * hs, t * hs)))
    try gemm(transA: true, transB: false, m: t, n: hs, k: t, a: dscores, lda: t, b: s.q, ldb: hs, c: dk, ldc: hs,
             accumulate: false, batch: (bh, (t * t, t * hs, t * hs)))
    try kernels.launch("attention_merge_head_grads", threads: n,
                       [.buffer(dqkv), .buffer(dq), .buffer(dk), .buffer(dv), .int(b), .int(t), .int(nh), .int(hs), .int(add ? 1 : 0)])
  }

  /// Decoding: y[T, C] = causal attention of T new tokens (qkv [T, 3C]) over a key/value cache
  /// ([capacity, C] each) that holds `past` tokens; the new keys and values are stored first.
  public func cachedAttention(_ y: any DeviceMemory, qkv: any DeviceMemory, keys: any DeviceMemory, values: any DeviceMemory,
                              past: Int, t: Int, heads nh: Int, channels c: Int) throws(CUDAError) {
    let hs = c / nh, length = past + t
    try kernels.launch("kv_cache_store", threads: t * c, [.buffer(keys), .buffer(values), .buffer(qkv), .int(t), .int(c), .int(past)])
    // scores[h] = q_h · K_hᵀ   [T, hs]·[hs, L], each head's columns read in place (strides 3C and C)
    let scores = try device.allocate(Float.self, count: nh * t * length, zeroed: false)
    try gemm(transA: false, transB: true, m: t, n: length, k: hs, a: qkv, lda: 3 * c, b: keys, ldb: c, c: scores,
             ldc: length, accumulate: false, batch: (nh, (hs, hs, t * length)))
    let att = try device.allocate(Float.self, count: nh * t * length, zeroed: false)
    try kernels.launch("causal_softmax_forward", grid: ((nh * t + 3) / 4, 1), block: 128,
                       [.buffer(att), .buffer(scores), .int(nh * t), .int(t), .int(past), .float(1 / Float(hs).squareRoot())])
    // y_h = att_h · V_h   [T, L]·[L, hs], written into y's columns of head h
    try gemm(transA: false, transB: false, m: t, n: hs, k: length, a: att, lda: length, b: values, ldb: c, c: y, ldc: c,
             accumulate: false, batch: (nh, (t * length, hs, hs)))
  }

  // MARK: Cross-entropy

  /// What cross-entropy keeps for its backward pass: each row's log-sum-exp, and the targets.
  public struct CrossEntropyState {
    public let lse, targets: DeviceBuffer
    public let rows, vocabulary, counted: Int
    public let ignoreIndex: Int32
  }

  /// loss[1] = mean over counted rows of -log softmax(logits[rows, V])[target] (the engine's
  /// `crossEntropy`; rows whose target is `ignoreIndex` count for nothing).
  public func crossEntropy(_ loss: any DeviceMemory, logits: any DeviceMemory, targets: [Int32], vocabulary v: Int,
                           ignoreIndex: Int32 = -100) throws(CUDAError) -> CrossEntropyState {
    let rows = targets.count
    let (t, lse, losses) = (try device.upload(targets), try device.allocate(Float.self, count: rows, zeroed: false),
                            try device.allocate(Float.self, count: rows, zeroed: false))
    try kernels.launch("cross_entropy_forward", grid: (rows, 1), block: 256,
                       [.buffer(losses), .buffer(lse), .buffer(logits), .buffer(t), .int(v), .int(Int(ignoreIndex))])
    try kernels.launch("cross_entropy_mean", grid: (1, 1), block: 256,
                       [.buffer(loss), .buffer(losses), .buffer(t), .int(rows), .int(Int(ignoreIndex))])
    return CrossEntropyState(lse: lse, targets: t, rows: rows, vocabulary: v,
                             counted: targets.count { $0 != ignoreIndex }, ignoreIndex: ignoreIndex)
  }

  /// dlogits[rows, V] (+)= dloss[0] · (softmax - onehot) / counted rows.
  public func crossEntropyBackward(_ dlogits: any DeviceMemory, add: Bool, logits: any DeviceMemory, dloss: any DeviceMemory,
                                   state s: CrossEntropyState) throws(CUDAError) {
    try kernels.launch("cross_entropy_backward", grid: (s.rows, 1), block: 256,
                       [.buffer(dlogits), .buffer(logits), .buffer(s.lse), .buffer(s.targets), .buffer(dloss),
                        .float(Float(max(s.counted, 1))), .int(s.vocabulary), .int(Int(s.ignoreIndex)), .int(add ? 1 : 0)])
  }
}
