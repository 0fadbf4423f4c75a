/// The fourth stage of a pipeline (HF `processors`): adds special tokens around the encoded
/// sequence(s), e.g. `[CLS] $A [SEP]` or `$A <|endoftext|>`.
public indirect enum PostProcessor: Sendable, Equatable {
  /// HF's `TemplateProcessing`: `single` and `pair` are lists of template pieces.
  case template(single: [TemplatePiece], pair: [TemplatePiece], specialTokens: [TemplateToken])
  case bert(sep: TemplateToken, cls: TemplateToken)
  case roberta(sep: TemplateToken, cls: TemplateToken, trimOffsets: Bool, addPrefixSpace: Bool)
  /// Byte-level offset trimming only; ids are unchanged.
  case byteLevel(ByteLevelOptions)
  case sequence([PostProcessor])

  /// Combines the encoded sequence `a` (and `b` for a pair) with the special tokens (none
  /// when `addSpecialTokens` is false; a template still sets the type ids). Overflowing
  /// parts are combined as HF does.
  public func process(_ a: PipelineEncoding, _ b: PipelineEncoding?, addSpecialTokens: Bool = true) -> PipelineEncoding {
    PipelineEncoding.merge(processEncodings([a] + (b.map { [$0] } ?? []), addSpecialTokens: addSpecialTokens))
  }

  /// HF's `process_encodings`: the encodings to merge, in order. A sequence of processors
  /// passes the list from one to the next.
  private func processEncodings(_ encodings: [PipelineEncoding], addSpecialTokens: Bool) -> [PipelineEncoding] {
    switch self {
    case .template(let single, let pair, let specials):
      var out: [PipelineEncoding] = []
      for piece in encodings.count >= 2 ? pair : single {
        switch piece {
        case .sequence(let second, let typeId):
          guard var encoding = second ? (encodings.count >= 2 ? encodings[1] : nil) : encodings.first else { continue }
          encoding.typeIds = Array(repeating: typeId, count: encoding.ids.count)
          out.append(encoding)
        case .special(let name, let typeId):
          if addSpecialTokens, let token = specials.first(where: { $0.name == name }) {
            var encoding = PipelineEncoding(special: token.ids, tokens: token.tokens)
            encoding.typeIds = Array(repeating: typeId, count: token.ids.count)
            out.append(encoding)
          }
        }
      }
      return out
    case .bert, .roberta:
      guard addSpecialTokens, let template = templateEquivalent else { return encodings }
      return template.processEncodings(encodings, addSpecialTokens: true)
    case .byteLevel:
      return encodings
    case .sequence(let steps):
      return steps.reduce(encodings) { $1.processEncodings($0, addSpecialTokens: addSpecialTokens) }
    }
  }

  /// BERT's and RoBERTa's processors as templates.
  private var templateEquivalent: PostProcessor? {
    switch self {
    case .bert(let sep, let cls):
      return .template(
        single: [.special(cls.name, 0), .sequence(false, 0), .special(sep.name, 0)],
        pair: [.special(cls.name, 0), .sequence(false, 0), .special(sep.name, 0), .sequence(true, 1), .special(sep.name, 1)],
        specialTokens: [cls, sep])
    case .roberta(let sep, let cls, _, _):
      return .template(
        single: [.special(cls.name, 0), .sequence(false, 0), .special(sep.name, 0)],
        pair: [.special(cls.name, 0), .sequence(false, 0), .special(sep.name, 0), .special(sep.name, 0),
               .sequence(true, 0), .special(sep.name, 0)],
        specialTokens: [cls, sep])
    default: return nil
    }
  }

  /// How many tokens the processor adds to one sequence or a pair (what truncation leaves room for).
  func addedTokenCount(pair: Bool) -> Int {
    switch self {
    case .template(let single, let pairTemplate, let specials):
      return (pair ? pairTemplate : single).reduce(0) { count, piece in
        guard case .special(let name, _) = piece else { return count }
        return count + (specials.first { $0.name == name }?.ids.count ?? 0)
      }
    case .bert, .roberta: return templateEquivalent!.addedTokenCount(pair: pair)
    case .byteLevel: return 0
    case .sequence(let steps): return steps.reduce(0) { $0 + $1.addedTokenCount(pair: pair) }
    }
  }
}

extension PostProcessor {
  /// Nil unless the processor trims each sequence's offsets (byte-level and RoBERTa's
  /// `trim_offsets`); then whether it was told a prefix space was added.
  var offsetTrimming: Bool? {
    switch self {
    case .byteLevel(let options) where options.trimOffsets: return options.addPrefixSpace
    case .roberta(_, _, true, let addPrefixSpace): return addPrefixSpace
    case .sequence(let steps): return steps.lazy.compactMap(\.offsetTrimming).first
    default: return nil
    }
  }
}

extension PipelineEncoding {
  /// Character offsets without the spaces (`Ġ`, or whitespace) a token starts or ends with,
  /// except the space `addPrefixSpace` put before the first word (HF's byte-level
  /// `process_offsets`); byte offsets follow them in `text`, the sequence's text.
  func trimmingOffsets(_ addPrefixSpace: Bool, text: String) -> PipelineEncoding {
    guard hasOffsets else { return self }
    var out = self
    out.overflowing = overflowing.map { $0.trimmingOffsets(addPrefixSpace, text: text) }
    let space = ByteLevel.characters[0x20]
    for (i, token) in tokens.enumerated() {
      let scalars = token.unicodeScalars
      let isSpace = { (s: Unicode.Scalar) in s == space || s.properties.isWhitespace }
      var leading = scalars.prefix(while: isSpace).count
      let trailing = scalars.reversed().prefix(while: isSpace).count
      guard leading > 0 || trailing > 0 else { continue }
      if leading == 1 && addPrefixSpace && (i == 0 || offsets[i].lowerBound == 0) { leading = 0 }
      func trim(_ r: Range<Int>) -> Range<Int> {
        var (lower, upper) = (r.lowerBound, r.upperBound)
        if leading > 0 { lower = min(lower + leading, upper) }
        if trailing > 0 && upper >= trailing { upper = max(upper - trailing, lower) }
        return lower..<upper
      }
      out.offsets[i] = trim(offsets[i])
    }
    out.byteOffsets = Tokenizers.byteOffsets(out.offsets, in: text)
    return out
  }
}

extension PostProcessor {
  /// The same processor with its special tokens' ids looked up again (after training gave the
  /// tokens new ids); a token `id(of:)` does not know is an error.
  func renumbered(_ id: (String) -> Int?) throws(TokenizerError) -> PostProcessor {
    func token(_ t: TemplateToken) throws(TokenizerError) -> TemplateToken {
      var ids: [Int] = []
      for name in t.tokens {
        guard let new = id(name) else {
          throw .invalidSpecialToken("the post-processor uses \(name), which the trained vocabulary lacks; add it as a special token")
        }
        ids.append(new)
      }
      return TemplateToken(name: t.name, ids: ids, tokens: t.tokens)
    }
    switch self {
    case .template(let single, let pair, let specials):
      var renamed: [TemplateToken] = []
      for t in specials { renamed.append(try token(t)) }
      return .template(single: single, pair: pair, specialTokens: renamed)
    case .bert(let sep, let cls): return .bert(sep: try token(sep), cls: try token(cls))
    case .roberta(let sep, let cls, let trim, let prefix):
      return .roberta(sep: try token(sep), cls: try token(cls), trimOffsets: trim, addPrefixSpace: prefix)
    case .byteLevel: return self
    case .sequence(let steps):
      var renamed: [PostProcessor] = []
      for step in steps { renamed.append(try step.renumbered(id)) }
      return .sequence(renamed)
    }
  }
}

/// One piece of a `TemplateProcessing` template: `$A`/`$B` (`sequence`) or a special token.
public enum TemplatePiece: Sendable, Equatable {
  /// The first (`false`) or second (`true`) sequence, with its type id.
  case sequence(Bool, Int)
  case special(String, Int)
}

/// A special token used by a post-processor: its name, ids and token strings.
public struct TemplateToken: Sendable, Equatable {
  public var name: String
  public var ids: [Int]
  public var tokens: [String]
  public init(name: String, ids: [Int], tokens: [String]) {
    self.name = name
    self.ids = ids
    self.tokens = tokens
  }
}

// MARK: - tokenizer.json

extension PostProcessor {
  init(json: JSONField) throws(TokenizerError) {
    func pair(_ key: String) throws(TokenizerError) -> TemplateToken {
      let field = try json.at(key)
      let items = try field.array
      guard items.count == 2 else { throw field.error("expected [token, id]") }
      let name = try items[0].string
      return TemplateToken(name: name, ids: [try items[1].int], tokens: [name])
    }
    func template(_ key: String) throws(TokenizerError) -> [TemplatePiece] {
      var pieces: [TemplatePiece] = []
      for item in try json.at(key).array {
        if let s = try item.optional("Sequence") {
          let id = try s.at("id").string
          guard id == "A" || id == "B" else { throw try s.at("id").error("expected A or B") }
          pieces.append(.sequence(id == "B", try s.optional("type_id")?.int ?? 0))
        } else if let s = try item.optional("SpecialToken") {
          pieces.append(.special(try s.at("id").string, try s.optional("type_id")?.int ?? 0))
        } else {
          throw item.error("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}")
        }
      }
      return pieces
    }
    switch try json.type {
    case "TemplateProcessing":
      var specials: [TemplateToken] = []
      for (name, field) in try json.at("special_tokens").members {
        let ids = try field.at("ids").array.map { (f: JSONField) throws(TokenizerError) in try f.int }
        let tokens = try field.at("tokens").array.map { (f: JSONField) throws(TokenizerError) in try f.string }
        guard ids.count == tokens.count else { throw field.error("ids and tokens differ in length") }
        specials.append(TemplateToken(name: try field.optional("id")?.string ?? name, ids: ids, tokens: tokens))
      }
      let single = try template("single")
      let pair = try template("pair")
      for case .special(let name, _) in single + pair where !specials.contains(where: { $0.name == name }) {
        throw try json.at("special_tokens").error("the template uses '\(name)', which is not listed here")
      }
      self = .template(single: single, pair: pair, specialTokens: specials)
    case "BertProcessing": self = .bert(sep: try pair("sep"), cls: try pair("cls"))
    case "RobertaProcessing":
      self = .roberta(sep: try pair("sep"), cls: try pair("cls"), trimOffsets: try json.bool("trim_offsets", default: true),
                      addPrefixSpace: try json.bool("add_prefix_space", default: true))
    case "ByteLevel": self = .byteLevel(try ByteLevelOptions(json: json))
    case "Sequence": self = .sequence(try json.list("processors") { (item) throws(TokenizerError) in try PostProcessor(json: item) })
    case let type:
      throw json.unknownType(type, known: ["TemplateProcessing", "BertProcessing", "RobertaProcessing", "ByteLevel", "Sequence"])
    }
  }

  var json: JSONValue {
    func pieces(_ template: [TemplatePiece]) -> JSONValue {
      .array(template.map { piece in
        switch piece {
        case .sequence(let second, let typeId):
          return .members(["Sequence": .members(["id": .string(second ? "B" : "A"), "type_id": .int(typeId)])])
        case .special(let name, let typeId):
          return .members(["SpecialToken": .members(["id": .string(name), "type_id": .int(typeId)])])
        }
      })
    }
    func pair(_ t: TemplateToken) -> JSONValue { .array([.string(t.name), .int(t.ids.first ?? 0)]) }
    switch self {
    case .template(let single, let pair, let specials):
      return .members([
        "type": "TemplateProcessing", "single": pieces(single), "pair": pieces(pair),
        "special_tokens": .object(specials.map {
          JSONMember($0.name, .members([
            "id": .string($0.name), "ids": .array($0.ids.map(JSONValue.int)), "tokens": .array($0.tokens.map(JSONValue.string)),
          ]))
        }),
      ])
    case .bert(let sep, let cls): return .members(["type": "BertProcessing", "sep": pair(sep), "cls": pair(cls)])
    case .roberta(let sep, let cls, let trim, let prefix):
      return .members([
        "type": "RobertaProcessing", "sep": pair(sep), "cls": pair(cls), "trim_offsets": .bool(trim),
        "add_prefix_space": .bool(prefix),
      ])
    case .byteLevel(let options): return options.json
    case .sequence(let steps): return .members(["type": "Sequence", "processors": .array(steps.map(\.json))])
    }
  }
}
