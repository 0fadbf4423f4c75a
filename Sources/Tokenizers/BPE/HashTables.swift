/// Open-addressing hash tables for the BPE hot loops: integer keys, linear probing,
/// load factor at most 1/2, no deletion.

/// Maps a pair of token ids `(left, right)` to the id of the token they merge into.
struct PairTable: Sendable {
  private var keys: [UInt64]
  private var values: [UInt32]
  private var mask: Int
  private var shift: UInt64
  private(set) var count = 0

  static let empty = UInt64.max
  static let missing = UInt32.max

  init(capacity: Int) {
    var size = 16
    while size < capacity * 2 { size <<= 1 }
    keys = Array(repeating: PairTable.empty, count: size)
    values = Array(repeating: 0, count: size)
    mask = size - 1
    shift = UInt64(64 - size.trailingZeroBitCount)
  }

  @inline(__always)
  private func slot(_ key: UInt64) -> Int {
    Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
  }

  /// The merged id for `(left, right)`, or `PairTable.missing`.
  @inline(__always)
  func get(_ left: UInt32, _ right: UInt32) -> UInt32 {
    let key = UInt64(left) << 32 | UInt64(right)
    var i = slot(key)
    while true {
      let k = keys[i]
      if k == key { return values[i] }
      if k == PairTable.empty { return PairTable.missing }
      i = (i + 1) & mask
    }
  }

  /// Inserts `(left, right) → value` unless the pair is present; returns whether it was new.
  @discardableResult
  mutating func insert(_ left: UInt32, _ right: UInt32, _ value: UInt32) -> Bool {
    if (count + 1) * 2 > keys.count { grow() }
    let key = UInt64(left) << 32 | UInt64(right)
    var i = slot(key)
    while true {
      let k = keys[i]
      if k == key { return false }
      if k == PairTable.empty {
        keys[i] = key
        values[i] = value
        count += 1
        return true
      }
      i = (i + 1) & mask
    }
  }

  private mutating func grow() {
    var bigger = PairTable(capacity: keys.count)
    for i in keys.indices where keys[i] != PairTable.empty {
      bigger.insert(UInt32(truncatingIfNeeded: keys[i] >> 32), UInt32(truncatingIfNeeded: keys[i]), values[i])
    }
    self = bigger
  }
}

/// A 64-bit hash of a byte string, for the byte-keyed tables.
@inline(__always)
func hashBytes(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt64 {
  var h = UInt64(truncatingIfNeeded: count) &* 0x9E37_79B9_7F4A_7C15
  var i = 0
  let raw = UnsafeRawPointer(p)
  while i + 8 <= count {
    h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
    h ^= h >> 31
    i += 8
  }
  if i < count {
    var tail: UInt64 = 0
    while i < count {
      tail = tail << 8 | UInt64(p[i])
      i += 1
    }
    h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
    h ^= h >> 29
  }
  return h
}

/// Byte strings stored back to back, addressed by index: the token strings of a vocabulary,
/// or the distinct pieces of a training corpus.
struct ByteArena: Sendable {
  private(set) var bytes: [UInt8] = []
  /// `offsets[i]..<offsets[i + 1]` are the bytes of string `i`.
  private(set) var offsets: [Int] = [0]

  var count: Int { offsets.count - 1 }

  mutating func append(_ p: UnsafePointer<UInt8>, _ n: Int) {
    bytes.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
    offsets.append(bytes.count)
  }

  mutating func append<C: Collection>(contentsOf string: C) where C.Element == UInt8 {
    bytes.append(contentsOf: string)
    offsets.append(bytes.count)
  }

  @inline(__always)
  func length(_ i: Int) -> Int { offsets[i + 1] - offsets[i] }

  subscript(i: Int) -> ArraySlice<UInt8> { bytes[offsets[i]..<offsets[i + 1]] }
}

/// Maps byte strings to dense indices `0..<count` in insertion order. The strings themselves
/// live in `strings`.
struct ByteStringTable: Sendable {
  private(set) var strings = ByteArena()
  /// `(hash & 0xFFFF_FFFF_0000_0000) | index`, or `empty`.
  private var slots: [UInt64]
  private var mask: Int
  private static let empty = UInt64.max

  init(capacity: Int = 1024) {
    var size = 16
    while size < capacity * 2 { size <<= 1 }
    slots = Array(repeating: ByteStringTable.empty, count: size)
    mask = size - 1
  }

  var count: Int { strings.count }

  /// The index of the byte string `p[0..<n]`, or nil.
  @inline(__always)
  func find(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int? {
    find(p, n, hash: hashBytes(p, n)).index
  }

  @inline(__always)
  private func find(_ p: UnsafePointer<UInt8>, _ n: Int, hash: UInt64) -> (index: Int?, slot: Int) {
    let tag = (hash & 0xFFFF_FFFF_0000_0000)
    var i = Int(truncatingIfNeeded: hash) & mask
    return strings.bytes.withUnsafeBufferPointer { arena in
      while true {
        let s = slots[i]
        if s == ByteStringTable.empty { return (nil, i) }
        if s & 0xFFFF_FFFF_0000_0000 == tag {
          let index = Int(truncatingIfNeeded: s & 0xFFFF_FFFF)
          let start = strings.offsets[index]
          if strings.offsets[index + 1] - start == n, memoryEqual(arena.baseAddress! + start, p, n) {
            return (index, i)
          }
        }
        i = (i + 1) & mask
      }
    }
  }

  /// The index of `p[0..<n]`, inserting it at the end if it is new.
  @inline(__always)
  mutating func findOrInsert(_ p: UnsafePointer<UInt8>, _ n: Int) -> (index: Int, inserted: Bool) {
    let hash = hashBytes(p, n)
    let (found, slot) = find(p, n, hash: hash)
    if let found { return (found, false) }
    let index = strings.count
    strings.append(p, n)
    slots[slot] = (hash & 0xFFFF_FFFF_0000_0000) | UInt64(index)
    if strings.count * 2 > slots.count { grow() }
    return (index, true)
  }

  private mutating func grow() {
    let size = slots.count * 2
    slots = Array(repeating: ByteStringTable.empty, count: size)
    mask = size - 1
    strings.bytes.withUnsafeBufferPointer { arena in
      for index in 0..<strings.count {
        let start = strings.offsets[index]
        let hash = hashBytes(arena.baseAddress! + start, strings.offsets[index + 1] - start)
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i] != ByteStringTable.empty { i = (i + 1) & mask }
        slots[i] = (hash & 0xFFFF_FFFF_0000_0000) | UInt64(index)
      }
    }
  }
}

@inline(__always)
func memoryEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
  var i = 0
  let ra = UnsafeRawPointer(a)
  let rb = UnsafeRawPointer(b)
  while i + 8 <= n {
    if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
      return false
    }
    i += 8
  }
  while i < n {
    if a[i] != b[i] { return false }
    i += 1
  }
  return true
}
