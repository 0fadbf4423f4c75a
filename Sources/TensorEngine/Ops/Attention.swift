/// Causal multi-head self-attention on packed projections, fused (GPT-2's `_attn`):
/// qkv [B, T, 3C] holding q | k | v, each split into `heads` heads of size C/heads →
/// y [B, T, C] = softmax(q·kᵀ/√hs with the future masked) · v, heads concatenated.
///
/// The attention probabilities [B, heads, T, T] are kept for the backward pass.
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
      // datt[T, T] = dy[T, hs] · v[T, hs]ᵀ
      sgemm(transA: false, transB: true, m: t, n: t, k: hs, a: dy, lda: c, b: base + 2 * c, ldb: c3,
            c: datt, ldc: t, accumulate: false, threads: 1)
      // dv[T, hs] += att[T, T]ᵀ · dy[T, hs]
      sgemm(transA: true, transB: false, m: t, n: hs, k: t, a: a, lda: t, b: dy, ldb: c,
            c: dbase + 2 * c, ldc: c3, accumulate: true, threads: 1)
      // dpre = softmax backward (causal rows), times the 1/√hs scale
      dpre.update(repeating: 0, count: t * t)
      for i in 0..<t {
        softmaxBackwardRow(y: a + i * t, dy: datt + i * t, dx: dpre + i * t, n: i + 1, scale: scale)
      }
      // dq[T, hs] += dpre · k ; dk[T, hs] += dpreᵀ · q
      sgemm(transA: false, transB: false, m: t, n: hs, k: t, a: dpre, lda: t, b: base + c, ldb: c3,
            c: dbase, ldc: c3, accumulate: true, threads: 1)
      sgemm(transA: true, transB: false, m: t, n: hs, k: t, a: dpre, lda: t, b: base, ldb: c3,
            c: dbase + c, ldc: c3, accumulate: true, threads: 1)
    }
  }
  let (qs, ys, atts) = (UncheckedSendable(qkv.data), UncheckedSendable(out.data), UncheckedSendable(att.base))
  Parallel.forEach(b * heads) { task in
    let (bi, h) = (task / heads, task % heads)
    let base = qs.value + bi * t * c3 + h * hs
    let a = atts.value + task * t * t
    // pre[T, T] = q[T, hs] · k[T, hs]ᵀ, then a masked, scaled softmax per row
    sgemm(transA: false, transB: true, m: t, n: t, k: hs, a: base, lda: c3, b: base + c, ldb: c3,
          c: a, ldc: t, accumulate: false, threads: 1)
    for i in 0..<t {
      let row = a + i * t
      vmap(i + 1, row, row) { $0 * scale }
      softmaxRow(row, row, i + 1)
      (row + i + 1).update(repeating: 0, count: t - i - 1)
    }
    // y[T, hs] = att[T, T] · v[T, hs]
    sgemm(transA: false, transB: false, m: t, n: hs, k: t, a: a, lda: t, b: base + 2 * c, ldb: c3,
          c: ys.value + bi * t * c + h * hs, ldc: c, accumulate: false, threads: 1)
  }
  return out
}
