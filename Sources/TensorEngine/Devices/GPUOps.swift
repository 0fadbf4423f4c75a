import CUDA

// The engine's ops on a GPU: each public op checks its inputs, then hands tensors that live on a
// GPU to its function here, which runs the same computation through `CUDAOps` (forward now, the
// backward pass recorded for autograd). Failures are kept by `CUDAOps.run`, as CUDA keeps its own.

/// The GPU the inputs live on, or nil when they are all on the CPU; they must not be mixed.
func sharedGPU(_ op: String, _ tensors: Tensor?...) -> CUDAOps? {
  let present = tensors.compactMap { $0 }
  let gpu = present.first?.gpu
  for t in present.dropFirst() {
    precondition(t.gpu === gpu, "\(op): its inputs are on different devices (move them with `moved(to:)`)")
  }
  return gpu
}

/// out[ids.count, C] = table[ids]. `shape` as `embedding`.
func gpuEmbedding(_ table: Tensor, ids: [Int32], shape: [Int], _ gpu: CUDAOps) -> Tensor {
  let c = table.shape[1]
  var idBuffer: DeviceBuffer?
  gpu.run { () throws(CUDAError) in idBuffer = try gpu.device.upload(ids) }
  let out = Tensor.result(shape + [c], inputs: [table], on: table.device) { out in
    let (g, d) = (out.gradPointer, table.gradPointer)
    gpu.run { () throws(CUDAError) in try gpu.embeddingBackward(d, dout: g, ids: ids, channels: c) }
  }
  gpu.run { () throws(CUDAError) in
    try gpu.embedding(out.devicePointer, ids: idBuffer!, table: table.devicePointer, count: ids.count, channels: c)
  }
  return out
}

/// a + b, b broadcast over a's leading axes (as `add`).
func gpuAdd(_ a: Tensor, _ b: Tensor, _ gpu: CUDAOps) -> Tensor {
  let inner = b.count, n = a.count
  let out = Tensor.result(a.shape, inputs: [a, b], on: a.device) { out in
    if b.requiresGrad {
      if inner == n { gpuPassGradient(of: out, to: b, gpu) } else {
        let (g, (db, add)) = (out.gradPointer, b.gradPointerDestination())
        gpu.run { () throws(CUDAError) in try gpu.columnSums(db, g, rows: n / max(inner, 1), cols: inner, accumulate: add) }
      }
    }
    if a.requiresGrad { passGradient(of: out, to: a) }
  }
  gpu.run { () throws(CUDAError) in try gpu.add(out.devicePointer, a.devicePointer, b.devicePointer, count: n, inner: max(inner, 1)) }
  return out
}

/// x.grad (+)= out.grad on the GPU (`passGradient` when the buffer cannot be taken over).
func gpuPassGradient(of out: Tensor, to x: Tensor, _ gpu: CUDAOps) {
  let g = out.gradPointer
  let (d, add) = x.gradPointerDestination()
  gpu.run { () throws(CUDAError) in try gpu.accumulate(d, g, count: x.count, add: add) }
}

/// x · s.
func gpuScale(_ x: Tensor, _ s: Float, _ gpu: CUDAOps) -> Tensor {
  let out = Tensor.result(x.shape, inputs: [x], on: x.device) { out in
    let (g, d) = (out.gradPointer, x.gradPointer)
    gpu.run { () throws(CUDAError) in try gpu.scale(d, g, by: s, count: x.count, add: true) }
  }
  gpu.run { () throws(CUDAError) in try gpu.scale(out.devicePointer, x.devicePointer, by: s, count: x.count, add: false) }
  return out
}

/// a · b, element-wise (same shapes).
func gpuMul(_ a: Tensor, _ b: Tensor, _ gpu: CUDAOps) -> Tensor {
  let n = a.count
  let out = Tensor.result(a.shape, inputs: [a, b], on: a.device) { out in
    let g = out.gradPointer
    if a.requiresGrad {
      let d = a.gradPointer
      gpu.run { () throws(CUDAError) in try gpu.multiply(d, g, b.devicePointer, count: n, add: true) }
    }
    if b.requiresGrad {
      let d = b.gradPointer
      gpu.run { () throws(CUDAError) in try gpu.multiply(d, g, a.devicePointer, count: n, add: true) }
    }
  }
  gpu.run { () throws(CUDAError) in try gpu.multiply(out.devicePointer, a.devicePointer, b.devicePointer, count: n, add: false) }
  return out
}

/// Σ of all elements, as a one-element tensor.
func gpuSum(_ x: Tensor, _ gpu: CUDAOps) -> Tensor {
  let out = Tensor.result([1], inputs: [x], on: x.device) { out in
    let (g, d) = (out.gradPointer, x.gradPointer)
    gpu.run { () throws(CUDAError) in try gpu.spread(d, scalar: g, count: x.count, add: true) }
  }
  gpu.run { () throws(CUDAError) in try gpu.sum(out.devicePointer, x.devicePointer, count: x.count) }
  return out
}

/// a [..., M, K] · b [K, N] (or b [..., K, N] per batch; [N, K] with `transposeB`), as `matmul`.
func gpuMatmul(_ a: Tensor, _ b: Tensor, transposeB: Bool, batches: Int, m: Int, n: Int, k: Int, outShape: [Int],
               _ gpu: CUDAOps) -> Tensor {
  let sharedB = b.shape.count == 2
  let strideB = sharedB ? 0 : n * k
  let ldb = transposeB ? k : n
  let out = Tensor.result(outShape, inputs: [a, b], on: a.device) { out in
    let dc = out.gradPointer
    if a.requiresGrad {
      // dA[M, K] += dC[M, N] · op(B)ᵀ
      let (da, add) = a.gradPointerDestination()
      gpu.run { () throws(CUDAError) in
        try gpu.gemm(transA: false, transB: !transposeB, m: m, n: k, k: n, a: dc, lda: n, b: b.devicePointer, ldb: ldb,
                     c: da, ldc: k, accumulate: add, batch: (batches, (m * n, strideB, m * k)))
      }
    }
    if b.requiresGrad {
      let (db, add) = b.gradPointerDestination()
      gpu.run { () throws(CUDAError) in
        if transposeB {
          // dB[N, K] += dC[M, N]ᵀ · A[M, K]
          try gpu.gemm(transA: true, transB: false, m: n, n: k, k: m, a: dc, lda: n, b: a.devicePointer, ldb: k,
                       c: db, ldc: k, accumulate: add, batch: (batches, (m * n, m * k, n * k)))
        } else {
          // dB[K, N] += A[M, K]ᵀ · dC[M, N]
          try gpu.gemm(transA: true, transB: false, m: k, n: n, k: m, a: a.devicePointer, lda: k, b: dc, ldb: n,
                       c: db, ldc: n, accumulate: add, batch: (batches, (m * k, m * n, n * k)))
        }
      }
    }
  }
  gpu.run { () throws(CUDAError) in
    try gpu.gemm(transA: false, transB: transposeB, m: m, n: n, k: k, a: a.devicePointer, lda: k, b: b.devicePointer,
                 ldb: ldb, c: out.devicePointer, ldc: n, accumulate: false, batch: (batches, (m * k, strideB, m * n)))
  }
  return out
}

/// LayerNorm over the last axis (as `layerNorm`).
func gpuLayerNorm(_ x: Tensor, weight: Tensor, bias: Tensor?, eps: Float, _ gpu: CUDAOps) -> Tensor {
  let c = x.size(-1), rows = x.count / c
  let stats = Storage(count: 2 * rows, zeroed: false, on: x.device)
  let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
  let out = Tensor.result(x.shape, inputs: inputs, on: x.device) { out in
    let dout = out.gradPointer
    let dx = x.requiresGrad ? x.gradPointerDestination() : nil
    let dweight = weight.requiresGrad ? weight.gradPointer : nil
    let dbias = bias?.requiresGrad == true ? bias!.gradPointer : nil
    gpu.run { () throws(CUDAError) in
      try gpu.layerNormBackward(dx: dx.map { ($0.pointer, $0.accumulate) }, dweight: dweight, dbias: dbias, dout: dout,
                                x: x.devicePointer, weight: weight.devicePointer, stats: stats.gpu!.buffer, rows: rows, channels: c)
    }
  }
  gpu.run { () throws(CUDAError) in
    try gpu.layerNorm(out.devicePointer, stats: stats.gpu!.buffer, x: x.devicePointer, weight: weight.devicePointer,
                      bias: bias?.devicePointer, rows: rows, channels: c, eps: eps)
  }
  return out
}

/// GELU (GPT-2's tanh approximation).
func gpuGELU(_ x: Tensor, _ gpu: CUDAOps) -> Tensor {
  let out = Tensor.result(x.shape, inputs: [x], on: x.device) { out in
    let g = out.gradPointer
    let (dx, add) = x.gradPointerDestination()
    gpu.run { () throws(CUDAError) in try gpu.geluBackward(dx, x.devicePointer, g, count: x.count, add: add) }
  }
  gpu.run { () throws(CUDAError) in try gpu.gelu(out.devicePointer, x.devicePointer, count: x.count) }
  return out
}

/// Causal self-attention on packed projections [B, T, 3C] (as `causalSelfAttention`).
func gpuCausalSelfAttention(_ qkv: Tensor, heads: Int, _ gpu: CUDAOps) -> Tensor {
  let (b, t, c) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
  var state: CUDAOps.AttentionState?
  let out = Tensor.result([b, t, c], inputs: [qkv], on: qkv.device) { out in
    let dy = out.gradPointer
    let (dqkv, add) = qkv.gradPointerDestination()
    gpu.run { () throws(CUDAError) in try gpu.causalSelfAttentionBackward(dqkv, add: add, dy: dy, state: state!) }
  }
  gpu.run { () throws(CUDAError) in
    state = try gpu.causalSelfAttention(out.devicePointer, qkv: qkv.devicePointer, batch: b, t: t, heads: heads, channels: c)
  }
  return out
}

/// Mean cross-entropy against `targets` (as `crossEntropy`).
func gpuCrossEntropy(_ logits: Tensor, targets: [Int32], ignoreIndex: Int32, _ gpu: CUDAOps) -> Tensor {
  let v = logits.size(-1)
  var state: CUDAOps.CrossEntropyState?
  let out = Tensor.result([1], inputs: [logits], on: logits.device) { out in
    let dloss = out.gradPointer
    let (dlogits, add) = logits.gradPointerDestination()
    gpu.run { () throws(CUDAError) in
      try gpu.crossEntropyBackward(dlogits, add: add, logits: logits.devicePointer, dloss: dloss, state: state!)
    }
  }
  gpu.run { () throws(CUDAError) in
    state = try gpu.crossEntropy(out.devicePointer, logits: logits.devicePointer, targets: targets, vocabulary: v,
                                 ignoreIndex: ignoreIndex)
  }
  return out
}

/// Inverted dropout with the mask drawn on the host from `rng`, as the CPU draws it (the same
/// stream of random numbers on every device).
func gpuDropout(_ x: Tensor, mask: [Float], _ gpu: CUDAOps) -> Tensor {
  let maskTensor = Tensor(shape: [mask.count], scalars: mask, on: x.device)
  let out = Tensor.result(x.shape, inputs: [x], on: x.device) { out in
    let g = out.gradPointer
    let (dx, add) = x.gradPointerDestination()
    gpu.run { () throws(CUDAError) in try gpu.multiply(dx, g, maskTensor.devicePointer, count: x.count, add: add) }
  }
  gpu.run { () throws(CUDAError) in
    try gpu.multiply(out.devicePointer, x.devicePointer, maskTensor.devicePointer, count: x.count, add: false)
  }
  return out
}

/// Causal attention of t new tokens over a key/value cache on the GPU (as `cachedAttention`).
func gpuCachedAttention(_ qkv: Tensor, keys: Storage, values: Storage, past: Int, heads: Int, _ gpu: CUDAOps) -> Tensor {
  let (t, c) = (qkv.shape[0], qkv.shape[1] / 3)
  let out = Tensor(shape: [t, c], storage: Storage(count: t * c, zeroed: false, on: qkv.device))
  gpu.run { () throws(CUDAError) in
    try gpu.cachedAttention(out.devicePointer, qkv: qkv.devicePointer, keys: keys.gpu!.buffer, values: values.gpu!.buffer,
                            past: past, t: t, heads: heads, channels: c)
  }
  return out
}

/// One new token per row over each row's own cache, on the GPU (as `cachedAttention(rows:)`):
/// the rows' attentions run one after another.
func gpuCachedAttention(rows qkv: Tensor, caches: [(keys: Storage, values: Storage, past: Int)], heads: Int,
                        _ gpu: CUDAOps) -> Tensor {
  let c = qkv.shape[1] / 3
  let out = Tensor(shape: [caches.count, c], storage: Storage(count: caches.count * c, zeroed: false, on: qkv.device))
  for (r, cache) in caches.enumerated() {
    gpu.run { () throws(CUDAError) in
      try gpu.cachedAttention(out.devicePointer.advanced(by: r * c), qkv: qkv.devicePointer.advanced(by: r * 3 * c),
                              keys: cache.keys.gpu!.buffer, values: cache.values.gpu!.buffer, past: cache.past, t: 1,
                              heads: heads, channels: c)
    }
  }
  return out
}
