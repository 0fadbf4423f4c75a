/// The tiktoken rank format: one `base64(token bytes) SP rank` line per token, in rank order.
enum RankFile {
  /// Parses rank-file text into a table whose insertion order is the rank order.
  /// Ranks must be exactly `0..<n` (true of every OpenAI encoding).
  static func parse(_ text: String, path: String) throws(TokenizerError) -> ByteStringTable {
    var text = text
    let parsed: Result<ByteStringTable, TokenizerError> = text.withUTF8 { buffer in
      var table = ByteStringTable(capacity: buffer.count / 12)
      var decoded = [UInt8](repeating: 0, count: 256)
      var line = 0
      var i = 0
      while i < buffer.count {
        line += 1
        var end = i
        while end < buffer.count, buffer[end] != 0x0A { end += 1 }
        defer { i = end + 1 }
        var stop = end
        if stop > i, buffer[stop - 1] == 0x0D { stop -= 1 }
        if stop == i { continue }  // blank lines are ignored, as tiktoken does
        guard let space = (i..<stop).last(where: { buffer[$0] == 0x20 }),
          let rank = Int(decimal: buffer, space + 1, stop)
        else {
          return .failure(.file(.malformed(path: path, line: line, reason: "expected 'base64-token rank'")))
        }
        let n = space - i
        if decoded.count < n { decoded = [UInt8](repeating: 0, count: n) }
        guard let length = decoded.withUnsafeMutableBufferPointer({ Base64.decode(buffer, i, space, into: $0) }),
          length > 0
        else {
          return .failure(.file(.malformed(path: path, line: line, reason: "invalid base64 token")))
        }
        guard rank == table.count else {
          return .failure(.file(.malformed(
            path: path, line: line, reason: "rank \(rank) out of order (expected \(table.count); ranks must be 0, 1, 2, …)")))
        }
        let inserted = decoded.withUnsafeBufferPointer { table.findOrInsert($0.baseAddress!, length).inserted }
        guard inserted else {
          return .failure(.file(.malformed(path: path, line: line, reason: "duplicate token for rank \(rank)")))
        }
      }
      return .success(table)
    }
    let table = try parsed.get()
    guard table.count >= 256 else {
      throw .file(.malformed(path: path, line: 0, reason: "only \(table.count) tokens; a byte-level vocabulary needs at least 256"))
    }
    return table
  }

  /// Writes the tokens of `tokenizer` (ids `0..<n` without specials) in rank format.
  static func render(_ tokens: ByteArena) -> String {
    var out = ""
    out.reserveCapacity(tokens.bytes.count * 2)
    for id in 0..<tokens.count {
      out += Base64.encode(tokens[id])
      out += " \(id)\n"
    }
    return out
  }
}

extension Int {
  /// Parses the ASCII decimal digits `buffer[start..<end]`.
  init?(decimal buffer: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) {
    guard start < end, end - start <= 18 else { return nil }
    var value = 0
    for k in start..<end {
      let d = Int(buffer[k]) - 48
      guard d >= 0, d <= 9 else { return nil }
      value = value * 10 + d
    }
    self = value
  }
}

/// Standard base64 (RFC 4648 with padding), as used by tiktoken rank files.
enum Base64 {
  private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
  private static let values: [UInt8] = {
    var table = [UInt8](repeating: 0xFF, count: 256)
    for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
    return table
  }()

  /// Decodes `buffer[start..<end]` into `out`; returns the byte count, or nil if invalid.
  static func decode(
    _ buffer: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, into out: UnsafeMutableBufferPointer<UInt8>
  ) -> Int? {
    var stop = end
    while stop > start, buffer[stop - 1] == 0x3D { stop -= 1 }  // '=' padding
    guard (end - start) % 4 == 0, end - stop <= 2 else { return nil }
    var acc: UInt32 = 0
    var bits = 0
    var n = 0
    for k in start..<stop {
      let v = values[Int(buffer[k])]
      guard v != 0xFF else { return nil }
      acc = acc << 6 | UInt32(v)
      bits += 6
      if bits >= 8 {
        bits -= 8
        guard n < out.count else { return nil }
        out[n] = UInt8(truncatingIfNeeded: acc >> UInt32(bits))
        n += 1
      }
    }
    return n
  }

  static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    var out: [UInt8] = []
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var it = bytes.makeIterator()
    while let a = it.next() {
      let b = it.next()
      let c = it.next()
      let v = UInt32(a) << 16 | UInt32(b ?? 0) << 8 | UInt32(c ?? 0)
      out.append(alphabet[Int(v >> 18 & 63)])
      out.append(alphabet[Int(v >> 12 & 63)])
      out.append(b == nil ? 0x3D : alphabet[Int(v >> 6 & 63)])
      out.append(c == nil ? 0x3D : alphabet[Int(v & 63)])
    }
    return String(decoding: out, as: UTF8.self)
  }
}
