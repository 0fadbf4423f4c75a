import Tokenizers

extension Tokenizer {
  /// Free text from a user (fine-tuning data, chat messages, API prompts) as model input:
  /// `encodeOrdinary`, except that a character vocabulary leaves out the characters it has never
  /// seen instead of failing (`dropped` counts them).
  public func encodeUserText(_ text: String) throws -> (ids: [Int], dropped: Int) {
    if let char = self as? CharTokenizer { return char.encodeKnown(text) }
    return (try encodeOrdinary(text), 0)
  }
}
