/// Decodes token ids to text one token at a time (for streaming generation): bytes of a UTF-8
/// character split across tokens are held back until the character is complete.
public struct StreamingDecoder {
  public let tokenizer: any Tokenizer
  private var pending: [UInt8] = []

  public init(tokenizer: any Tokenizer) { self.tokenizer = tokenizer }

  /// The text that token `id` completes (possibly empty).
  public mutating func append(_ id: Int) throws(TokenizerError) -> String {
    guard let bytes = tokenizer.tokenBytes(id) else { throw .invalidTokenID(id) }
    pending.append(contentsOf: bytes)
    // Hold back a trailing lead byte whose continuation bytes have not arrived yet.
    var cut = pending.count
    var i = pending.count - 1
    while i >= 0 && i >= pending.count - 4 && pending[i] & 0xC0 == 0x80 { i -= 1 }
    if i >= 0 {
      let lead = pending[i]
      let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
      if pending.count - i < length { cut = i }
    }
    let text = String(decoding: pending[..<cut], as: UTF8.self)
    pending.removeFirst(cut)
    return text
  }

  /// Whatever is held back, with incomplete characters as U+FFFD.
  public mutating func finish() -> String {
    defer { pending = [] }
    return String(decoding: pending, as: UTF8.self)
  }
}
