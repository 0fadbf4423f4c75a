import Foundation
import Synchronization

/// Normalized text that remembers where each scalar came from (HF's `NormalizedString`): for
/// each scalar, the byte range of the original text it was made from. Token offsets are found
/// through it, so they point into the text the user gave even after NFKC, lowercasing,
/// stripping or replacing changed its length.
///
/// Every rewrite follows HF's alignment rules: a scalar that replaces one keeps that one's
/// range, a scalar inserted after it shares it, removed scalars leave no trace.
struct AlignedText {
  private(set) var scalars: [Unicode.Scalar]
  /// Original byte range of each scalar.
  private(set) var sources: [Range<Int>]

  init(_ text: String) {
    scalars = Array(text.unicodeScalars)
    sources = []
    sources.reserveCapacity(scalars.count)
    var offset = 0
    for s in scalars {
      let width = UTF8.width(s)
      sources.append(offset..<(offset + width))
      offset += width
    }
  }

  var text: String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(scalars.count)
    for s in scalars { UTF8.encode(s) { bytes.append($0) } }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// The original byte range of each byte of the text (a scalar's bytes share its range).
  var byteSources: [Range<Int>] {
    var out: [Range<Int>] = []
    out.reserveCapacity(scalars.count)
    for (s, source) in zip(scalars, sources) { out.append(contentsOf: repeatElement(source, count: UTF8.width(s))) }
    return out
  }

  /// HF's `NormalizedString::transform`: the text becomes `dest`. A scalar with change 0
  /// replaces the next original scalar, -n also removes the n after it, +1 is inserted and
  /// shares the range of the scalar before it.
  mutating func transform(_ dest: [(Unicode.Scalar, Int)]) {
    var next = 0
    var newSources: [Range<Int>] = []
    newSources.reserveCapacity(dest.count)
    for (_, change) in dest {
      if change > 0 {
        newSources.append(next > 0 ? sources[next - 1] : 0..<0)
      } else {
        newSources.append(sources[next])
        next += 1 - change
      }
    }
    scalars = dest.map(\.0)
    sources = newSources
  }

  /// Replaces each scalar by what `map` appends for it (nothing removes it); the new scalars
  /// share its range (HF's `map`, `filter` and `lowercase`).
  mutating func mapScalars(_ map: (Unicode.Scalar, inout [Unicode.Scalar]) -> Void) {
    var newScalars: [Unicode.Scalar] = []
    var newSources: [Range<Int>] = []
    newScalars.reserveCapacity(scalars.count)
    newSources.reserveCapacity(scalars.count)
    for (s, source) in zip(scalars, sources) {
      let before = newScalars.count
      map(s, &newScalars)
      newSources.append(contentsOf: repeatElement(source, count: newScalars.count - before))
    }
    scalars = newScalars
    sources = newSources
  }

  /// Each match of `pattern` replaced by `content`, whose scalars share the range of the
  /// match's last scalar (as HF's `replace` aligns them).
  mutating func replace(_ pattern: TextPattern, with content: String) {
    let matches = pattern.byteMatches(in: text)
    guard !matches.isEmpty else { return }
    var byteOffset = 0
    var m = 0
    var newScalars: [Unicode.Scalar] = []
    var newSources: [Range<Int>] = []
    for (s, source) in zip(scalars, sources) {
      let start = byteOffset
      byteOffset += UTF8.width(s)
      while m < matches.count && matches[m].upperBound <= start { m += 1 }
      if m < matches.count && matches[m].contains(start) {
        if byteOffset == matches[m].upperBound {
          for c in content.unicodeScalars {
            newScalars.append(c)
            newSources.append(source)
          }
        }
      } else {
        newScalars.append(s)
        newSources.append(source)
      }
    }
    scalars = newScalars
    sources = newSources
  }

  /// `prefix` in front of non-empty text, sharing the first scalar's range.
  mutating func prepend(_ prefix: String) {
    guard let first = sources.first else { return }
    scalars.insert(contentsOf: prefix.unicodeScalars, at: 0)
    sources.insert(contentsOf: repeatElement(first, count: prefix.unicodeScalars.count), at: 0)
  }

  /// Drops leading and/or trailing whitespace.
  mutating func strip(left: Bool, right: Bool) {
    var end = scalars.count
    if right { while end > 0 && scalars[end - 1].properties.isWhitespace { end -= 1 } }
    var start = 0
    if left { while start < end && scalars[start].properties.isWhitespace { start += 1 } }
    scalars = Array(scalars[start..<end])
    sources = Array(sources[start..<end])
  }

  /// Unicode normalization with the alignment HF gets from `unicode-normalization-alignments`:
  /// each scalar decomposes (its first part replaces it, the rest are inserted), combining
  /// marks are put in canonical order, and for the composed forms a starter absorbs the marks
  /// it composes with (one change less for each).
  ///
  /// Text is cut before each scalar that no normalization touches and that nothing composes with
  /// (ASCII, Latin-1 controls; for the composed forms Hangul syllables and CJK ideographs too):
  /// the pieces normalize independently, so only those around other scalars do any work.
  mutating func unicodeNormalize(compatibility: Bool, compose: Bool) {
    func isInert(_ s: Unicode.Scalar) -> Bool { s.value < 0xA0 || (compose && composedFormKeeps(s)) }
    var dest: [(Unicode.Scalar, Int)] = []
    dest.reserveCapacity(scalars.count)
    var start = 0
    while start < scalars.count {
      var end = start + 1
      while end < scalars.count && !isInert(scalars[end]) { end += 1 }
      if end - start == 1 && isInert(scalars[start]) {
        dest.append((scalars[start], 0))
      } else {
        dest += Self.normalized(scalars[start..<end], compatibility: compatibility, compose: compose)
      }
      start = end
    }
    transform(dest)
  }

  /// One piece's normalization with each scalar's change.
  private static func normalized(_ piece: ArraySlice<Unicode.Scalar>, compatibility: Bool, compose: Bool) -> [(Unicode.Scalar, Int)] {
    var items: [(ccc: UInt8, scalar: Unicode.Scalar, change: Int)] = []
    for s in piece {
      for (k, d) in UnicodeTables.decomposition(s, compatibility: compatibility).enumerated() {
        items.append((d.properties.canonicalCombiningClass.rawValue, d, k == 0 ? 0 : 1))
      }
    }
    // Canonical ordering: each run of non-starters sorted stably by combining class.
    var i = 0
    while i < items.count {
      guard items[i].ccc != 0 else {
        i += 1
        continue
      }
      var j = i
      while j < items.count && items[j].ccc != 0 { j += 1 }
      if j - i > 1 {
        let sorted = items[i..<j].enumerated().sorted { ($0.element.ccc, $0.offset) < ($1.element.ccc, $1.offset) }
        items.replaceSubrange(i..<j, with: sorted.map(\.element))
      }
      i = j
    }
    let decomposed = items.map { ($0.scalar, $0.change) }
    return compose ? recompose(decomposed) : decomposed
  }

  /// The canonical composition of decomposed text, as `unicode-normalization`'s
  /// `Recompositions` iterator does it, carrying each scalar's change.
  private static func recompose(_ input: [(Unicode.Scalar, Int)]) -> [(Unicode.Scalar, Int)] {
    var out: [(Unicode.Scalar, Int)] = []
    out.reserveCapacity(input.count)
    var composee: (Unicode.Scalar, Int)?
    var lastClass: UInt8?
    var blocked: [(Unicode.Scalar, Int)] = []
    for (ch, change) in input {
      let cls = ch.properties.canonicalCombiningClass.rawValue
      guard let k = composee else {
        if cls == 0 { composee = (ch, change) } else { out.append((ch, change)) }
        continue
      }
      if let last = lastClass, last >= cls {
        // `ch` is blocked from the starter.
        if cls == 0 {
          out.append(k)
          out += blocked
          blocked.removeAll()
          composee = (ch, change)
          lastClass = nil
        } else {
          blocked.append((ch, change))
          lastClass = cls
        }
        continue
      }
      if let composed = UnicodeTables.compose(k.0, ch) {
        composee = (composed, k.1 + change - 1)
      } else if lastClass == nil && cls == 0 {
        out.append(k)
        composee = (ch, change)
      } else {
        blocked.append((ch, change))
        lastClass = cls
      }
    }
    if let k = composee { out.append(k) }
    return out + blocked
  }
}

/// Single-scalar decompositions and pairwise compositions, from Foundation's normalization of
/// one or two scalars (Hangul by its arithmetic), memoised for the process.
private enum UnicodeTables {
  private static let decompositions = Mutex<[UInt32: [Unicode.Scalar]]>([:])
  private static let compositions = Mutex<[UInt64: Unicode.Scalar?]>([:])

  static func decomposition(_ s: Unicode.Scalar, compatibility: Bool) -> [Unicode.Scalar] {
    if s.value < 0xA0 { return [s] }
    let key = s.value | (compatibility ? 1 << 31 : 0)
    if let d = decompositions.withLock({ $0[key] }) { return d }
    let one = String(s)
    let d = Array((compatibility ? one.decomposedStringWithCompatibilityMapping : one.decomposedStringWithCanonicalMapping).unicodeScalars)
    decompositions.withLock { $0[key] = d }
    return d
  }

  static func compose(_ a: Unicode.Scalar, _ b: Unicode.Scalar) -> Unicode.Scalar? {
    let (l, v) = (a.value, b.value)
    // Hangul: L + V → LV, LV + T → LVT.
    if (0x1100...0x1112).contains(l) && (0x1161...0x1175).contains(v) {
      return Unicode.Scalar(0xAC00 + ((l - 0x1100) * 21 + (v - 0x1161)) * 28)
    }
    if (0xAC00...0xD7A3).contains(l) && (l - 0xAC00) % 28 == 0 && (0x11A8...0x11C2).contains(v) {
      return Unicode.Scalar(l + v - 0x11A7)
    }
    if v < 0x300 { return nil }
    let key = UInt64(l) << 32 | UInt64(v)
    if let c = compositions.withLock({ $0[key] }) { return c }
    let composed = (String(a) + String(b)).precomposedStringWithCanonicalMapping.unicodeScalars
    let c = composed.count == 1 ? composed.first : nil
    compositions.withLock { $0[key] = c }
    return c
  }
}

extension Normalizer {
  /// `text` normalized, with the original byte range of each byte of the result — nil when
  /// every byte stayed where it was (each step left the text as it is, or mapped each scalar to
  /// one of the same UTF-8 width, as lowercasing ASCII does). Each step runs once; the alignment
  /// is built only from the first step that moves bytes.
  func normalizedWithSources(_ text: String) -> (text: String, sources: [Range<Int>]?) {
    var steps: [Normalizer] = []
    func flatten(_ n: Normalizer) { if case .sequence(let inner) = n { inner.forEach(flatten) } else { steps.append(n) } }
    flatten(self)
    var current = text
    var aligned: AlignedText?
    for step in steps {
      if step.isUnicodeNormalization {
        // Aligned, a Unicode normalization is worked out piece by piece around the scalars it
        // may change: no need to normalize the whole text with Foundation first.
        if step.leavesAsItIs(current) { continue }
        let fresh = aligned == nil
        if fresh { aligned = AlignedText(current) }
        step.align(&aligned!)
        let next = aligned!.text
        // Left as it was (NFKC keeps most of `·`, `①` aside), the alignment is still the identity.
        if fresh && next.utf8.elementsEqual(current.utf8) { aligned = nil }
        current = next
        continue
      }
      let next = step.normalize(current)
      if next.utf8.elementsEqual(current.utf8) { continue }
      if aligned == nil && step.mapsScalarsInPlace(current, to: next) {
        current = next
        continue
      }
      // The steps before kept every byte in place: the current text's own byte ranges are
      // the original's.
      if aligned == nil { aligned = AlignedText(current) }
      step.align(&aligned!)
      current = next
    }
    guard let aligned else { return (current, nil) }
    // Should Foundation's normalization and the aligned one ever differ, every byte comes from
    // the whole text rather than from a wrong place.
    return (current, aligned.text.utf8.elementsEqual(current.utf8) ? aligned.byteSources
                       : Array(repeating: 0..<text.utf8.count, count: current.utf8.count))
  }

  /// NFC, NFD, NFKC or NFKD.
  private var isUnicodeNormalization: Bool {
    switch self {
    case .nfc, .nfd, .nfkc, .nfkd: true
    default: false
    }
  }

  /// Whether this Unicode normalization is known to leave `text` as it is without running it.
  private func leavesAsItIs(_ text: String) -> Bool {
    switch self {
    case .nfc, .nfkc: composedFormIsItself(text)
    default: text.utf8.allSatisfy { $0 < 0x80 }
    }
  }

  /// Whether this step turned `text` into `result` scalar for scalar, each of the same UTF-8
  /// width (lowercasing, when no scalar lowercases into several or into a wider one).
  private func mapsScalarsInPlace(_ text: String, to result: String) -> Bool {
    guard case .lowercase = self, text.utf8.count == result.utf8.count,
      text.unicodeScalars.count == result.unicodeScalars.count
    else { return false }
    return zip(text.unicodeScalars, result.unicodeScalars).allSatisfy { UTF8.width($0) == UTF8.width($1) }
  }

  /// Normalizes `text` keeping the alignment (same result as `normalize`).
  func align(_ text: inout AlignedText) {
    switch self {
    case .nfc: text.unicodeNormalize(compatibility: false, compose: true)
    case .nfd: text.unicodeNormalize(compatibility: false, compose: false)
    case .nfkc: text.unicodeNormalize(compatibility: true, compose: true)
    case .nfkd: text.unicodeNormalize(compatibility: true, compose: false)
    case .lowercase: text.mapScalars { s, out in appendLowercase(s, to: &out) }
    case .strip(let left, let right): text.strip(left: left, right: right)
    case .replace(let pattern, let content): text.replace(pattern, with: content)
    case .prepend(let prefix): text.prepend(prefix)
    case .stripAccents:
      text.mapScalars { s, out in if s.properties.generalCategory != .nonspacingMark { out.append(s) } }
    case .bert(let clean, let chinese, let strip, let lower):
      text.mapScalars { s, out in appendBERTCleaned(s, clean: clean, chinese: chinese, to: &out) }
      if strip ?? lower { Normalizer.sequence([.nfd, .stripAccents]).align(&text) }
      if lower { Normalizer.lowercase.align(&text) }
    case .sequence(let steps):
      // A step that leaves the text as it is (NFKC on most text) keeps the alignment.
      for step in steps {
        let before = text.text
        if !step.normalize(before).utf8.elementsEqual(before.utf8) { step.align(&text) }
      }
    }
  }
}
