/// How encodings are cut to a maximum length (HF `enable_truncation`, the `truncation` section
/// of tokenizer.json). The cut-off tokens become `overflowing` encodings, each overlapping
/// the previous part by `stride` tokens.
public struct Truncation: Sendable, Equatable {
  public enum Strategy: String, Sendable, CaseIterable {
    /// Cut the longer sequence of a pair first, down to an even split.
    case longestFirst = "LongestFirst"
    case onlyFirst = "OnlyFirst"
    case onlySecond = "OnlySecond"
  }

  public enum Direction: String, Sendable, CaseIterable {
    /// Keep the end and cut the start.
    case left = "Left"
    /// Keep the start and cut the end.
    case right = "Right"
  }

  /// The most tokens an encoding keeps, the post-processor's special tokens included.
  public var maxLength: Int
  /// Tokens of the previous part repeated at the start of each overflowing part.
  public var stride: Int
  public var strategy: Strategy
  public var direction: Direction

  public init(maxLength: Int, stride: Int = 0, strategy: Strategy = .longestFirst, direction: Direction = .right) {
    self.maxLength = maxLength
    self.stride = stride
    self.strategy = strategy
    self.direction = direction
  }
}

/// How encodings are padded (HF `enable_padding`, the `padding` section of tokenizer.json).
public struct Padding: Sendable, Equatable {
  public enum Strategy: Sendable, Equatable {
    /// To the longest encoding of the batch (a single encoding is its own batch).
    case batchLongest
    /// To this many tokens (longer encodings are left as they are).
    case fixed(Int)
  }

  public enum Direction: String, Sendable, CaseIterable {
    case left = "Left"
    case right = "Right"
  }

  public var strategy: Strategy
  public var direction: Direction
  /// Rounds the length up to a multiple of this.
  public var padToMultipleOf: Int?
  public var padId: Int
  public var padTypeId: Int
  public var padToken: String

  public init(
    strategy: Strategy = .batchLongest, direction: Direction = .right, padToMultipleOf: Int? = nil, padId: Int = 0,
    padTypeId: Int = 0, padToken: String = "[PAD]"
  ) {
    self.strategy = strategy
    self.direction = direction
    self.padToMultipleOf = padToMultipleOf
    self.padId = padId
    self.padTypeId = padTypeId
    self.padToken = padToken
  }
}

// MARK: - Encoding operations (HF `Encoding::truncate`, `merge_with`, `pad`)

extension PipelineEncoding {
  /// Tokens `range` as an encoding of their own (no overflowing parts).
  func slice(_ range: Range<Int>) -> PipelineEncoding {
    var out = PipelineEncoding()
    out.ids = Array(ids[range])
    out.tokens = Array(tokens[range])
    out.typeIds = Array(typeIds[range])
    if hasOffsets {
      out.offsets = Array(offsets[range])
      out.byteOffsets = Array(byteOffsets[range])
    }
    out.specialTokensMask = Array(specialTokensMask[range])
    out.attentionMask = Array(attentionMask[range])
    return out
  }

  /// Keeps `maxLength` tokens; the rest become overflowing parts of `maxLength` tokens that
  /// each repeat `stride` tokens of the part before.
  mutating func truncate(_ maxLength: Int, stride: Int, direction: Truncation.Direction) throws(TokenizerError) {
    let count = ids.count
    guard maxLength < count else { return }
    if maxLength == 0 {
      let all = self
      self = PipelineEncoding()
      overflowing = [all]
      return
    }
    guard stride < maxLength else {
      throw .truncation("the stride (\(stride)) must be less than the length left for the sequence (\(maxLength), after the special tokens); lower --stride or raise the maximum length")
    }
    let step = maxLength - stride
    var parts: [Range<Int>] = []
    switch direction {
    case .right:
      var start = 0
      while true {
        let stop = min(start + maxLength, count)
        parts.append(start..<stop)
        if stop == count { break }
        start += step
      }
    case .left:
      var stop = count
      while true {
        let start = max(stop - maxLength, 0)
        parts.append(start..<stop)
        if start == 0 { break }
        stop -= step
      }
    }
    let whole = self
    self = whole.slice(parts[0])
    overflowing = parts.dropFirst().map { whole.slice($0) }
  }

  /// This encoding followed by `pair`, overflowing parts combined as HF's `merge_with` does:
  /// each of ours with the pair (and with each of its parts), then ourselves with each of its parts.
  func merged(with pair: PipelineEncoding) -> PipelineEncoding {
    var parts: [PipelineEncoding] = []
    for mine in overflowing {
      parts.append(mine.merged(with: pair))
      for theirs in pair.overflowing { parts.append(mine.merged(with: theirs)) }
    }
    for theirs in pair.overflowing { parts.append(merged(with: theirs)) }
    var out = self
    out.append(pair)
    out.overflowing = parts
    return out
  }

  /// Encodings joined in order (HF `Encoding::merge`).
  static func merge(_ encodings: [PipelineEncoding]) -> PipelineEncoding {
    encodings.dropFirst().reduce(encodings.first ?? PipelineEncoding()) { $0.merged(with: $1) }
  }

  /// Padded to `length` tokens (overflowing parts too); a longer encoding is left as it is.
  func padded(to length: Int, _ padding: Padding) -> PipelineEncoding {
    var out = self
    out.overflowing = overflowing.map { $0.padded(to: length, padding) }
    let n = length - ids.count
    guard n > 0 else { return out }
    func pad<T>(_ array: inout [T], _ value: T) {
      if padding.direction == .left { array.insert(contentsOf: repeatElement(value, count: n), at: 0) } else {
        array.append(contentsOf: repeatElement(value, count: n))
      }
    }
    pad(&out.ids, padding.padId)
    pad(&out.tokens, padding.padToken)
    pad(&out.typeIds, padding.padTypeId)
    if hasOffsets {
      pad(&out.offsets, 0..<0)
      pad(&out.byteOffsets, 0..<0)
    }
    pad(&out.specialTokensMask, 1)
    pad(&out.attentionMask, 0)
    return out
  }
}

extension Padding {
  /// The length `encodings` are padded to.
  func length(for encodings: [PipelineEncoding]) -> Int {
    var length: Int
    switch strategy {
    case .fixed(let n): length = n
    case .batchLongest: length = encodings.map(\.ids.count).max() ?? 0
    }
    if let multiple = padToMultipleOf, multiple > 0, length % multiple > 0 { length += multiple - length % multiple }
    return length
  }
}

extension Truncation {
  /// Cuts `a` and `b` (a pair's second sequence) to `maxLength` tokens in all (HF
  /// `truncate_encodings`).
  func truncate(_ a: inout PipelineEncoding, _ b: inout PipelineEncoding?, maxLength: Int) throws(TokenizerError) {
    if maxLength == 0 {
      try a.truncate(0, stride: stride, direction: direction)
      try b?.truncate(0, stride: stride, direction: direction)
      return
    }
    let total = a.ids.count + (b?.ids.count ?? 0)
    guard total > maxLength else { return }
    let excess = total - maxLength
    switch strategy {
    case .longestFirst:
      guard var second = b else {
        try a.truncate(maxLength, stride: stride, direction: direction)
        return
      }
      // n1 the shorter sequence's length, n2 the longer's.
      var (n1, n2) = (a.ids.count, second.ids.count)
      let swapped = n1 > n2
      if swapped { swap(&n1, &n2) }
      n2 = n1 > maxLength ? n1 : max(n1, maxLength - n1)
      if n1 + n2 > maxLength {
        n1 = maxLength / 2
        n2 = n1 + maxLength % 2
      }
      if swapped { swap(&n1, &n2) }
      try a.truncate(n1, stride: stride, direction: direction)
      try second.truncate(n2, stride: stride, direction: direction)
      b = second
    case .onlyFirst, .onlySecond:
      if strategy == .onlySecond && b == nil {
        throw .truncation("truncation only_second needs a pair of sequences; give the second one or truncate longest_first")
      }
      let length = strategy == .onlyFirst ? a.ids.count : b!.ids.count
      guard length > excess else {
        throw .truncation("the \(strategy == .onlyFirst ? "first" : "second") sequence (\(length) tokens) is too short to cut \(excess) tokens from; raise the maximum length or truncate longest_first")
      }
      if strategy == .onlyFirst {
        try a.truncate(length - excess, stride: stride, direction: direction)
      } else {
        try b!.truncate(length - excess, stride: stride, direction: direction)
      }
    }
  }
}

// MARK: - tokenizer.json

extension Truncation {
  init(json: JSONField) throws(TokenizerError) {
    func named<E: RawRepresentable & CaseIterable>(_ key: String, _ fallback: E) throws(TokenizerError) -> E where E.RawValue == String {
      guard let field = try json.optional(key) else { return fallback }
      let name = try field.string
      guard let value = E(rawValue: name) else {
        throw field.error("unknown value '\(name)' (known: \(E.allCases.map(\.rawValue).joined(separator: ", ")))")
      }
      return value
    }
    let maxLength = try json.at("max_length").int
    let stride = try json.optional("stride")?.int ?? 0
    guard maxLength >= 0, stride >= 0 else { throw json.error("max_length and stride must not be negative") }
    self.init(maxLength: maxLength, stride: stride, strategy: try named("strategy", .longestFirst),
              direction: try named("direction", .right))
  }

  var json: JSONValue {
    .members([
      "direction": .string(direction.rawValue), "max_length": .int(maxLength), "strategy": .string(strategy.rawValue),
      "stride": .int(stride),
    ])
  }
}

extension Padding {
  init(json: JSONField) throws(TokenizerError) {
    var strategy = Strategy.batchLongest
    if let field = try json.optional("strategy") {
      if case .string(let name) = field.value, name == "BatchLongest" {
        strategy = .batchLongest
      } else if let fixed = try? field.at("Fixed").int, fixed >= 0 {
        strategy = .fixed(fixed)
      } else {
        throw field.error("expected \"BatchLongest\" or {\"Fixed\": length}")
      }
    }
    let directionName = try json.optional("direction")?.string ?? "Right"
    guard let direction = Direction(rawValue: directionName) else {
      throw try json.at("direction").error("unknown value '\(directionName)' (known: Left, Right)")
    }
    let multiple = try json.optional("pad_to_multiple_of").map { (f: JSONField) throws(TokenizerError) in try f.int }
    if let multiple, multiple < 0 { throw try json.at("pad_to_multiple_of").error("must not be negative") }
    self.init(
      strategy: strategy, direction: direction, padToMultipleOf: multiple, padId: try json.optional("pad_id")?.int ?? 0,
      padTypeId: try json.optional("pad_type_id")?.int ?? 0, padToken: try json.optional("pad_token")?.string ?? "[PAD]")
  }

  var json: JSONValue {
    let strategyJSON: JSONValue
    switch strategy {
    case .batchLongest: strategyJSON = "BatchLongest"
    case .fixed(let n): strategyJSON = .members(["Fixed": .int(n)])
    }
    return .members([
      "strategy": strategyJSON, "direction": .string(direction.rawValue),
      "pad_to_multiple_of": padToMultipleOf.map(JSONValue.int) ?? .null, "pad_id": .int(padId),
      "pad_type_id": .int(padTypeId), "pad_token": .string(padToken),
    ])
  }
}
