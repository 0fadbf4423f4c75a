/// Which special tokens an `encode` call allows or forbids (tiktoken's `allowed_special` /
/// `disallowed_special`).
public enum SpecialTokenSet: Sendable, Equatable, ExpressibleByArrayLiteral {
  case all
  case none
  case some(Set<String>)

  public init(arrayLiteral elements: String...) { self = .some(Set(elements)) }
}

/// The special tokens of a tokenizer (`<|endoftext|>`, …): strings that map to one id and are
/// never merged with their neighbours.
public struct SpecialTokens: Sendable, Equatable {
  /// Token text → id.
  public let ids: [String: Int]
  /// Candidates for matching, longest first so that a token wins over its own prefix.
  private let byLength: [(bytes: [UInt8], id: Int, name: String)]
  private let startsWith: [Bool]
  private let names: [Int: String]

  /// No special tokens.
  public init() {
    ids = [:]
    byLength = []
    startsWith = [Bool](repeating: false, count: 256)
    names = [:]
  }

  public init(_ ids: [String: Int]) throws(TokenizerError) {
    var names: [Int: String] = [:]
    for (name, id) in ids {
      guard !name.isEmpty else { throw .invalidSpecialToken("a special token cannot be empty") }
      guard id >= 0 else { throw .invalidSpecialToken("\(name) has negative id \(id)") }
      if let other = names.updateValue(name, forKey: id) {
        throw .invalidSpecialToken("\(name) and \(other) both have id \(id)")
      }
    }
    self.ids = ids
    self.names = names
    byLength = ids.map { (Array($0.key.utf8), $0.value, $0.key) }
      .sorted { ($0.bytes.count, $1.name) > ($1.bytes.count, $0.name) }
    var startsWith = [Bool](repeating: false, count: 256)
    for token in byLength { startsWith[Int(token.bytes[0])] = true }
    self.startsWith = startsWith
  }

  public static func == (a: SpecialTokens, b: SpecialTokens) -> Bool { a.ids == b.ids }

  public var isEmpty: Bool { ids.isEmpty }

  /// The special token with this id, if any.
  public func name(of id: Int) -> String? { names[id] }

  /// The ids named by `set`; unknown names are an error.
  func resolve(_ set: SpecialTokenSet) throws(TokenizerError) -> Set<Int> {
    switch set {
    case .all: return Set(ids.values)
    case .none: return []
    case .some(let names):
      var result = Set<Int>()
      for name in names {
        guard let id = ids[name] else { throw .unknownSpecialToken(name) }
        result.insert(id)
      }
      return result
    }
  }

  /// The first special token in `buffer[from...]` whose id is in `wanted`: (start, end, id).
  func firstMatch(in buffer: UnsafeBufferPointer<UInt8>, from: Int, wanted: Set<Int>) -> (Int, Int, Int)? {
    guard !wanted.isEmpty else { return nil }
    var i = from
    while i < buffer.count {
      if startsWith[Int(buffer[i])] {
        for token in byLength where wanted.contains(token.id) && i + token.bytes.count <= buffer.count {
          if token.bytes.withUnsafeBufferPointer({ memoryEqual($0.baseAddress!, buffer.baseAddress! + i, $0.count) }) {
            return (i, i + token.bytes.count, token.id)
          }
        }
      }
      i += 1
    }
    return nil
  }
}
