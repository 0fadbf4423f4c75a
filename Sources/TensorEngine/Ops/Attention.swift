/// Causal multi-head self-attention on packed projections, fused (GPT-2's `_attn`):
/// qkv [B, T, 3C] holding q | k | v, each split into `heads` heads of size C/heads →
/// y [B, T, C] = softmax(q·kᵀ/√hs with the future masked) · v, heads concatenated.
///
/// The attention probabilities [B, heads, T, T] are kept for the backward pass. Queries are
/// processed in blocks of `attentionBlock` rows, each against only the keys it can see, so the
/// masked upper triangle is mostly skipped.
public func causalSelfAttention(_ qkv: Tensor, heads: Int) -> Tensor {
  precondition(qkv.shape.count == 3 && qkv.shape[2] % (3 * heads) == 0,
               "attention: qkv must be [B, T, 3C] with C divisible by \(heads) heads, got \(qkv.shape)")
  let (b, t, c3) = (qkv.shape[0], qkv.shape[1], qkv.shape[2])
  let c = c3 / 3, hs = c / heads
  let scale = 1 / Float(hs).squareRoot()
  let att = Storage(count: b * heads * t * t, zeroed: false)
  let out = Tensor.result([b, t, c], inputs: [qkv]) { out in
    let (qs, dqs, dys, atts) = (UncheckedSendable(qkv.data), UncheckedSendable(qkv.gradData),
                                UncheckedSendable(out.gradData), UncheckedSendable(att.base))
    Parallel.forEach(b * heads) { task in
      let (bi, h) = (task / heads, task % heads)
      let base = qs.value + bi * t * c3 + h * hs
      let dbase = dqs.value + bi * t * c3 + h * hs
      let dy = dys.value + bi * t * c + h * hs
      let a = atts.value + task * t * t
      let scratch = Storage(count: 2 * t * t, zeroed: false)
      defer { withExtendedLifetime(scratch) {} }
      let (datt, dpre) = (scratch.base, scratch.base + t * t)
      // Row blocks [i0, i1) only involve keys 0..<i1: the masked upper triangle is skipped.
      dpre.update(repeating: 0, count: t * t)
      for i0 in stride(from: 0, to: t, by: attentionBlock) {
        let i1 = min(t, i0 + attentionBlock), rows = i1 - i0
        // datt[rows, i1] = dy[rows, hs] · v[i1, hs]ᵀ
        sgemm(transA: false, transB: true, m: rows, n: i1, k: hs, a: dy + i0 * c, lda: c, b: base + 2 * c, ldb: c3,
              c: datt + i0 * t, ldc: t, accumulate: false, threads: 1)
        // dv[i1, hs] += att[rows, i1]ᵀ · dy[rows, hs]
        sgemm(transA: true, transB: false, m: i1, n: hs, k: rows, a: a + i0 * t, lda: t, b: dy + i0 * c, ldb: c,
              c: dbase + 2 * c, ldc: c3, accumulate: true, threads: 1)
        // dpre = softmax backward (causal rows), times the 1/√hs scale
        for i in i0..<i1 {
          softmaxBackwardRow(y: a + i * t, dy: datt + i * t, dx: dpre + i * t, n: i + 1, scale: scale)
        }
        // dq[rows, hs] += dpre[rows, i1] · k[i1, hs] ; dk[i1, hs] += dpre[rows, i1]ᵀ · q[rows, hs]
        sgemm(transA: false, transB: false, m: rows, n: hs, k: i1, a: dpre + i0 * t, lda: t, b: base + c, ldb: c3,
              c: dbase + i0 * c3, ldc: c3, accumulate: true, threads: 1)
        sgemm(transA: true, transB: false, m: i1, n: hs, k: rows, a: dpre + i0 * t, lda: t, b: base + i0 * c3, ldb: c3,
              c: dbase + c, ldc: c3, accumulate: true, threads: 1)
      }
    }
  }
  let (qs, ys, atts) = (UncheckedSendable(qkv.data), UncheckedSendable(out.data), UncheckedSendable(att.base))
  Parallel.forEach(b * heads) { task in
    let (bi, h) = (task / heads, task % heads)
    let base = qs.value + bi * t * c3 + h * hs
    let a = atts.value + task * t * t
    for i0 in stride(from: 0, to: t, by: attentionBlock) {
      let i1 = min(t, i0 + attentionBlock), rows = i1 - i0
      // pre[rows, i1] = q[rows, hs] · k[i1, hs]ᵀ, then a masked, scaled softmax per row
      sgemm(transA: false, transB: true, m: rows, n: i1, k: hs, a: base + i0 * c3, lda: c3, b: base + c, ldb: c3,
            c: a + i0 * t, ldc: t, accumulate: false, threads: 1)
      for i in i0..<i1 {
        let row = a + i * t
        vmap(i + 1, row, row) { $0 * scale }
        softmaxRow(row, row, i + 1)
        (row + i + 1).update(repeating: 0, count: t - i - 1)
      }
      // y[rows, hs] = att[rows, i1] · v[i1, hs]
      sgemm(transA: false, transB: false, m: rows, n: hs, k: i1, a: a + i0 * t, lda: t, b: base + 2 * c, ldb: c3,
            c: ys.value + (bi * t + i0) * c + h * hs, ldc: c, accumulate: false, threads: 1)
    }
  }
  return out
}

/// Query rows per block in `causalSelfAttention`.
let attentionBlock = 32
