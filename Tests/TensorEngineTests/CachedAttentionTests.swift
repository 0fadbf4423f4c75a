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
  /// The caches are head-major, [heads, capacity, hs]: the reference's position-major [capacity, C]
  /// values are laid out that way, and the new key and value must land there.
  @Test(arguments: [(6, 384), (4, 128)])
  func eachRowMatchesThePlainLoopsBitForBit(_ heads: Int, _ c: Int) {
    let (rows, past) = (3, 37)
    let (capacity, hs) = (64, c / heads)
    /// Where position j's value d of head h is in a head-major cache.
    func headMajor(_ j: Int, _ h: Int, _ d: Int) -> Int { (h * capacity + j) * hs + d }
    var caches: [(keys: Storage, values: Storage, past: Int)] = []
    var cached: [([Float], [Float])] = []
    for r in 0..<rows {
      let (k, v) = (randomValues(capacity * c, seed: UInt64(10 + r)), randomValues(capacity * c, seed: UInt64(20 + r)))
      let (ks, vs) = (Storage(count: capacity * c), Storage(count: capacity * c))
      for j in 0..<capacity {
        for h in 0..<heads {
          for d in 0..<hs { ks.base[headMajor(j, h, d)] = k[j * c + h * hs + d]; vs.base[headMajor(j, h, d)] = v[j * c + h * hs + d] }
        }
      }
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
      let stored = (0..<c).map { i in (caches[r].keys.base[headMajor(past + r, i / hs, i % hs)],
                                       caches[r].values.base[headMajor(past + r, i / hs, i % hs)]) }
      #expect(stored.map(\.0) == Array(row[c..<(2 * c)]) && stored.map(\.1) == Array(row[(2 * c)...]), "row \(r)'s new key and value")
    }
  }
}
