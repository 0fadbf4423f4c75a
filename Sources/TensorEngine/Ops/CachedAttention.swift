/// Causal attention of `t` new tokens over a key/value cache, for decoding: qkv [t, 3C] → y [t, C].
/// The new keys and values are stored first, at rows `past..<past+t` of `keys` and `values`
/// ([capacity, C]); token i then attends to rows `0...past+i`. No gradients.
public func cachedAttention(_ qkv: Tensor, keys: Storage, values: Storage, past: Int, heads: Int) -> Tensor {
  let (t, c) = (qkv.shape[0], qkv.shape[1] / 3)
  let hs = c / heads
  let scale = 1 / Float(hs).squareRoot()
  let (k, v) = (keys.base, values.base)
  for i in 0..<t {
    (k + (past + i) * c).update(from: qkv.data + i * 3 * c + c, count: c)
    (v + (past + i) * c).update(from: qkv.data + i * 3 * c + 2 * c, count: c)
  }
  let out = Tensor.zeros([t, c])
  let (qs, ks, vs, ys) = (UncheckedSendable(qkv.data), UncheckedSendable(k), UncheckedSendable(v), UncheckedSendable(out.data))
  let threads = t * (past + t) * c < 1 << 16 ? 1 : Parallel.threads
  Parallel.forEach(t * heads, threads: threads) { task in
    let (i, h) = (task / heads, task % heads)
    let n = past + i + 1  // keys visible to token i
    let q = qs.value + i * 3 * c + h * hs
    let scores = Storage(count: n, zeroed: false)
    defer { withExtendedLifetime(scores) {} }
    for j in 0..<n { scores.base[j] = vdot(q, ks.value + j * c + h * hs, hs) * scale }
    softmaxRow(scores.base, scores.base, n)
    let y = ys.value + i * c + h * hs
    for j in 0..<n {
      let w = scores.base[j], row = vs.value + j * c + h * hs
      for d in 0..<hs { y[d] += w * row[d] }
    }
  }
  return out
}
