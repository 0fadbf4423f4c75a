/// What can go wrong preparing data, training, checkpointing or sampling; each case reads as
/// one line that says what to do.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
  case unreadableFile(path: String, reason: String)
  case unwritableFile(path: String, reason: String)
  case corruptFile(path: String, reason: String)
  case invalidData(String)
  case invalidOption(String)
  case incompatibleCheckpoint(String)
  /// A bad record in a data file: `line` is 1-based (0 when the whole file is at fault).
  case malformedRecord(path: String, line: Int, reason: String)
  /// Another process holds the folder's lock (`FolderLock`).
  case folderInUse(String)

  public var description: String {
    switch self {
    case .unreadableFile(let path, let reason): "cannot read \(path): \(reason)"
    case .unwritableFile(let path, let reason): "cannot write \(path): \(reason)"
    case .corruptFile(let path, let reason): "\(path) is not a valid file: \(reason)"
    case .invalidData(let why): "invalid data: \(why)"
    case .invalidOption(let why): "invalid option: \(why)"
    case .incompatibleCheckpoint(let why): "cannot resume: \(why)"
    case .malformedRecord(let path, let line, let reason): line > 0 ? "\(path):\(line): \(reason)" : "\(path): \(reason)"
    case .folderInUse(let folder):
      "\(folder) is in use by another swiftgpt process (it holds \(folder)/\(FolderLock.fileName)); wait for it to finish or choose another folder"
    }
  }
}
