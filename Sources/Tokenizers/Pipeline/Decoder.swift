/// The last stage of a pipeline (HF `decoders`): turns token strings back into text.
public indirect enum Decoder: Sendable, Equatable {
  /// GPT-2 byte-level: characters back to bytes, then UTF-8 (invalid bytes become U+FFFD).
  case byteLevel(ByteLevelOptions)
  /// WordPiece: tokens after the first get a space unless they carry `prefix`, which is
  /// removed; `cleanup` then tidies spaces before punctuation, token by token (as HF).
  case wordPiece(prefix: String, cleanup: Bool)
  /// Metaspace: the replacement character becomes a space (dropped in the first token
  /// unless `prependScheme` is `never`).
  case metaspace(MetaspaceOptions)
  /// BPE with an end-of-word suffix: the suffix becomes a space (nothing in the last token).
  case bpe(suffix: String)
  /// Runs of `<0xXX>` tokens become the text of their bytes (U+FFFD per byte if invalid).
  case byteFallback
  /// All tokens joined into one.
  case fuse
  /// Removes up to `start` leading and `stop` trailing `content` characters of each token.
  case strip(content: Unicode.Scalar, start: Int, stop: Int)
  case replace(pattern: TextPattern, content: String)
  case sequence([Decoder])

  /// The text of `tokens`.
  public func decode(_ tokens: [String]) -> String { decodeChain(tokens).joined() }

  func decodeChain(_ tokens: [String]) -> [String] {
    switch self {
    case .byteLevel:
      var bytes: [UInt8] = []
      for t in tokens { ByteLevel.decode(t, into: &bytes) }
      return [String(decoding: bytes, as: UTF8.self)]
    case .wordPiece(let prefix, let cleanup):
      return tokens.enumerated().map { i, token in
        var t = token
        if i != 0 { t = t.startsWithBytes(prefix) ? t.trimmingBytes(prefix: prefix.utf8.count) : " " + t }
        return cleanup ? wordPieceCleanup(t) : t
      }
    case .metaspace(let options):
      return tokens.enumerated().map { i, token in
        var view = String.UnicodeScalarView()
        for s in token.unicodeScalars {
          if s == options.replacement {
            if !(i == 0 && options.prependScheme != "never") { view.append(" ") }
          } else {
            view.append(s)
          }
        }
        return String(view)
      }
    case .bpe(let suffix):
      return tokens.enumerated().map { i, token in
        TextPattern.string(suffix).replacing(in: token, with: i == tokens.count - 1 ? "" : " ")
      }
    case .byteFallback:
      var out: [String] = []
      var pending: [UInt8] = []
      func flush() {
        guard !pending.isEmpty else { return }
        if let text = String(validating: pending, as: UTF8.self) {
          out.append(text)
        } else {
          out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
        }
        pending = []
      }
      for token in tokens {
        if let b = parseByteToken(token) {
          pending.append(b)
        } else {
          flush()
          out.append(token)
        }
      }
      flush()
      return out
    case .fuse:
      return [tokens.joined()]
    case .strip(let content, let start, let stop):
      return tokens.map { token in
        var scalars = Substring(token).unicodeScalars[...]
        var n = 0
        while n < start, scalars.first == content { scalars.removeFirst(); n += 1 }
        n = 0
        while n < stop, scalars.last == content { scalars.removeLast(); n += 1 }
        return String(String.UnicodeScalarView(scalars))
      }
    case .replace(let pattern, let content):
      return tokens.map { pattern.replacing(in: $0, with: content) }
    case .sequence(let steps):
      return steps.reduce(tokens) { $1.decodeChain($0) }
    }
  }
}

/// HF's WordPiece cleanup (applied to each token on its own).
private func wordPieceCleanup(_ text: String) -> String {
  var t = text
  for (from, to) in [
    (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
    (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
  ] where t.utf8.count >= from.utf8.count {
    t = TextPattern.string(from).replacing(in: t, with: to)
  }
  return t
}

/// The byte of a `<0xXX>` token.
private func parseByteToken(_ token: String) -> UInt8? {
  let u = Array(token.utf8)
  guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"),
        u[5] == UInt8(ascii: ">") else { return nil }
  return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
}

// MARK: - tokenizer.json

extension Decoder {
  init(json: JSONField) throws(TokenizerError) {
    switch try json.type {
    case "ByteLevel": self = .byteLevel(try ByteLevelOptions(json: json))
    case "WordPiece":
      self = .wordPiece(prefix: try json.string("prefix", default: "##"), cleanup: try json.bool("cleanup", default: true))
    case "Metaspace": self = .metaspace(try MetaspaceOptions(json: json))
    case "BPEDecoder": self = .bpe(suffix: try json.string("suffix", default: "</w>"))
    case "ByteFallback": self = .byteFallback
    case "Fuse": self = .fuse
    case "Strip":
      self = .strip(content: try json.scalar("content", default: " "), start: try json.optional("start")?.int ?? 0,
                    stop: try json.optional("stop")?.int ?? 0)
    case "Replace":
      self = .replace(pattern: try TextPattern(json: try json.at("pattern")), content: try json.at("content").string)
    case "Sequence": self = .sequence(try json.list("decoders") { (item) throws(TokenizerError) in try Decoder(json: item) })
    case let type:
      throw json.unknownType(type, known: [
        "ByteLevel", "WordPiece", "Metaspace", "BPEDecoder", "ByteFallback", "Fuse", "Strip", "Replace", "Sequence",
      ])
    }
  }

  var json: JSONValue {
    switch self {
    case .byteLevel(let options): return options.json
    case .wordPiece(let prefix, let cleanup):
      return .members(["type": "WordPiece", "prefix": .string(prefix), "cleanup": .bool(cleanup)])
    case .metaspace(let options): return options.json
    case .bpe(let suffix): return .members(["type": "BPEDecoder", "suffix": .string(suffix)])
    case .byteFallback: return .members(["type": "ByteFallback"])
    case .fuse: return .members(["type": "Fuse"])
    case .strip(let content, let start, let stop):
      return .members(["type": "Strip", "content": .string(String(content)), "start": .int(start), "stop": .int(stop)])
    case .replace(let pattern, let content):
      return .members(["type": "Replace", "pattern": pattern.json, "content": .string(content)])
    case .sequence(let steps): return .members(["type": "Sequence", "decoders": .array(steps.map(\.json))])
    }
  }
}
