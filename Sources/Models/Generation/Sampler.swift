#if canImport(Glibc)
import Glibc
#endif
import TensorEngine

/// How the next token is chosen from the logits (as `transformers`' sampling warpers):
/// temperature, then top-k, then top-p (nucleus), then min-p, then a multinomial draw. Temperature
/// 0 is greedy. With top-k, top-p or min-p the candidates are walked most likely first; without,
/// in id order.
public struct SamplingOptions: Sendable, Equatable {
  public var temperature: Float
  /// Keep only the k most likely tokens; nil or 0 keeps all (as `transformers` and llama.cpp).
  public var topK: Int?
  /// Keep the smallest set of most likely tokens whose probability reaches p (0: the most likely
  /// one, as `transformers`, llama.cpp and OpenAI); nil keeps all.
  public var topP: Float?
  /// Keep only the tokens at least `minP` times as likely as the most likely one (as
  /// `transformers`' min-p, after the temperature); nil or 0 keeps all.
  public var minP: Float?

  public init(temperature: Float = 1, topK: Int? = nil, topP: Float? = nil, minP: Float? = nil) {
    (self.temperature, self.topK, self.topP, self.minP) = (temperature, topK, topP, minP)
  }

  /// A one-line reason the options are invalid, or nil.
  public var problem: String? {
    if !(temperature >= 0) || !temperature.isFinite { return "temperature must be finite and ≥ 0, got \(temperature)" }
    if let topK, topK < 0 { return "top-k must be ≥ 0 (0: off), got \(topK)" }
    if let topP, !(topP >= 0 && topP <= 1) { return "top-p must be in [0, 1], got \(topP)" }
    if let minP, !(minP >= 0 && minP <= 1) { return "min-p must be in [0, 1], got \(minP)" }
    return nil
  }

  /// Picks a token from `logits`.
  public func sample(_ logits: [Float], rng: inout RandomGenerator) -> Int {
    precondition(!logits.isEmpty)
    if temperature == 0 { return logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }! }
    let k = topK ?? 0
    if k == 0 && (topP ?? 1) >= 1 && (minP ?? 0) == 0 { return drawFromAll(logits, rng: &rng) }
    var order = tokensByLogit(logits)
    if k > 0 && k < order.count { order.removeLast(order.count - k) }
    let byId = weightsByID(logits)
    var weights = order.map { Double(byId[$0]) }
    var total = weights.reduce(0, +)
    if let topP, topP < 1 {
      var cumulative = 0.0, keep = 0
      while keep < weights.count {
        cumulative += weights[keep] / total
        keep += 1
        if cumulative >= Double(topP) { break }
      }
      weights.removeLast(weights.count - keep)
      total = weights.reduce(0, +)
    }
    if let minP, minP > 0 {
      // The weights fall from the most likely token's: the kept ones are a prefix.
      let threshold = Double(minP) * weights[0]
      weights.removeLast(weights.count - (weights.firstIndex { $0 < threshold } ?? weights.count))
      total = weights.reduce(0, +)
    }
    var r = Double(rng.next() >> 11) * 0x1p-53 * total
    for (i, w) in weights.enumerated() {
      r -= w
      if r < 0 { return order[i] }
    }
    return order[weights.count - 1]
  }

  /// Each token's unnormalised probability e^((logit − max) / T), by id, 16 at a time with the
  /// engine's `vexp` (a server samples every slot at every step: a scalar `exp` of each of 50,257
  /// logits cost more than the rest of the draw).
  func weightsByID(_ logits: [Float]) -> [Float] {
    var weights = [Float](repeating: 0, count: logits.count)
    logits.withUnsafeBufferPointer { logits in
      weights.withUnsafeMutableBufferPointer { weights in
        let (top, scale) = (vmax(logits.baseAddress!, logits.count), 1 / temperature)
        @inline(__always) func weight(_ v: Float16x) -> Float16x { vexp((v - top) * scale) }
        vmap(logits.count, logits.baseAddress!, weights.baseAddress!, weight)
      }
    }
    return weights
  }

  /// The multinomial draw over the whole vocabulary, in id order: no sort (that is for top-k
  /// and top-p; sorting 50,257 logits took longer than the draw).
  func drawFromAll(_ logits: [Float], rng: inout RandomGenerator) -> Int {
    let weights = weightsByID(logits)
    let total = weights.withUnsafeBufferPointer { vsum($0.baseAddress!, $0.count) }
    var r = Double(rng.next() >> 11) * 0x1p-53 * Double(total)
    for (i, w) in weights.enumerated() {
      r -= Double(w)
      if r < 0 { return i }
    }
    return weights.count - 1  // the sums' rounding left r ≥ 0 (every weight is > 0: vexp stops at e^-87)
  }
}

/// The token ids sorted by logit, most likely first (ties: lower id first): each logit's order
/// as an unsigned integer above its id in one key, radix-sorted on the logit half only — the
/// sort is stable and the keys start in id order, so ties stay in id order (a vocabulary of
/// 50,257 sorts in three passes, a fraction of a millisecond).
public func tokensByLogit(_ logits: [Float]) -> [Int] {
  var keys = logits.enumerated().map { id, logit -> UInt64 in
    let bits = (logit + 0).bitPattern  // + 0: -0 becomes +0, which compares equal to it
    let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000  // the float order as an unsigned one
    return UInt64(~ascending) << 32 | UInt64(id)
  }
  radixSort(&keys, bits: 64, from: 32)
  return keys.map { Int($0 & 0xFFFF_FFFF) }
}

/// Sorts `keys` by their bits `from..<bits` (none set above), stably: least significant digit
/// first, 11 bits a pass.
func radixSort(_ keys: inout [UInt64], bits: Int, from low: Int = 0) {
  let digitBits = 11
  var other = [UInt64](repeating: 0, count: keys.count)
  var counts = [Int](repeating: 0, count: 1 << digitBits)
  for shift in stride(from: low, to: bits, by: digitBits) {
    counts.withUnsafeMutableBufferPointer { counts in
      counts.update(repeating: 0)
      keys.withUnsafeBufferPointer { source in
        other.withUnsafeMutableBufferPointer { target in
          let mask = UInt64(1 << digitBits - 1)
          for key in source { counts[Int(key >> UInt64(shift) & mask)] += 1 }
          var start = 0
          for digit in 0..<counts.count { (counts[digit], start) = (start, start + counts[digit]) }
          for key in source {
            let digit = Int(key >> UInt64(shift) & mask)
            target[counts[digit]] = key
            counts[digit] += 1
          }
        }
      }
    }
    swap(&keys, &other)
  }
}
