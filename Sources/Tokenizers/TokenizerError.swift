import FileSupport

/// Everything that can go wrong in the tokenizers, each with a one-line message that says
/// what to do about it.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
  case disallowedSpecialToken(String)
  case unknownSpecialToken(String)
  case invalidTokenID(Int)
  case unknownCharacter(Unicode.Scalar)
  case unknownEncoding(String)
  case emptyCorpus
  case vocabularyTooSmall(requested: Int, minimum: Int, of: String)
  case invalidPattern(String, String)
  case invalidSpecialToken(String)
  /// A file that cannot be read or written, or a bad line in one.
  case file(FileError)
  /// A `tokenizer.json` (or other JSON) that is malformed: `field` is the path to the bad
  /// value (`model.vocab`), empty for a syntax error.
  case invalidJSON(field: String, reason: String)
  /// Truncation settings the sequences cannot meet.
  case truncation(String)

  public var description: String {
    switch self {
    case .disallowedSpecialToken(let token):
      return "the text contains the special token \(token); allow it (--allow-special / allowedSpecial: .all) "
        + "or encode it as plain text (--special-as-text / disallowedSpecial: .none)"
    case .unknownSpecialToken(let token):
      return "\(token) is not a special token of this tokenizer"
    case .invalidTokenID(let id):
      return "token id \(id) is not in the vocabulary"
    case .unknownCharacter(let scalar):
      let hex = String(scalar.value, radix: 16, uppercase: true)
      return "character U+\(String(repeating: "0", count: max(0, 4 - hex.count)))\(hex) (\(scalar.debugDescription)) "
        + "is not in the vocabulary; retrain on text that contains it or enable the unknown token"
    case .unknownEncoding(let name):
      return "unknown encoding '\(name)'; known encodings: \(Encoding.names.joined(separator: ", "))"
    case .emptyCorpus:
      return "the training text is empty (or has no piece left after splitting); give a non-empty corpus"
    case .vocabularyTooSmall(let requested, let minimum, let of):
      return "vocabulary size \(requested) is too small: it must be at least \(minimum) (\(of))"
    case .invalidPattern(let pattern, let reason):
      return "invalid split pattern \(pattern.debugDescription): \(reason)"
    case .invalidSpecialToken(let reason):
      return "invalid special token: \(reason)"
    case .file(let error):
      return error.description
    case .invalidJSON(let field, let reason):
      return field.isEmpty ? "invalid JSON: \(reason)" : "field `\(field)`: \(reason)"
    case .truncation(let reason):
      return "cannot truncate: \(reason)"
    }
  }
}
