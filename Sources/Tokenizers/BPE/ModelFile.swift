/// minbpe's file formats:
///
/// `NAME.model` (read back by `RegexTokenizer(modelFile:)` and by minbpe's `load`):
///
///     minbpe v1
///     <split pattern, empty for none>
///     <number of special tokens>
///     <special token> <id>          (one line each)
///     <left id> <right id>          (one line per merge, in order; merge i makes id 256 + i)
///
/// `NAME.vocab` is for people: one line per token, `[left][right] -> [token] id` for merged
/// tokens, with invalid UTF-8 shown as U+FFFD and control characters as `\uXXXX`.
extension RegexTokenizer {
  /// Writes `prefix.model` and `prefix.vocab`, each atomically.
  public func save(prefix: String) throws(TokenizerError) {
    var model = "minbpe v1\n\(pattern.source)\n\(specialTokens.ids.count)\n"
    for (token, id) in specialTokens.ids.sorted(by: { $0.value < $1.value }) { model += "\(token) \(id)\n" }
    for merge in merges { model += "\(merge.left) \(merge.right)\n" }
    try writeText(prefix + ".model", model)

    var vocab = ""
    for id in 0..<(256 + merges.count) {
      let token = renderToken(tokenBytes(id)!)
      if id >= 256 {
        let merge = merges[id - 256]
        vocab += "[\(renderToken(tokenBytes(merge.left)!))][\(renderToken(tokenBytes(merge.right)!))] -> [\(token)] \(id)\n"
      } else {
        vocab += "[\(token)] \(id)\n"
      }
    }
    for (token, id) in specialTokens.ids.sorted(by: { $0.value < $1.value }) { vocab += "[\(token)] \(id)\n" }
    try writeText(prefix + ".vocab", vocab)
  }

  /// Loads a `.model` file written by `save(prefix:)` or by minbpe.
  public init(modelFile path: String) throws(TokenizerError) {
    let text = try readText(path)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
      $0.hasSuffix("\r") ? $0.dropLast() : $0
    }
    if lines.last == "" { lines.removeLast() }
    func fail(_ line: Int, _ reason: String) -> TokenizerError { .file(.malformed(path: path, line: line, reason: reason)) }
    guard lines.count >= 3, lines[0] == "minbpe v1" else {
      throw fail(1, "not a minbpe model file (expected 'minbpe v1' on the first line)")
    }
    let pattern: SplitPattern
    do {
      pattern = try SplitPattern(parsing: String(lines[1]))
    } catch {
      throw fail(2, error.description)
    }
    guard let specialCount = Int(lines[2]), specialCount >= 0, lines.count >= 3 + specialCount else {
      throw fail(3, "expected the number of special tokens")
    }
    var specials: [String: Int] = [:]
    for k in 0..<specialCount {
      let line = lines[3 + k]
      guard let space = line.lastIndex(of: " "), let id = Int(line[line.index(after: space)...]), space > line.startIndex
      else { throw fail(4 + k, "expected '<special token> <id>'") }
      specials[String(line[..<space])] = id
    }
    var merges: [Merge] = []
    for k in (3 + specialCount)..<lines.count {
      let parts = lines[k].split(separator: " ")
      guard parts.count == 2, let left = Int(parts[0]), let right = Int(parts[1]) else {
        throw fail(k + 1, "expected '<left id> <right id>'")
      }
      let limit = 256 + merges.count
      guard (0..<limit).contains(left), (0..<limit).contains(right) else {
        throw fail(k + 1, "merge refers to id \(max(left, right)), which does not exist yet (ids so far: 0..<\(limit))")
      }
      merges.append(Merge(left, right))
    }
    do {
      try self.init(pattern: pattern, merges: merges, specialTokens: specials)
    } catch {
      throw fail(0, error.description)
    }
  }
}

/// minbpe's `render_token`: decode with replacement, escape control characters.
func renderToken(_ bytes: [UInt8]) -> String {
  var out = ""
  for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
    switch scalar.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned:
      let hex = String(scalar.value, radix: 16)
      out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    default:
      out.unicodeScalars.append(scalar)
    }
  }
  return out
}
