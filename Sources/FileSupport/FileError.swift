/// What can go wrong with a file, as one line that names it: the one file-error type of every
/// SwiftGPT library (`TokenizerError`, `ModelError` and `TrainingError` carry it as `.file`).
public enum FileError: Error, Equatable, CustomStringConvertible {
  /// The file cannot be read: missing, a directory, no permission, not UTF-8 text.
  case unreadable(path: String, reason: String)
  /// The file or folder cannot be written (or may not be replaced).
  case unwritable(path: String, reason: String)
  /// The file was read but is not what it should be.
  case corrupt(path: String, reason: String)
  /// A bad line or record in a text or data file; `line` is 1-based, 0 for the whole file.
  case malformed(path: String, line: Int, reason: String)
  /// Another process holds the folder's lock (`FolderLock`).
  case inUse(String)

  public var description: String {
    switch self {
    case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
    case .unwritable(let path, let reason): "cannot write \(path): \(reason)"
    case .corrupt(let path, let reason): "\(path) is not a valid file: \(reason)"
    case .malformed(let path, let line, let reason): line > 0 ? "\(path):\(line): \(reason)" : "\(path): \(reason)"
    case .inUse(let folder):
      "\(folder) is in use by another swiftgpt process (it holds \(folder)/\(FolderLock.fileName)); wait for it to finish or choose another folder"
    }
  }
}

/// Runs `body`, giving a `FileError` it throws to the caller as `wrap(error)`: how a function
/// that throws its library's error type uses the file helpers
/// (`try fileAccess(TokenizerError.file) { try readTextFile(path) }`).
public func fileAccess<T, E: Error>(_ wrap: (FileError) -> E, _ body: () throws(FileError) -> T) throws(E) -> T {
  do { return try body() } catch { throw wrap(error) }
}
