/// A JSON value together with its path in the document (`model.vocab`), so that every error
/// while reading a `tokenizer.json` names the field at fault.
struct JSONField {
  let value: JSONValue
  let path: String

  init(_ value: JSONValue, path: String = "") {
    self.value = value
    self.path = path
  }

  func error(_ reason: String) -> TokenizerError { .invalidJSON(field: path, reason: reason) }

  private func child(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

  /// The member `key`; missing is an error.
  func at(_ key: String) throws(TokenizerError) -> JSONField {
    guard case .object = value else { throw error("expected an object") }
    guard let v = value[key] else { throw JSONField(.null, path: child(key)).error("missing") }
    return JSONField(v, path: child(key))
  }

  /// The member `key`, or nil if it is missing or `null`.
  func optional(_ key: String) throws(TokenizerError) -> JSONField? {
    guard case .object = value else { throw error("expected an object") }
    guard let v = value[key], v != .null else { return nil }
    return JSONField(v, path: child(key))
  }

  var string: String {
    get throws(TokenizerError) {
      guard case .string(let s) = value else { throw error("expected a string") }
      return s
    }
  }

  var int: Int {
    get throws(TokenizerError) {
      guard case .int(let v) = value else { throw error("expected an integer") }
      return v
    }
  }

  var bool: Bool {
    get throws(TokenizerError) {
      guard case .bool(let v) = value else { throw error("expected true or false") }
      return v
    }
  }

  var double: Double {
    get throws(TokenizerError) {
      switch value {
      case .double(let v): return v
      case .int(let v): return Double(v)
      default: throw error("expected a number")
      }
    }
  }

  var array: [JSONField] {
    get throws(TokenizerError) {
      guard case .array(let items) = value else { throw error("expected an array") }
      return items.enumerated().map { JSONField($1, path: "\(path)[\($0)]") }
    }
  }

  var members: [(key: String, value: JSONField)] {
    get throws(TokenizerError) {
      guard case .object(let members) = value else { throw error("expected an object") }
      return members.map { ($0.key, JSONField($0.value, path: child($0.key))) }
    }
  }

  /// The `type` member of a component object.
  var type: String { get throws(TokenizerError) { try at("type").string } }

  func string(_ key: String, default fallback: String) throws(TokenizerError) -> String {
    try optional(key)?.string ?? fallback
  }

  /// The array member `key`, each element read by `read`.
  func list<T>(_ key: String, _ read: (JSONField) throws(TokenizerError) -> T) throws(TokenizerError) -> [T] {
    var result: [T] = []
    for item in try at(key).array { result.append(try read(item)) }
    return result
  }

  /// A one-character string member.
  func scalar(_ key: String, default fallback: Unicode.Scalar) throws(TokenizerError) -> Unicode.Scalar {
    guard let field = try optional(key) else { return fallback }
    let s = try field.string
    guard s.unicodeScalars.count == 1 else { throw field.error("expected a single character") }
    return s.unicodeScalars.first!
  }

  func bool(_ key: String, default fallback: Bool) throws(TokenizerError) -> Bool {
    try optional(key)?.bool ?? fallback
  }

  /// An error for an unknown `type`, listing the known ones.
  func unknownType(_ type: String, known: [String]) -> TokenizerError {
    JSONField(.null, path: child("type")).error("unknown type '\(type)' (known: \(known.joined(separator: ", ")))")
  }
}

extension JSONValue {
  /// An object from members in the given order.
  static func members(_ pairs: KeyValuePairs<String, JSONValue>) -> JSONValue {
    .object(pairs.map { JSONMember($0.key, $0.value) })
  }

  /// A string, or `null` for nil.
  static func optional(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
}
