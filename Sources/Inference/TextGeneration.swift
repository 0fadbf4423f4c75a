import Models
import TensorEngine
import Tokenizers

extension LanguageModel {
  /// Generates after `prompt` (through the KV cache) and turns the tokens into text as they
  /// come: `onText` gets each piece of whole characters (a character split over tokens waits
  /// for its last byte). The stop tokens, and ids the tokenizer lacks (instruction markers),
  /// add no text. `sample`, `chat` and the demo print through it.
  ///
  /// Returns the text and the number of tokens drawn.
  public func generateText(
    prompt: [Int32], tokenizer: any Tokenizer, maxNewTokens: Int, sampling: SamplingOptions, stopTokens: Set<Int32> = [],
    precision: WeightPrecision = .float32, rng: inout RandomGenerator, onText: (String) -> Void = { _ in }
  ) throws -> (text: String, tokens: Int) {
    var decoder = StreamingDecoder(tokenizer: tokenizer)
    var text = ""
    var failure: (any Error)?
    let tokens = generate(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling, stopTokens: stopTokens,
                          precision: precision, rng: &rng) { token in
      guard !stopTokens.contains(token), Int(token) < tokenizer.vocabSize else { return true }
      do {
        let piece = try decoder.append(Int(token))
        text += piece
        onText(piece)
      } catch {
        failure = error
        return false
      }
      return true
    }
    if let failure { throw failure }
    let rest = decoder.finish()
    onText(rest)
    return (text + rest, tokens.count)
  }
}
