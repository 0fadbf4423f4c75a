/// GPT-2's reversible byte ↔ character map (`bytes_to_unicode`): printable Latin-1 bytes stand
/// for themselves, the other 68 bytes for U+0100 onwards, so every byte string is a printable
/// string.
enum ByteLevel {
  /// The character of each byte.
  static let characters: [Unicode.Scalar] = {
    var table = [Unicode.Scalar](repeating: " ", count: 256)
    var n: UInt32 = 0
    for b in 0..<256 {
      let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
      if printable {
        table[b] = Unicode.Scalar(UInt32(b))!
      } else {
        table[b] = Unicode.Scalar(256 + n)!
        n += 1
      }
    }
    return table
  }()

  /// Byte of each character below U+0144, or -1.
  static let bytes: [Int16] = {
    var table = [Int16](repeating: -1, count: 0x144)
    for (b, c) in characters.enumerated() { table[Int(c.value)] = Int16(b) }
    return table
  }()

  /// The 256 characters, sorted (HF `ByteLevel.alphabet()`).
  static var alphabet: [Unicode.Scalar] { characters.sorted { $0.value < $1.value } }

  /// The UTF-8 bytes of `text` written as characters.
  /// The UTF-8 width of each byte's character.
  static let characterWidths: [Int] = characters.map { UTF8.width($0) }

  static func encode(_ text: String) -> String {
    var view = String.UnicodeScalarView()
    for b in text.utf8 { view.append(characters[Int(b)]) }
    return String(view)
  }

  /// The bytes `text` stands for; a character outside the map stands for its own UTF-8.
  static func decode(_ text: String, into out: inout [UInt8]) {
    for s in text.unicodeScalars {
      if s.value < 0x144, bytes[Int(s.value)] >= 0 {
        out.append(UInt8(bytes[Int(s.value)]))
      } else {
        out.append(contentsOf: String(s).utf8)
      }
    }
  }
}
