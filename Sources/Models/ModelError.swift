/// What can go wrong building, loading or saving a model; each case reads as one line.
public enum ModelError: Error, Equatable, CustomStringConvertible {
  case invalidConfig(String)
  case unreadableFile(path: String, reason: String)
  case unwritableFile(path: String, reason: String)
  case corruptFile(path: String, reason: String)
  case missingTensor(name: String, path: String)
  case shapeMismatch(name: String, expected: [Int], found: [Int])
  case unsupported(String)

  public var description: String {
    switch self {
    case .invalidConfig(let why): "invalid model config: \(why)"
    case .unreadableFile(let path, let reason): "cannot read \(path): \(reason)"
    case .unwritableFile(let path, let reason): "cannot write \(path): \(reason)"
    case .corruptFile(let path, let reason): "\(path) is not a valid file: \(reason)"
    case .missingTensor(let name, let path): "\(path) has no tensor '\(name)'"
    case .shapeMismatch(let name, let expected, let found):
      "tensor '\(name)' has shape \(found), the model needs \(expected)"
    case .unsupported(let what): "unsupported: \(what)"
    }
  }
}
