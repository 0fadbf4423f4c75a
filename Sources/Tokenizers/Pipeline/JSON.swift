/// A JSON value that keeps the order of object members, so that a `tokenizer.json` read and
/// written again comes out byte for byte as HF `tokenizers` writes it.
public indirect enum JSONValue: Equatable, Sendable {
  case null
  case bool(Bool)
  case int(Int)
  case double(Double)
  case string(String)
  case array([JSONValue])
  case object([JSONMember])

  /// The value of `key` in an object (nil if absent or not an object).
  public subscript(key: String) -> JSONValue? {
    guard case .object(let members) = self else { return nil }
    return members.first { $0.key == key }?.value
  }
}

/// One `"key": value` member of a JSON object.
public struct JSONMember: Equatable, Sendable {
  public var key: String
  public var value: JSONValue
  public init(_ key: String, _ value: JSONValue) {
    self.key = key
    self.value = value
  }
}

// MARK: - Parsing

extension JSONValue {
  /// Parses UTF-8 JSON text; a syntax error names the byte offset.
  public init(parsing text: String) throws(TokenizerError) {
    var text = text
    let result: Result<JSONValue, TokenizerError> = text.withUTF8 { buffer in
      var parser = JSONParser(buffer)
      do {
        let value = try parser.value()
        parser.skipSpace()
        guard parser.i == buffer.count else { throw parser.error("unexpected text after the JSON value") }
        return .success(value)
      } catch let error as TokenizerError {
        return .failure(error)
      } catch {
        return .failure(.invalidJSON(field: "", reason: "\(error)"))
      }
    }
    self = try result.get()
  }
}

private struct JSONParser {
  /// The deepest nesting of arrays and objects accepted (serde_json's limit): deeper input is
  /// an error, not a stack overflow.
  static let maximumDepth = 128
  let b: UnsafeBufferPointer<UInt8>
  var i = 0
  var depth = 0
  init(_ buffer: UnsafeBufferPointer<UInt8>) { b = buffer }

  func error(_ reason: String) -> TokenizerError { .invalidJSON(field: "", reason: "\(reason) at byte \(i)") }

  mutating func skipSpace() {
    while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
  }

  mutating func expect(_ literal: String, _ value: JSONValue) throws -> JSONValue {
    let n = literal.utf8.count
    guard i + n <= b.count, b[i..<(i + n)].elementsEqual(literal.utf8) else {
      throw error("invalid literal")
    }
    i += n
    return value
  }

  mutating func value() throws -> JSONValue {
    skipSpace()
    guard i < b.count else { throw error("unexpected end of JSON") }
    switch b[i] {
    case UInt8(ascii: "{"), UInt8(ascii: "["):
      guard depth < Self.maximumDepth else { throw error("arrays and objects nested deeper than \(Self.maximumDepth) levels") }
      depth += 1
      defer { depth -= 1 }
      return try b[i] == UInt8(ascii: "{") ? object() : array()
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "t"): return try expect("true", .bool(true))
    case UInt8(ascii: "f"): return try expect("false", .bool(false))
    case UInt8(ascii: "n"): return try expect("null", .null)
    default: return try number()
    }
  }

  /// The object starting at `{`.
  mutating func object() throws -> JSONValue {
    i += 1
    var members: [JSONMember] = []
    skipSpace()
    if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
    while true {
      skipSpace()
      guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw error("expected a member name") }
      let key = try string()
      skipSpace()
      guard i < b.count, b[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
      i += 1
      members.append(JSONMember(key, try value()))
      skipSpace()
      guard i < b.count else { throw error("unterminated object") }
      if b[i] == UInt8(ascii: ",") { i += 1; continue }
      guard b[i] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
      i += 1
      return .object(members)
    }
  }

  /// The array starting at `[`.
  mutating func array() throws -> JSONValue {
    i += 1
    var items: [JSONValue] = []
    skipSpace()
    if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
    while true {
      items.append(try value())
      skipSpace()
      guard i < b.count else { throw error("unterminated array") }
      if b[i] == UInt8(ascii: ",") { i += 1; continue }
      guard b[i] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
      i += 1
      return .array(items)
    }
  }

  mutating func number() throws -> JSONValue {
    let start = i
    var isInteger = true
    while i < b.count {
      let c = b[i]
      if c >= 0x30 && c <= 0x39 || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") {
        i += 1
      } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
        isInteger = false
        i += 1
      } else {
        break
      }
    }
    let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
    if isInteger, let value = Int(text) { return .int(value) }
    guard let value = serdeDouble(b[start..<i]) else { i = start; throw error("invalid value") }
    return .double(value)
  }

  mutating func hex4() throws -> UInt32 {
    guard i + 4 <= b.count else { throw error("bad \\u escape") }
    var v: UInt32 = 0
    for _ in 0..<4 {
      let c = b[i]
      let d: UInt32
      switch c {
      case 0x30...0x39: d = UInt32(c - 0x30)
      case 0x41...0x46: d = UInt32(c - 0x41 + 10)
      case 0x61...0x66: d = UInt32(c - 0x61 + 10)
      default: throw error("bad \\u escape")
      }
      v = v << 4 | d
      i += 1
    }
    return v
  }

  mutating func string() throws -> String {
    i += 1  // opening quote
    let start = i
    // Fast path: no escapes.
    while i < b.count, b[i] != UInt8(ascii: "\""), b[i] != UInt8(ascii: "\\") { i += 1 }
    guard i < b.count else { throw error("unterminated string") }
    if b[i] == UInt8(ascii: "\"") {
      defer { i += 1 }
      return String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
    }
    var bytes = Array(b[start..<i])
    while true {
      guard i < b.count else { throw error("unterminated string") }
      let c = b[i]
      i += 1
      if c == UInt8(ascii: "\"") { break }
      guard c == UInt8(ascii: "\\") else { bytes.append(c); continue }
      guard i < b.count else { throw error("unterminated string") }
      let e = b[i]
      i += 1
      switch e {
      case UInt8(ascii: "n"): bytes.append(0x0A)
      case UInt8(ascii: "t"): bytes.append(0x09)
      case UInt8(ascii: "r"): bytes.append(0x0D)
      case UInt8(ascii: "b"): bytes.append(0x08)
      case UInt8(ascii: "f"): bytes.append(0x0C)
      case UInt8(ascii: "u"):
        var v = try hex4()
        if v >= 0xD800 && v < 0xDC00, i + 6 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
          i += 2
          let low = try hex4()
          guard low >= 0xDC00 && low < 0xE000 else { throw error("bad surrogate pair") }
          v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(v) else { throw error("lone surrogate in string") }
        bytes.append(contentsOf: String(Character(scalar)).utf8)
      default: bytes.append(e)  // \" \\ \/
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

// MARK: - Writing

extension JSONValue {
  /// The value as serde_json's pretty printer writes it (2-space indent, one member or
  /// element per line, non-ASCII written as is) — the style of HF `Tokenizer.save`.
  public var prettyText: String {
    var out: [UInt8] = []
    out.reserveCapacity(1 << 16)
    write(into: &out, indent: 0)
    return String(decoding: out, as: UTF8.self)
  }

  private func write(into out: inout [UInt8], indent: Int) {
    switch self {
    case .null: out.append(contentsOf: "null".utf8)
    case .bool(let v): out.append(contentsOf: (v ? "true" : "false").utf8)
    case .int(let v): out.append(contentsOf: String(v).utf8)
    case .double(let v): out.append(contentsOf: JSONValue.format(v).utf8)
    case .string(let s): JSONValue.writeString(s, into: &out)
    case .array(let items):
      guard !items.isEmpty else { out.append(contentsOf: "[]".utf8); return }
      out.append(contentsOf: "[\n".utf8)
      for (k, item) in items.enumerated() {
        out.append(contentsOf: repeatElement(0x20, count: 2 * indent + 2))
        item.write(into: &out, indent: indent + 1)
        out.append(contentsOf: (k + 1 < items.count ? ",\n" : "\n").utf8)
      }
      out.append(contentsOf: repeatElement(0x20, count: 2 * indent))
      out.append(UInt8(ascii: "]"))
    case .object(let members):
      guard !members.isEmpty else { out.append(contentsOf: "{}".utf8); return }
      out.append(contentsOf: "{\n".utf8)
      for (k, member) in members.enumerated() {
        out.append(contentsOf: repeatElement(0x20, count: 2 * indent + 2))
        JSONValue.writeString(member.key, into: &out)
        out.append(contentsOf: ": ".utf8)
        member.value.write(into: &out, indent: indent + 1)
        out.append(contentsOf: (k + 1 < members.count ? ",\n" : "\n").utf8)
      }
      out.append(contentsOf: repeatElement(0x20, count: 2 * indent))
      out.append(UInt8(ascii: "}"))
    }
  }

  /// serde_json's string escapes: `\"`, `\\`, `\b \f \n \r \t`, other controls as `\u00xx`.
  private static func writeString(_ s: String, into out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    for c in s.utf8 {
      switch c {
      case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
      case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
      case 0x08: out.append(contentsOf: "\\b".utf8)
      case 0x0C: out.append(contentsOf: "\\f".utf8)
      case 0x0A: out.append(contentsOf: "\\n".utf8)
      case 0x0D: out.append(contentsOf: "\\r".utf8)
      case 0x09: out.append(contentsOf: "\\t".utf8)
      case 0..<0x20:
        let hex = Array("0123456789abcdef".utf8)
        out.append(contentsOf: "\\u00".utf8)
        out.append(hex[Int(c >> 4)])
        out.append(hex[Int(c & 15)])
      default: out.append(c)
      }
    }
    out.append(UInt8(ascii: "\""))
  }

  /// Shortest round-trip form as Rust's `ryu` writes it: `-1.0`, `0.5`, `1e-7`, `1.5e20`.
  static func format(_ v: Double) -> String {
    var text = v.description
    guard let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return text }
    var mantissa = String(text[..<e])
    if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
    var exponent = text[text.index(after: e)...]
    var sign = ""
    if exponent.first == "+" { exponent = exponent.dropFirst() }
    if exponent.first == "-" { sign = "-"; exponent = exponent.dropFirst() }
    while exponent.count > 1, exponent.first == "0" { exponent = exponent.dropFirst() }
    text = mantissa + "e" + sign + exponent
    return text
  }
}

/// A JSON number read as HF `tokenizers` reads it: serde_json (without its `float_roundtrip`
/// feature) gathers up to 19 or 20 significant digits into an integer and multiplies or divides
/// it by one power of ten, which is not always the nearest double (8,007 of the 32,000 scores of
/// one Unigram model are an ulp off). A Unigram model segments by comparing sums of these
/// scores, so reading them otherwise breaks near-ties differently than HF does.
func serdeDouble<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Double? where Bytes.Index == Int {
  var i = bytes.startIndex
  func peek() -> UInt8? { i < bytes.endIndex ? bytes[i] : nil }
  func digit() -> UInt64? { peek().flatMap { $0 >= 0x30 && $0 <= 0x39 ? UInt64($0 - 0x30) : nil } }
  let negative = peek() == UInt8(ascii: "-")
  if negative { i += 1 }
  var significand: UInt64 = 0, exponent = 0, overflowed = false, digits = 0
  // Integer part, then fraction: digits past what fits in a u64 are dropped (a dropped integer
  // digit still counts as a power of ten).
  while let d = digit() {
    i += 1
    digits += 1
    if overflowed || significand > (UInt64.max - d) / 10 { overflowed = true; exponent += 1 } else { significand = significand * 10 + d }
  }
  guard digits > 0 else { return nil }
  if peek() == UInt8(ascii: ".") {
    i += 1
    var fraction = 0
    while let d = digit() {
      i += 1
      fraction += 1
      if overflowed || significand > (UInt64.max - d) / 10 { overflowed = true } else { significand = significand * 10 + d; exponent -= 1 }
    }
    guard fraction > 0 else { return nil }
  }
  if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
    i += 1
    let negativeExponent = peek() == UInt8(ascii: "-")
    if negativeExponent || peek() == UInt8(ascii: "+") { i += 1 }
    var value = 0, count = 0
    while let d = digit() {
      i += 1
      count += 1
      value = min(value * 10 + Int(d), 1 << 30)
    }
    guard count > 0 else { return nil }
    exponent += negativeExponent ? -value : value
  }
  guard i == bytes.endIndex else { return nil }
  // serde_json's f64_from_parts: one multiplication or division by a power of ten.
  var f = Double(significand)
  while true {
    if abs(exponent) < powersOfTen.count {
      if exponent >= 0 { f *= powersOfTen[exponent] } else { f /= powersOfTen[-exponent] }
      break
    }
    if f == 0 { break }
    if exponent >= 0 { return nil }  // out of range
    f /= 1e308
    exponent += 308
  }
  return negative ? -f : f
}

/// 1e0 … 1e308, each the nearest double (serde_json's `POW10`).
private let powersOfTen: [Double] = (0...308).map { Double("1e\($0)")! }
