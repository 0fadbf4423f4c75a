/// The options HF's byte-level pre-tokenizer, post-processor and decoder share.
public struct ByteLevelOptions: Sendable, Equatable {
  /// Put a space before text that does not start with one.
  public var addPrefixSpace: Bool
  /// As a post-processor: offsets leave out the spaces a token starts or ends with.
  public var trimOffsets: Bool
  /// Split with GPT-2's pattern before mapping bytes to characters.
  public var useRegex: Bool

  public init(addPrefixSpace: Bool = true, trimOffsets: Bool = true, useRegex: Bool = true) {
    self.addPrefixSpace = addPrefixSpace
    self.trimOffsets = trimOffsets
    self.useRegex = useRegex
  }

  init(json: JSONField) throws(TokenizerError) {
    self.init(
      addPrefixSpace: try json.bool("add_prefix_space", default: true),
      trimOffsets: try json.bool("trim_offsets", default: true), useRegex: try json.bool("use_regex", default: true))
  }

  var json: JSONValue {
    .members([
      "type": "ByteLevel", "add_prefix_space": .bool(addPrefixSpace), "trim_offsets": .bool(trimOffsets),
      "use_regex": .bool(useRegex),
    ])
  }
}

/// The options HF's Metaspace pre-tokenizer and decoder share.
public struct MetaspaceOptions: Sendable, Equatable {
  /// What spaces become (`▁`).
  public var replacement: Unicode.Scalar
  /// `always`, `first` (only at the start of the input) or `never` prepend the replacement.
  public var prependScheme: String
  /// Split before each replacement character.
  public var split: Bool

  public init(replacement: Unicode.Scalar = "▁", prependScheme: String = "always", split: Bool = true) {
    self.replacement = replacement
    self.prependScheme = prependScheme
    self.split = split
  }

  init(json: JSONField) throws(TokenizerError) {
    let scheme = try json.string("prepend_scheme", default: "always")
    guard ["always", "first", "never"].contains(scheme) else {
      throw try json.at("prepend_scheme").error("expected always, first or never")
    }
    self.init(replacement: try json.scalar("replacement", default: "▁"), prependScheme: scheme,
              split: try json.bool("split", default: true))
  }

  var json: JSONValue {
    .members([
      "type": "Metaspace", "replacement": .string(String(replacement)), "prepend_scheme": .string(prependScheme),
      "split": .bool(split),
    ])
  }
}
