import Testing
@testable import TensorEngine

@Suite("Cached attention")
struct CachedAttentionTests {
  /// One token's attention written plainly: `vdot` scores, softmax, the weighted sum of values.
  static func reference(_ qkv: [Float], keys: [Float], values: [Float], visible n: Int, heads: Int, c: Int) -> [Float] {
    let hs = c / heads
    var out = [Float](repeating: 0, count: c)
    for h in 0..<heads {
      var scores = [Float](repeating: 0, count: n)
      for j in 0..<n { scores[j] = vdot(qkv.withUnsafeBufferPointer { $0.baseAddress! + h * hs }, keys.withUnsafeBufferPointer { $0.baseAddress! + j * c + h * hs }, hs) * (1 / Float(hs).squareRoot()) }
      _ = scores.withUnsafeMutableBufferPointer { softmaxRow($0.baseAddress!, $0.baseAddress!, n) }
      for j in 0..<n { for d in 0..<hs { out[h * hs + d] += scores[j] * values[j * c + h * hs + d] } }
    }
    return out
  }

  /// Head size 64 has its own register-held path; it gives the bits of the plain loops (so a
  /// decoded token does not depend on which path ran), as head size 32 (the general path) does.
  @Test(arguments: [(6, 384), (4, 128)])
  func eachRowMatchesThePlainLoopsBitForBit(_ heads: Int, _ c: Int) {
    let (rows, past) = (3, 37)
    var caches: [(keys: Storage, values: Storage, past: Int)] = []
    var cached: [([Float], [Float])] = []
    for r in 0..<rows {
      let (k, v) = (randomValues(64 * c, seed: UInt64(10 + r)), randomValues(64 * c, seed: UInt64(20 + r)))
      let (ks, vs) = (Storage(count: 64 * c), Storage(count: 64 * c))
      for i in 0..<(64 * c) { ks.base[i] = k[i]; vs.base[i] = v[i] }
      caches.append((ks, vs, past + r))
      cached.append((k, v))
    }
    let qkv = randomValues(rows * 3 * c, seed: 7, scale: 2)
    let y = cachedAttention(rows: Tensor(shape: [rows, 3 * c], scalars: qkv), caches: caches, heads: heads)
    for r in 0..<rows {
      let row = Array(qkv[(r * 3 * c)..<((r + 1) * 3 * c)])
      // The new key and value land at row `past` of the cache before attending.
      var (k, v) = cached[r]
      for i in 0..<c { k[(past + r) * c + i] = row[c + i]; v[(past + r) * c + i] = row[2 * c + i] }
      let expected = Self.reference(row, keys: k, values: v, visible: past + r + 1, heads: heads, c: c)
      #expect(Array(y.scalars[(r * c)..<((r + 1) * c)]) == expected, "row \(r), \(heads) heads of \(c / heads)")
    }
  }
}
