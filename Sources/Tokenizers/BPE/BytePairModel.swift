/// The vocabulary of a byte-level BPE tokenizer and the merge loop that encodes one piece.
///
/// Two encodings of the same data are supported, because the two anchors differ:
/// - **tiktoken** (`init(ranks:)`): a piece that is itself a token is emitted whole; otherwise
///   the adjacent pair whose *concatenated bytes* have the lowest rank is merged, leftmost
///   first. The pair table holds every split `(prefix, suffix)` of every token, so a pair
///   lookup is exactly tiktoken's lookup by bytes.
/// - **minbpe** (`init(merges:)`): ids 0–255 are the bytes and merge `i` makes id `256 + i`;
///   the pair with the lowest merge index is merged, leftmost first, and nothing else.
struct BytePairModel: Sendable {
  /// Bytes of every token, by id.
  let tokens: ByteArena
  /// The token of each single byte.
  let byteToken: [UInt32]
  /// `(left, right) → merged id`; the merged id is also the merge's priority (lower first).
  let pairs: PairTable
  /// Whole-piece lookup by bytes (tiktoken semantics), or nil (minbpe semantics).
  let pieceTable: ByteStringTable?

  /// Pieces at least this long use the heap merge (as tiktoken does from 100 bytes).
  static let heapThreshold = 100

  var count: Int { tokens.count }

  /// A tiktoken vocabulary: `ranks` maps token bytes to ids `0..<ranks.count` in insertion order.
  init(ranks: ByteStringTable) throws(TokenizerError) {
    var byteToken = [UInt32](repeating: 0, count: 256)
    for b in 0..<256 {
      var byte = UInt8(b)
      guard let id = ranks.find(&byte, 1) else {
        throw .file(.malformed(path: "ranks", line: 0, reason: "no token for the single byte \(b)"))
      }
      byteToken[b] = UInt32(id)
    }
    let strings = ranks.strings
    var pairs = PairTable(capacity: strings.count * 3)
    strings.bytes.withUnsafeBufferPointer { arena in
      let base = arena.baseAddress!
      for id in 0..<strings.count {
        let start = strings.offsets[id]
        let n = strings.length(id)
        guard n > 1 else { continue }
        for k in 1..<n {
          if let left = ranks.find(base + start, k), let right = ranks.find(base + start + k, n - k) {
            pairs.insert(UInt32(left), UInt32(right), UInt32(id))
          }
        }
      }
    }
    self.tokens = strings
    self.byteToken = byteToken
    self.pairs = pairs
    self.pieceTable = ranks
  }

  /// A minbpe vocabulary: bytes, then one token per merge.
  init(merges: [(UInt32, UInt32)]) {
    var tokens = ByteArena()
    for b in 0..<256 { tokens.append(contentsOf: [UInt8(b)]) }
    var pairs = PairTable(capacity: merges.count)
    for (i, (left, right)) in merges.enumerated() {
      tokens.append(contentsOf: tokens[Int(left)] + tokens[Int(right)])
      pairs.insert(left, right, UInt32(256 + i))
    }
    self.tokens = tokens
    self.byteToken = (0..<256).map { UInt32($0) }
    self.pairs = pairs
    self.pieceTable = nil
  }

  /// Appends the tokens of the piece `p[0..<n]` to `out`.
  @inline(__always)
  func encodePiece(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int]) {
    if n == 1 {
      out.append(Int(byteToken[Int(p[0])]))
    } else if let table = pieceTable, let id = table.find(p, n) {
      out.append(id)
    } else if n < BytePairModel.heapThreshold {
      mergeLinear(p, n, into: &out)
    } else {
      mergeHeap(p, n, into: &out)
    }
  }

  /// O(n·m) merge for short pieces: scan for the lowest-ranked pair, merge, repeat.
  func mergeLinear(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int]) {
    withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 2 * n) { scratch in
      let ids = scratch.baseAddress!
      let ranks = ids + n
      for k in 0..<n { ids[k] = byteToken[Int(p[k])] }
      for k in 0..<(n - 1) { ranks[k] = pairs.get(ids[k], ids[k + 1]) }
      ranks[n - 1] = PairTable.missing  // read (never used) by the shift below
      var count = n
      while count > 1 {
        var m = 0
        var best = ranks[0]
        for k in 1..<(count - 1) where ranks[k] < best {
          best = ranks[k]
          m = k
        }
        if best == PairTable.missing { break }
        ids[m] = best
        // Drop part m + 1; pair ranks right of m shift left by one.
        for k in (m + 1)..<(count - 1) {
          ids[k] = ids[k + 1]
          ranks[k] = ranks[k + 1]
        }
        count -= 1
        if m > 0 { ranks[m - 1] = pairs.get(ids[m - 1], ids[m]) }
        if m < count - 1 { ranks[m] = pairs.get(ids[m], ids[m + 1]) }
      }
      for k in 0..<count { out.append(Int(ids[k])) }
    }
  }

  /// O(n log n) merge for long pieces: a min-heap of `(rank, position)` over a linked list
  /// of parts, with stale entries skipped when popped. Same result as `mergeLinear`.
  func mergeHeap(_ p: UnsafePointer<UInt8>, _ n: Int, into out: inout [Int]) {
    var ids = [UInt32](repeating: 0, count: n)
    var next = [Int32](repeating: -1, count: n)
    var prev = [Int32](repeating: -1, count: n)
    var heap = Heap<UInt64>()
    for k in 0..<n {
      ids[k] = byteToken[Int(p[k])]
      next[k] = k + 1 < n ? Int32(k + 1) : -1
      prev[k] = Int32(k - 1)
    }
    for k in 0..<(n - 1) {
      let rank = pairs.get(ids[k], ids[k + 1])
      if rank != PairTable.missing { heap.push(UInt64(rank) << 32 | UInt64(k)) }
    }
    let dead = PairTable.missing
    while let top = heap.pop() {
      let rank = UInt32(truncatingIfNeeded: top >> 32)
      let k = Int(truncatingIfNeeded: top & 0xFFFF_FFFF)
      let right = Int(next[k])
      guard ids[k] != dead, right >= 0, pairs.get(ids[k], ids[right]) == rank else { continue }
      ids[k] = rank
      ids[right] = dead
      let after = Int(next[right])
      next[k] = Int32(after)
      if after >= 0 {
        prev[after] = Int32(k)
        let r = pairs.get(rank, ids[after])
        if r != PairTable.missing { heap.push(UInt64(r) << 32 | UInt64(k)) }
      }
      let before = Int(prev[k])
      if before >= 0 {
        let r = pairs.get(ids[before], rank)
        if r != PairTable.missing { heap.push(UInt64(r) << 32 | UInt64(before)) }
      }
    }
    var k = 0
    while k >= 0 {
      out.append(Int(ids[k]))
      k = Int(next[k])
    }
  }
}
