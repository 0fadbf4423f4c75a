import TensorEngine

extension LanguageModel {
  /// Continues `prompt` by up to `maxNewTokens` sampled tokens, with a KV-cached decoder.
  ///
  /// `precision` picks the weights single-token steps read (`.bfloat16`: faster, logits ~1 % off).
  /// Stops early after a token in `stopTokens` (it is returned) or when `onToken` returns false.
  /// When the context is full, the cache is rebuilt from the last half of the context
  /// (the model never sees more than `contextLength` tokens, as in nanoGPT's cropping).
  public func generate(prompt: [Int32], maxNewTokens: Int, sampling: SamplingOptions,
                       stopTokens: Set<Int32> = [], precision: WeightPrecision = .float32, rng: inout RandomGenerator,
                       onToken: (Int32) -> Bool = { _ in true }) -> [Int32] {
    precondition(!prompt.isEmpty, "generate needs at least one prompt token")
    var decoder = makeDecoder(precision: precision)
    let window = contextLength ?? Int.max
    var context = Array(prompt.suffix(window))
    var logits = decoder.append(context)
    var generated: [Int32] = []
    while generated.count < maxNewTokens {
      let token = Int32(sampling.sample(logits, rng: &rng))
      generated.append(token)
      if !onToken(token) || stopTokens.contains(token) || generated.count == maxNewTokens { break }
      context.append(token)
      if decoder.count < window {
        logits = decoder.append([token])
      } else {
        context = Array(context.suffix(max(1, window / 2)))
        decoder.reset()
        logits = decoder.append(context)
      }
    }
    return generated
  }
}
