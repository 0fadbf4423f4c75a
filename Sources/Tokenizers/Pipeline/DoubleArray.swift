/// A darts-clone double array: a trie of byte strings (no 0 bytes) with values below 2³¹, in
/// the format SentencePiece's precompiled normalization rules use. Each node's children are at
/// `base ^ label`, its value in the unit at `base ^ 0`; every base is used once.
struct DoubleArray: Sendable {
  let units: [UInt32]

  /// Reads units (`units.count` > 0).
  init(units: [UInt32]) { self.units = units }

  /// Builds the trie of `entries`; refuses more keys than one double array holds (offsets
  /// must stay below 2²¹ units).
  init(_ entries: [([UInt8], UInt32)]) throws(TokenizerError) {
    struct Node {
      var children: [(label: UInt8, node: Int)] = []
      var value: UInt32?
    }
    var nodes = [Node()]
    for (key, value) in entries {
      var n = 0
      for b in key {
        if let child = nodes[n].children.first(where: { $0.label == b })?.node {
          n = child
        } else {
          nodes.append(Node())
          nodes[n].children.append((b, nodes.count - 1))
          n = nodes.count - 1
        }
      }
      nodes[n].value = value
    }
    var units = [UInt32](repeating: 0, count: 1024)
    var used = [Bool](repeating: false, count: 1024)
    // skip[i]: a position ≥ i from which to look for the next unused one (path-compressed).
    var skip = Array(0..<1024)
    func grow() {
      let n = used.count
      used += repeatElement(false, count: n)
      units += repeatElement(0, count: n)
      skip += Array(n..<(2 * n))
    }
    func nextUnused(_ i: Int) -> Int {
      var j = i
      while j < used.count && used[j] { j = max(skip[j], j + 1) }
      var k = i
      while k < j && k < used.count {
        let next = skip[k]
        skip[k] = j
        k = max(next, k + 1)
      }
      return j
    }
    var usedBases = Set<Int>()
    used[0] = true
    var position = [Int](repeating: 0, count: nodes.count)
    var queue = [0]
    var head = 0
    while head < queue.count {
      let n = queue[head]
      head += 1
      var labels = nodes[n].children.map { Int($0.label) }
      if nodes[n].value != nil { labels.insert(0, at: 0) }
      guard let first = labels.first else { continue }
      var free = nextUnused(1)
      var base = 0
      while true {
        while free >= used.count { grow() }
        base = free ^ first
        let fits = !usedBases.contains(base) && labels.allSatisfy { l in
          let q = base ^ l
          return q != 0 && (q >= used.count || !used[q])
        }
        if fits { break }
        free = nextUnused(free + 1)
      }
      while (base | 0xFF) >= used.count { grow() }
      usedBases.insert(base)
      for l in labels { used[base ^ l] = true }
      let p = position[n]
      let offset = UInt32(p ^ base)
      guard offset < 1 << 21 else { throw .invalidJSON(field: "model", reason: "too many pieces for one trie (\(entries.count))") }
      units[p] = (units[p] & ((1 << 31) | (1 << 8) | 0xFF)) | offset << 10
      if let value = nodes[n].value {
        units[p] |= 1 << 8
        units[base] = value | (1 << 31)
      }
      for (label, child) in nodes[n].children {
        let q = base ^ Int(label)
        units[q] = (units[q] & ~0xFF) | UInt32(label)
        position[child] = q
        queue.append(child)
      }
    }
    // SentencePiece reads whole blocks of 256 units.
    var end = units.count
    while end > 256 && !used[end - 256..<end].contains(true) { end -= 256 }
    self.units = Array(units[0..<end])
  }

  /// Calls `body(length, value)` for each key that `bytes[start...]` begins with, shortest
  /// first (darts-clone's `commonPrefixSearch`); `body` returns false to stop.
  @inline(__always)
  func forEachPrefix(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, _ body: (Int, Int) -> Bool) {
    @inline(__always) func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }
    units.withUnsafeBufferPointer { u in
      var node = offset(u[0])
      for k in start..<bytes.count {
        node ^= Int(bytes[k])
        guard node < u.count else { return }
        let unit = u[node]
        guard unit & ((1 << 31) | 0xFF) == UInt32(bytes[k]) else { return }
        node ^= offset(unit)
        if (unit >> 8) & 1 == 1 {
          guard node < u.count else { return }
          if !body(k - start + 1, Int(u[node] & ((1 << 31) - 1))) { return }
        }
      }
    }
  }
}
