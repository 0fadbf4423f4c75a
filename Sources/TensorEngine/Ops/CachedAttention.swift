#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// Causal attention of `t` new tokens over a key/value cache, for decoding: qkv [t, 3C] → y [t, C].
/// The new keys and values are stored first, at positions `past..<past+t` of `keys` and `values`
/// (capacity · C values each, in this op's own layout); token i then attends to positions
/// `0...past+i`. No gradients. On a GPU, `keys` and `values` must live there too.
///
/// On the CPU a cache is head-major, [heads, capacity, C / heads] (PyTorch's [B, nh, T, hs]):
/// a head's keys and values are read as contiguous runs. Position-major rows ([capacity, C]) put
/// each head's 64 values 1.5 KB apart in the baby GPT, and its 8-slot step waited on them (the
/// caches come from memory: the weights' stream evicts them): 200 tokens on one thread, 3.9–4.1
/// ms a step against 3.4–3.5 head-major.
public func cachedAttention(_ qkv: Tensor, keys: Storage, values: Storage, past: Int, heads: Int) -> Tensor {
  if let gpu = qkv.gpu { return gpuCachedAttention(qkv, keys: keys, values: values, past: past, heads: heads, gpu) }
  let (t, c) = (qkv.shape[0], qkv.shape[1] / 3)
  for i in 0..<t { store(qkv.data + i * 3 * c, c: c, heads: heads, keys: keys, values: values, at: past + i) }
  let out = Tensor(shape: [t, c], storage: Storage(count: t * c, zeroed: false))
  let (qs, ks, vs, ys) = (UncheckedSendable(qkv.data), UncheckedSendable(keys.base), UncheckedSendable(values.base),
                          UncheckedSendable(out.data))
  let threads = t * (past + t) * c < 1 << 16 ? 1 : Parallel.threads
  let capacity = keys.count / c
  Parallel.forEach(t * heads, threads: threads) { task in
    let (i, h) = (task / heads, task % heads)
    attend(qs.value + i * 3 * c, keys: ks.value, values: vs.value, capacity: capacity, visible: past + i + 1, head: h,
           heads: heads, c: c, into: ys.value + i * c)
  }
  return out
}

/// One new token for each of several sequences, each with its own cache (a server's slots):
/// row r of qkv [b, 3C] is stored at position `caches[r].past` of its cache and attends to
/// positions `0...past` of it → y [b, C]. Every row and head is one task of one parallel loop, with the
/// arithmetic `cachedAttention` gives that row alone. No gradients.
public func cachedAttention(rows qkv: Tensor, caches: [(keys: Storage, values: Storage, past: Int)], heads: Int) -> Tensor {
  let (b, c) = (qkv.shape[0], qkv.shape[1] / 3)
  precondition(caches.count == b, "one cache per row")
  if let gpu = qkv.gpu { return gpuCachedAttention(rows: qkv, caches: caches, heads: heads, gpu) }
  for (r, cache) in caches.enumerated() {
    store(qkv.data + r * 3 * c, c: c, heads: heads, keys: cache.keys, values: cache.values, at: cache.past)
  }
  let out = Tensor(shape: [b, c], storage: Storage(count: b * c, zeroed: false))
  let (qs, ys) = (UncheckedSendable(qkv.data), UncheckedSendable(out.data))
  let pointers = UncheckedSendable(caches.map {
    (keys: $0.keys.base, values: $0.values.base, capacity: $0.keys.count / c, visible: $0.past + 1)
  })
  let threads = caches.reduce(0) { $0 + $1.past + 1 } * c < 1 << 16 ? 1 : Parallel.threads
  withExtendedLifetime(caches) {
    Parallel.forEach(b * heads, threads: threads) { task in
      let (r, h) = (task / heads, task % heads)
      let cache = pointers.value[r]
      attend(qs.value + r * 3 * c, keys: cache.keys, values: cache.values, capacity: cache.capacity, visible: cache.visible,
             head: h, heads: heads, c: c, into: ys.value + r * c)
    }
  }
  return out
}

/// Copies the key and value of one token's qkv row [3C] into position `position` of the
/// head-major caches.
@inline(__always)
private func store(_ qkv: UnsafePointer<Float>, c: Int, heads: Int, keys: Storage, values: Storage, at position: Int) {
  let (hs, capacity) = (c / heads, keys.count / c)
  for h in 0..<heads {
    let row = (h * capacity + position) * hs
    (keys.base + row).update(from: qkv + c + h * hs, count: hs)
    (values.base + row).update(from: qkv + 2 * c + h * hs, count: hs)
  }
}

/// Head `head` of one token: its query (in the qkv row `q`) against the first `visible` cached
/// keys, softmax, and the weighted sum of the values, written to the head's slice of y [C].
@inline(__always)
private func attend(_ q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, capacity: Int,
                    visible n: Int, head h: Int, heads: Int, c: Int, into out: UnsafeMutablePointer<Float>) {
  let hs = c / heads
  let scale = 1 / Float(hs).squareRoot()
  let q = q + h * hs
  let scores = Storage(count: n, zeroed: false)
  defer { withExtendedLifetime(scores) {} }
  let (keys, values) = (keys + h * capacity * hs, values + h * capacity * hs)
  if hs == 64 {
    // The common head size, with the query and the output in registers: the same products and
    // sums, in the same order, as the general loops below. The keys 16 positions ahead, and the
    // values the second loop reads, are asked into L2 as the scores are computed.
    for j in 0..<n {
      if j + 16 < n { prefetchRow(keys + (j + 16) * hs, 64) }
      prefetchRow(values + j * hs, 64)
      scores.base[j] = dot64(q, keys + j * hs) * scale
    }
    softmaxRow(scores.base, scores.base, n)
    let y = out + h * hs
    var (y0, y1, y2, y3) = (Float16x(), Float16x(), Float16x(), Float16x())
    for j in 0..<n {
      let w = Float16x(repeating: scores.base[j]), row = values + j * hs
      y0 += w * load16(row)
      y1 += w * load16(row + 16)
      y2 += w * load16(row + 32)
      y3 += w * load16(row + 48)
    }
    store16(y0, y)
    store16(y1, y + 16)
    store16(y2, y + 32)
    store16(y3, y + 48)
    return
  }
  for j in 0..<n { scores.base[j] = vdot(q, keys + j * hs, hs) * scale }
  softmaxRow(scores.base, scores.base, n)
  let y = out + h * hs
  y.update(repeating: 0, count: hs)
  for j in 0..<n {
    let w = scores.base[j], row = values + j * hs
    for d in 0..<hs { y[d] += w * row[d] }
  }
}

/// `vdot(q, k, 64)`, bit for bit (the same fused products, the same pairwise sums), with its
/// eight-lane halves written out: the compiler splits `vdot`'s 16-lane vectors poorly here.
@inline(__always)
private func dot64(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>) -> Float {
  #if arch(x86_64)
  @inline(__always) func load(_ p: UnsafePointer<Float>) -> __m256 { UnsafeRawPointer(p).loadUnaligned(as: __m256.self) }
  let zero = _mm256_setzero_ps()
  // vdot's two 16-lane accumulators: (a, b) over q[0..<16] and q[32..<48], (c, d) over the rest.
  let a = _mm256_fmadd_ps(load(q + 32), load(k + 32), _mm256_fmadd_ps(load(q), load(k), zero))
  let b = _mm256_fmadd_ps(load(q + 40), load(k + 40), _mm256_fmadd_ps(load(q + 8), load(k + 8), zero))
  let c = _mm256_fmadd_ps(load(q + 48), load(k + 48), _mm256_fmadd_ps(load(q + 16), load(k + 16), zero))
  let d = _mm256_fmadd_ps(load(q + 56), load(k + 56), _mm256_fmadd_ps(load(q + 24), load(k + 24), zero))
  // laneSum of (a + c, b + d): by halves, then quarters, then the last two lanes.
  let eight = unsafeBitCast(_mm256_add_ps(_mm256_add_ps(a, c), _mm256_add_ps(b, d)), to: SIMD8<Float>.self)
  let four = eight.lowHalf + eight.highHalf, two = four.lowHalf + four.highHalf
  return two[0] + two[1]
  #else
  vdot(q, k, 64)
  #endif
}
