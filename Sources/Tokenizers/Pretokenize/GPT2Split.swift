/// Hand-written matcher for the GPT-2 (`r50k_base`) split pattern, exactly as tiktoken runs it:
///
///     '(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s
///
/// `pieceEnd` returns where the leftmost-first match that starts at `i` ends. The pattern
/// needs no backtracking except `\s+(?!\S)`, which gives back the last scalar of a
/// whitespace run that is followed by a non-space.
enum GPT2Split {
  @inline(__always)
  static func pieceEnd(_ c: UTF8Cursor, _ i: Int, _ end: Int) -> Int {
    let b = c.base[i]
    // '(?:[sdmt]|ll|ve|re)
    if b == 0x27, i + 1 < end {
      let b1 = c.base[i + 1]
      if b1 == 0x73 || b1 == 0x64 || b1 == 0x6D || b1 == 0x74 { return i + 2 }
      if i + 2 < end {
        let b2 = c.base[i + 2]
        if (b1 == 0x6C && b2 == 0x6C) || (b1 == 0x76 && b2 == 0x65) || (b1 == 0x72 && b2 == 0x65) {
          return i + 3
        }
      }
    }
    var (cls, n) = c.classify(at: i)
    var start = i
    // ` ?X++` for X in letter / number / other: an optional leading space joins the run.
    if b == 0x20, i + 1 < end {
      let next = c.classify(at: i + 1)
      if next.cls & ScalarClass.whitespace == 0 {
        start = i + 1
        cls = next.cls
        n = next.length
      }
    }
    if cls & ScalarClass.whitespace == 0 {
      let kind = cls & (ScalarClass.letter | ScalarClass.number)
      var j = start + n
      while j < end {
        let (k, m) = c.classify(at: j)
        if k & (ScalarClass.letter | ScalarClass.number | ScalarClass.whitespace) != kind { break }
        j += m
      }
      return j
    }
    return whitespaceRunEnd(c, i, n, end)
  }

  /// `\s++$|\s+(?!\S)|\s` at a whitespace scalar of length `n` starting at `i`.
  @inline(__always)
  static func whitespaceRunEnd(_ c: UTF8Cursor, _ i: Int, _ n: Int, _ end: Int) -> Int {
    var last = i
    var j = i + n
    while j < end {
      let (k, m) = c.classify(at: j)
      if k & ScalarClass.whitespace == 0 { break }
      last = j
      j += m
    }
    if j == end { return end }  // \s++$
    return last > i ? last : j  // \s+(?!\S), else \s
  }
}
