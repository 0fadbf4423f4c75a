/// Hand-written matcher for the `cl100k_base` (GPT-4) split pattern, exactly as tiktoken runs it:
///
///     '(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s
///
/// `\s*[\r\n]` backtracks to the last `\r` or `\n` of the whitespace run, `\s+(?!\S)` to
/// the scalar before its end; everything else is possessive.
enum CL100kSplit {
  /// ASCII lower-casing for the `(?i:…)` contraction letters.
  @inline(__always)
  static func lower(_ b: UInt8) -> UInt8 { b | 0x20 }

  @inline(__always)
  static func pieceEnd(_ c: UTF8Cursor, _ i: Int, _ end: Int) -> Int {
    let b = c.base[i]
    // '(?i:[sdmt]|ll|ve|re) — case-insensitive, so U+017F (ſ, folds to s) counts as s.
    if b == 0x27, i + 1 < end {
      let b1 = c.base[i + 1]
      let l1 = lower(b1)
      if b1 < 0x80, l1 == 0x73 || l1 == 0x64 || l1 == 0x6D || l1 == 0x74 { return i + 2 }
      if b1 == 0xC5, i + 2 < end, c.base[i + 2] == 0xBF { return i + 3 }
      if b1 < 0x80, i + 2 < end {
        let l2 = lower(c.base[i + 2])
        if (l1 == 0x6C && l2 == 0x6C) || (l1 == 0x76 && l2 == 0x65) || (l1 == 0x72 && l2 == 0x65) {
          return i + 3
        }
      }
    }
    let (cls, n) = c.classify(at: i)
    if cls & ScalarClass.letter != 0 { return letterRunEnd(c, i + n, end) }
    if cls & ScalarClass.number != 0 {
      // \p{N}{1,3}+
      var j = i + n
      var taken = 1
      while taken < 3, j < end {
        let (k, m) = c.classify(at: j)
        if k & ScalarClass.number == 0 { break }
        j += m
        taken += 1
      }
      return j
    }
    // [^\r\n\p{L}\p{N}]?+\p{L}++ — one non-letter, non-digit, non-newline scalar before letters.
    if cls & ScalarClass.newline == 0, i + n < end {
      let next = c.classify(at: i + n)
      if next.cls & ScalarClass.letter != 0 { return letterRunEnd(c, i + n + next.length, end) }
    }
    // ` ?[^\s\p{L}\p{N}]++[\r\n]*+`
    var start = -1
    if cls & ScalarClass.whitespace == 0 {
      start = i
    } else if b == 0x20, i + 1 < end {
      let next = c.classify(at: i + 1)
      if next.cls & (ScalarClass.letter | ScalarClass.number | ScalarClass.whitespace) == 0 { start = i + 1 }
    }
    if start >= 0 {
      var j = start + c.length(at: start)
      while j < end {
        let (k, m) = c.classify(at: j)
        if k & (ScalarClass.letter | ScalarClass.number | ScalarClass.whitespace) != 0 { break }
        j += m
      }
      while j < end, c.base[j] == 0x0A || c.base[j] == 0x0D { j += 1 }
      return j
    }
    // \s++$ | \s*[\r\n] | \s+(?!\S) | \s
    var last = i
    var lastNewline = b == 0x0A || b == 0x0D ? i : -1
    var j = i + n
    while j < end {
      let (k, m) = c.classify(at: j)
      if k & ScalarClass.whitespace == 0 { break }
      if k & ScalarClass.newline != 0 { lastNewline = j }
      last = j
      j += m
    }
    if j == end { return end }
    if lastNewline >= 0 { return lastNewline + 1 }
    return last > i ? last : j
  }

  @inline(__always)
  static func letterRunEnd(_ c: UTF8Cursor, _ from: Int, _ end: Int) -> Int {
    var j = from
    while j < end {
      let (k, m) = c.classify(at: j)
      if k & ScalarClass.letter == 0 { break }
      j += m
    }
    return j
  }
}
