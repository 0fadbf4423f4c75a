import Foundation

/// Why `path` cannot be read as a file: "no such file", "it is a directory" or "permission denied".
public func unreadableReason(_ path: String) -> String {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return "no such file" }
  return isDirectory.boolValue ? "it is a directory" : "permission denied"
}

/// Reads a whole UTF-8 text file, as Python's `open(path).read()` does (a byte-order mark is
/// text); a missing or unreadable file is a `TokenizerError`.
public func readTextFile(_ path: String) throws(TokenizerError) -> String {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
    let handle = FileHandle(forReadingAtPath: path)
  else { throw .unreadableFile(path: path, reason: unreadableReason(path)) }
  defer { try? handle.close() }
  let data: Data
  do {
    data = try handle.readToEnd() ?? Data()
  } catch {
    throw .unreadableFile(path: path, reason: (error as NSError).localizedDescription)
  }
  // Every byte is kept: `String(data:encoding:)` would drop a leading U+FEFF.
  guard let text = String(validating: data, as: UTF8.self) else {
    throw .unreadableFile(path: path, reason: "not valid UTF-8 text")
  }
  return text
}

/// Writes `text` to `path` through a temporary file and a rename, so a reader never sees a
/// half-written file and an existing file survives a failed write.
public func writeFileAtomically(_ path: String, _ text: String) throws(TokenizerError) {
  do {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
  } catch {
    throw .unwritableFile(path: path, reason: (error as NSError).localizedDescription)
  }
}
