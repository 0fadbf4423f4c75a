import FileSupport

/// What can go wrong building, loading or saving a model; each case reads as one line.
public enum ModelError: Error, Equatable, CustomStringConvertible {
  case invalidConfig(String)
  /// A file that cannot be read or written, or is not what it should be.
  case file(FileError)
  case missingTensor(name: String, path: String)
  case shapeMismatch(name: String, expected: [Int], found: [Int])
  case unsupported(String)

  public var description: String {
    switch self {
    case .invalidConfig(let why): "invalid model config: \(why)"
    case .file(let error): error.description
    case .missingTensor(let name, let path): "\(path) has no tensor '\(name)'"
    case .shapeMismatch(let name, let expected, let found):
      "tensor '\(name)' has shape \(found), the model needs \(expected)"
    case .unsupported(let what): "unsupported: \(what)"
    }
  }
}
