/// The character classes the GPT-2 and cl100k split patterns are written in:
/// `\p{L}`, `\p{N}`, `\s` (the Unicode White_Space property) and `[\r\n]`.
///
/// Classes are bit flags in a `UInt8`; a scalar with none of letter / number / whitespace
/// is what the patterns call `[^\s\p{L}\p{N}]` ("other").
enum ScalarClass {
  static let letter: UInt8 = 1
  static let number: UInt8 = 2
  static let whitespace: UInt8 = 4
  /// `\r` or `\n` (also whitespace).
  static let newline: UInt8 = 8
  /// HF's punctuation: ASCII punctuation or a Unicode P* category.
  static let punctuation: UInt8 = 16
  /// Oniguruma's `\w`: alphabetic, a mark, a decimal digit or connector punctuation.
  static let word: UInt8 = 32

  /// Class of one scalar, from the standard library's Unicode tables.
  static func compute(_ value: UInt32) -> UInt8 {
    guard let scalar = Unicode.Scalar(value) else { return 0 }
    let properties = scalar.properties
    var c: UInt8 = properties.isWhitespace ? whitespace : 0
    switch properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
      c |= letter
    case .decimalNumber, .letterNumber, .otherNumber:
      c |= number
    default:
      break
    }
    if value == 0x0A || value == 0x0D { c |= newline }
    switch properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
      .finalPunctuation, .otherPunctuation:
      c |= punctuation
    default:
      if value < 0x80, (0x21...0x7E).contains(value), !scalar.properties.isAlphabetic,
         !(0x30...0x39).contains(value) {
        c |= punctuation  // ASCII symbols such as $ + < = > ^ ` | ~
      }
    }
    if properties.isAlphabetic { c |= word }
    switch properties.generalCategory {
    case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: c |= word
    default: break
    }
    return c
  }

  /// Class flags of any scalar (table lookup in the Basic Multilingual Plane).
  @inline(__always)
  static func of(_ s: Unicode.Scalar) -> UInt8 {
    s.value < 0x10000 ? ScalarClassTable.shared.bmp[Int(s.value)] : compute(s.value)
  }
}

/// A 64 KiB table with the class of every Basic Multilingual Plane scalar, built once.
/// Scalars above U+FFFF (emoji, CJK extension B, …) are classified on the fly.
final class ScalarClassTable: @unchecked Sendable {
  static let shared = ScalarClassTable()

  let bmp: UnsafeMutablePointer<UInt8>

  private init() {
    bmp = .allocate(capacity: 0x10000)
    for v in 0..<UInt32(0x10000) { bmp[Int(v)] = ScalarClass.compute(v) }
  }
}

/// Reads scalars out of valid UTF-8 (the storage of a Swift `String`) and classifies them.
struct UTF8Cursor {
  let base: UnsafePointer<UInt8>
  let bmp: UnsafePointer<UInt8>

  init(base: UnsafePointer<UInt8>, bmp: UnsafePointer<UInt8>) {
    self.base = base
    self.bmp = bmp
  }

  /// Length in bytes of the scalar that starts at `i`.
  @inline(__always)
  func length(at i: Int) -> Int {
    let b = base[i]
    if b < 0x80 { return 1 }
    if b < 0xE0 { return 2 }
    if b < 0xF0 { return 3 }
    return 4
  }

  /// The scalar value starting at `i` and its length in bytes.
  @inline(__always)
  func scalar(at i: Int) -> (value: UInt32, length: Int) {
    let b0 = UInt32(base[i])
    if b0 < 0x80 { return (b0, 1) }
    let b1 = UInt32(base[i + 1]) & 0x3F
    if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | b1, 2) }
    let b2 = UInt32(base[i + 2]) & 0x3F
    if b0 < 0xF0 { return ((b0 & 0x0F) << 12 | b1 << 6 | b2, 3) }
    let b3 = UInt32(base[i + 3]) & 0x3F
    return ((b0 & 0x07) << 18 | b1 << 12 | b2 << 6 | b3, 4)
  }

  /// Class flags of the scalar starting at `i`, and its length in bytes.
  @inline(__always)
  func classify(at i: Int) -> (cls: UInt8, length: Int) {
    let (v, n) = scalar(at: i)
    if v < 0x10000 { return (bmp[Int(v)], n) }
    return (ScalarClass.compute(v), n)
  }
}
