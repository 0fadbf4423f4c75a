import FileSupport
import Foundation

extension PipelineTokenizer {
  /// Reads a HF `tokenizer.json` (or a folder holding one); errors name the file and the field.
  public init(file path: String) throws(TokenizerError) {
    var isDirectory: ObjCBool = false
    let file = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
      ? path + "/tokenizer.json" : path
    try self.init(document: { () throws(TokenizerError) in try JSONValue(parsing: try readText(file)) }, path: file)
  }

  /// Builds the tokenizer from the document `read` returns; JSON errors name `path`.
  init(document read: () throws(TokenizerError) -> JSONValue, path: String) throws(TokenizerError) {
    do {
      try self.init(json: try read())
    } catch .invalidJSON(let field, let reason) {
      throw .file(.malformed(path: path, line: 0, reason: field.isEmpty ? "invalid JSON: \(reason)" : "field `\(field)`: \(reason)"))
    }
  }

  /// Builds the tokenizer a `tokenizer.json` document describes.
  public init(json value: JSONValue) throws(TokenizerError) {
    let json = JSONField(value)
    let model = try subwordModel(json: try json.at("model"))
    // An added token takes its own id: one the model gives another token, one two added tokens
    // share, or one far beyond the vocabulary is an error (HF keeps one of them silently).
    var added: [AddedToken] = []
    var addedIDs: [Int: String] = [:]
    let items = try json.optional("added_tokens")?.array ?? []
    for item in items {
      let token = try AddedToken(json: item)
      let other = addedIDs[token.id] ?? model.vocab.token(token.id)
      if let other, !other.utf8.elementsEqual(token.content.utf8) {
        throw try item.at("id").error("id \(token.id) is also the id of \(other.debugDescription)")
      }
      guard token.id < Vocabulary.idLimit(model.vocab.count + items.count) else {
        throw try item.at("id").error("id \(token.id) is out of range for a vocabulary of \(model.vocab.count + items.count) tokens")
      }
      addedIDs[token.id] = token.content
      added.append(token)
    }
    self.init(
      normalizer: try json.optional("normalizer").map { (f: JSONField) throws(TokenizerError) in try Normalizer(json: f) },
      preTokenizer: try json.optional("pre_tokenizer").map { (f: JSONField) throws(TokenizerError) in try PreTokenizer(json: f) },
      model: model,
      postProcessor: try json.optional("post_processor").map { (f: JSONField) throws(TokenizerError) in try PostProcessor(json: f) },
      decoder: try json.optional("decoder").map { (f: JSONField) throws(TokenizerError) in try Decoder(json: f) },
      addedTokens: added)
    truncation = try json.optional("truncation").map { (f: JSONField) throws(TokenizerError) in try Truncation(json: f) }
    padding = try json.optional("padding").map { (f: JSONField) throws(TokenizerError) in try Padding(json: f) }
  }

  /// The tokenizer as a `tokenizer.json` document, members in HF's order.
  public var json: JSONValue {
    .members([
      "version": "1.0", "truncation": truncation?.json ?? .null, "padding": padding?.json ?? .null, "added_tokens": .array(addedTokens.map(\.json)),
      "normalizer": normalizer?.json ?? .null, "pre_tokenizer": preTokenizer?.json ?? .null,
      "post_processor": postProcessor?.json ?? .null, "decoder": decoder?.json ?? .null, "model": model.json,
    ])
  }

  /// Writes `tokenizer.json` as HF's `Tokenizer.save` does (pretty, no final newline), atomically.
  public func save(to path: String) throws(TokenizerError) {
    try writeText(path, json.prettyText)
  }

  /// Writes the folder `PreTrainedTokenizerFast.from_pretrained` loads: `tokenizer.json`,
  /// `tokenizer_config.json` and `special_tokens_map.json`. Special tokens get their usual
  /// roles by name (`<|endoftext|>` is bos/eos/unk as in GPT-2, `[CLS]` is cls, `</s>` eos, …).
  public func saveFolder(to folder: String) throws(TokenizerError) {
    try fileAccess(TokenizerError.file) { () throws(FileError) in try createFolder(folder) }
    try save(to: folder + "/tokenizer.json")
    let roles: [(String, [String])] = [
      ("bos_token", ["<s>", "<|endoftext|>", "<|begin_of_text|>", "<bos>"]),
      ("eos_token", ["</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>"]),
      ("unk_token", ["[UNK]", "<unk>", "<|endoftext|>"]),
      ("sep_token", ["[SEP]"]), ("pad_token", ["[PAD]", "<pad>"]), ("cls_token", ["[CLS]"]),
      ("mask_token", ["[MASK]", "<mask>"]),
    ]
    var map: [JSONMember] = []
    var used = Set<String>()
    for (role, names) in roles {
      if let name = names.first(where: { n in addedTokens.contains { $0.special && $0.content == n } }) {
        map.append(JSONMember(role, .string(name)))
        used.insert(name)
      }
    }
    let others = addedTokens.filter { $0.special && !used.contains($0.content) }.map { JSONValue.string($0.content) }
    if !others.isEmpty { map.append(JSONMember("additional_special_tokens", .array(others))) }
    var config: [JSONMember] = [
      JSONMember("added_tokens_decoder", .object(addedTokens.map { t in
        JSONMember(String(t.id), .members([
          "content": .string(t.content), "lstrip": .bool(t.leftStrip), "normalized": .bool(t.normalized),
          "rstrip": .bool(t.rightStrip), "single_word": .bool(t.singleWord), "special": .bool(t.special),
        ]))
      })),
      JSONMember("clean_up_tokenization_spaces", .bool(false)),
    ]
    config += map
    config.append(JSONMember("model_max_length", .int(1 << 40)))
    config.append(JSONMember("tokenizer_class", "PreTrainedTokenizerFast"))
    try writeText(folder + "/tokenizer_config.json", JSONValue.object(config).prettyText + "\n")
    try writeText(folder + "/special_tokens_map.json", JSONValue.object(map).prettyText + "\n")
  }
}
