#if canImport(Glibc)
import Glibc
#endif
import TensorEngine

/// How the next token is chosen from the logits (as `transformers`' sampling warpers):
/// temperature, then top-k, then top-p (nucleus), then a multinomial draw. Temperature 0 is greedy.
public struct SamplingOptions: Sendable, Equatable {
  public var temperature: Float
  /// Keep only the k most likely tokens; nil keeps all.
  public var topK: Int?
  /// Keep the smallest set of most likely tokens whose probability reaches p; nil keeps all.
  public var topP: Float?

  public init(temperature: Float = 1, topK: Int? = nil, topP: Float? = nil) {
    (self.temperature, self.topK, self.topP) = (temperature, topK, topP)
  }

  /// A one-line reason the options are invalid, or nil.
  public var problem: String? {
    if !(temperature >= 0) || !temperature.isFinite { return "temperature must be finite and ≥ 0, got \(temperature)" }
    if let topK, topK < 1 { return "top-k must be ≥ 1, got \(topK)" }
    if let topP, !(topP > 0 && topP <= 1) { return "top-p must be in (0, 1], got \(topP)" }
    return nil
  }

  /// Picks a token from `logits`.
  public func sample(_ logits: [Float], rng: inout RandomGenerator) -> Int {
    precondition(!logits.isEmpty)
    if temperature == 0 { return logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }! }
    // Candidates sorted by logit, most likely first (ties: lower id first).
    var order = Array(logits.indices)
    order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
    if let topK, topK < order.count { order.removeLast(order.count - topK) }
    let top = Double(logits[order[0]] / temperature)
    var weights = order.map { exp(Double(logits[$0] / temperature) - top) }
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
    var r = Double(rng.next() >> 11) * 0x1p-53 * total
    for (i, w) in weights.enumerated() {
      r -= w
      if r < 0 { return order[i] }
    }
    return order[weights.count - 1]
  }
}
