/// Counts the distinct pieces of a corpus after splitting, in order of first appearance.
///
/// Training works on distinct pieces with counts instead of on the raw text (as rustbpe does),
/// so its cost grows with the vocabulary of the corpus, not with its length.
public struct PieceCounts: Sendable {
  public let pattern: SplitPattern
  var pieces = ByteStringTable(capacity: 1 << 16)
  var counts: [Int32] = []

  public init(pattern: SplitPattern) { self.pattern = pattern }

  /// The number of distinct pieces so far.
  public var distinctPieces: Int { pieces.count }

  /// Adds the pieces of one text (one document: with `.none` it is one piece).
  public mutating func add(_ text: String) {
    var text = text
    text.withUTF8 { buffer in
      guard let base = buffer.baseAddress else { return }
      pattern.forEachPiece(in: buffer) { s, e in
        let (index, inserted) = pieces.findOrInsert(base + s, e - s)
        if inserted { counts.append(1) } else { counts[index] &+= 1 }
      }
    }
  }
}

/// Byte-pair training with minbpe's exact result, computed incrementally.
///
/// **Tie-break (minbpe's rule):** among pairs with the highest count, the one whose first
/// occurrence comes first in the corpus wins — in the current, partly merged sequences, with
/// pieces in order of first appearance. (minbpe gets this from Python's ordered `dict` and
/// `max`; rustbpe and HF break ties by the smaller id pair instead.) Pairs are counted with
/// overlaps (`aaa` has two `(a, a)`), merges replace left to right without overlap, and
/// training goes on while any pair is left, even pairs seen once.
///
/// Each pair keeps the sorted positions where it occurs; a max-heap ordered by
/// `(count, first position)` holds possibly stale entries that are refreshed when popped. A
/// pair's count only falls and its first position only moves right once it exists, so a popped
/// entry that is still current is the true best.
enum BPETrainer {
  /// Learns up to `merges` merges from `counts`; merge `i` makes token `256 + i`. Stops early
  /// if no pair is left. `progress(done)` is called every few merges.
  static func train(_ counts: PieceCounts, merges: Int, progress: ((Int) -> Void)? = nil) -> [(UInt32, UInt32)] {
    var state = TrainerState(counts)
    var result: [(UInt32, UInt32)] = []
    result.reserveCapacity(merges)
    for m in 0..<merges {
      guard let pair = state.popBest() else { break }
      result.append(state.merge(pair, into: UInt32(256 + m)))
      if let progress, m % 64 == 63 { progress(m + 1) }
    }
    progress?(result.count)
    return result
  }
}

private struct TrainerState {
  static let dead = UInt32.max

  // One slot per byte of the distinct pieces, laid end to end; a symbol lives at the slot of
  // its first byte. `next`/`prev` link the symbols of a piece (-1 at its ends).
  var symbol: [UInt32]
  var next: [Int32]
  var prev: [Int32]
  var weight: [Int32]

  // Pairs: (left, right) → record index.
  var index = PairTable(capacity: 1 << 16)
  var left: [UInt32] = []
  var right: [UInt32] = []
  var count: [Int64] = []
  /// Positions of the pair's left symbol, ascending; entries before `cursor` are stale.
  var positions: [[Int32]] = []
  var cursor: [Int32] = []
  var heap = Heap<PairEntry>()

  init(_ counts: PieceCounts) {
    let strings = counts.pieces.strings
    let total = strings.bytes.count
    symbol = strings.bytes.map { UInt32($0) }
    next = [Int32](repeating: -1, count: total)
    prev = [Int32](repeating: -1, count: total)
    weight = [Int32](repeating: 0, count: total)
    for piece in 0..<strings.count {
      let start = strings.offsets[piece]
      let end = strings.offsets[piece + 1]
      for p in start..<end {
        weight[p] = counts.counts[piece]
        if p + 1 < end { next[p] = Int32(p + 1) }
        if p > start { prev[p] = Int32(p - 1) }
      }
    }
    for p in 0..<total where next[p] >= 0 {
      _ = add(symbol[p], symbol[p + 1], at: p, Int64(weight[p]))
    }
    for r in 0..<count.count {
      heap.push(PairEntry(count: count[r], first: positions[r][0], record: Int32(r)))
    }
  }

  /// Counts one more occurrence of `(a, b)` at `p`; returns the record and whether it is new.
  mutating func add(_ a: UInt32, _ b: UInt32, at p: Int, _ w: Int64) -> (Int, Bool) {
    var r = Int(index.get(a, b))
    let isNew = r == Int(PairTable.missing)
    if isNew {
      r = count.count
      index.insert(a, b, UInt32(r))
      left.append(a)
      right.append(b)
      count.append(0)
      positions.append([])
      cursor.append(0)
    }
    count[r] += w
    if positions[r].last != Int32(p) { positions[r].append(Int32(p)) }
    return (r, isNew)
  }

  mutating func remove(_ a: UInt32, _ b: UInt32, _ w: Int64) {
    count[Int(index.get(a, b))] -= w
  }

  @inline(__always)
  func occurs(_ r: Int, at p: Int) -> Bool {
    guard symbol[p] == left[r] else { return false }
    let q = Int(next[p])
    return q >= 0 && symbol[q] == right[r]
  }

  /// The first position where pair `r` still occurs, or -1.
  mutating func firstPosition(_ r: Int) -> Int32 {
    var k = Int(cursor[r])
    let n = positions[r].count
    while k < n, !occurs(r, at: Int(positions[r][k])) { k += 1 }
    cursor[r] = Int32(k)
    return k < n ? positions[r][k] : -1
  }

  /// The pair to merge next: highest count, then earliest first occurrence.
  mutating func popBest() -> Int? {
    while let top = heap.pop() {
      let r = Int(top.record)
      guard count[r] > 0 else { continue }
      let first = firstPosition(r)
      guard first >= 0 else { continue }
      if count[r] == top.count && first == top.first { return r }
      heap.push(PairEntry(count: count[r], first: first, record: top.record))
    }
    return nil
  }

  /// Replaces every occurrence of pair `r`, left to right, by `id`; returns the pair.
  mutating func merge(_ r: Int, into id: UInt32) -> (UInt32, UInt32) {
    let a = left[r]
    let b = right[r]
    var created: [Int] = []
    let list = positions[r]
    for k in Int(cursor[r])..<list.count {
      let p = Int(list[k])
      guard occurs(r, at: p) else { continue }
      let q = Int(next[p])
      let w = Int64(weight[p])
      let before = Int(prev[p])
      let after = Int(next[q])
      if before >= 0 {
        remove(symbol[before], a, w)
        let (n, isNew) = add(symbol[before], id, at: before, w)
        if isNew { created.append(n) }
      }
      if after >= 0 {
        remove(b, symbol[after], w)
        let (n, isNew) = add(id, symbol[after], at: p, w)
        if isNew { created.append(n) }
      }
      count[r] -= w
      symbol[p] = id
      symbol[q] = TrainerState.dead
      next[p] = Int32(after)
      if after >= 0 { prev[after] = Int32(p) }
    }
    positions[r] = []
    cursor[r] = 0
    for n in created where count[n] > 0 {
      heap.push(PairEntry(count: count[n], first: positions[n][0], record: Int32(n)))
    }
    return (a, b)
  }
}

/// A heap entry for a pair: higher count first, then earlier first position.
private struct PairEntry: HeapElement {
  var count: Int64
  var first: Int32
  var record: Int32

  @inline(__always)
  func precedes(_ o: PairEntry) -> Bool { count > o.count || (count == o.count && first < o.first) }
}
