import FileSupport

/// What can go wrong preparing data, training, checkpointing or sampling; each case reads as
/// one line that says what to do.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
  /// A file that cannot be read or written, is not what it should be, or has a bad record.
  case file(FileError)
  case invalidData(String)
  case invalidOption(String)
  case incompatibleCheckpoint(String)
  /// The GPU failed (the CUDA error's own line).
  case device(String)

  public var description: String {
    switch self {
    case .file(let error): error.description
    case .invalidData(let why): "invalid data: \(why)"
    case .invalidOption(let why): "invalid option: \(why)"
    case .incompatibleCheckpoint(let why): "cannot resume: \(why)"
    case .device(let why): why
    }
  }
}
