import Foundation

/// Why `path` cannot be read as a file: "no such file", "it is a directory" or "permission denied".
public func unreadableReason(_ path: String) -> String {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return "no such file" }
  return isDirectory.boolValue ? "it is a directory" : "permission denied"
}

/// Refuses a path that is not a folder where a folder holding `what` (e.g. "a model") is read:
/// one that does not exist, or a file, naming the folder that holds it (`run/best/model.safetensors`
/// is not the model, `run/best` is).
public func requireFolder(_ path: String, holding what: String) throws(FileError) {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
    throw .unreadable(path: path, reason: "no such folder (expected one holding \(what))")
  }
  guard !isDirectory.boolValue else { return }
  let parent = (path as NSString).deletingLastPathComponent
  throw .unreadable(path: path, reason: "a file, not a folder holding \(what): give the folder that holds it (\(parent.isEmpty ? "." : parent))")
}

/// Reads a whole file (a device or pipe too: `/dev/stdin`).
public func readFile(_ path: String) throws(FileError) -> Data {
  var isDirectory: ObjCBool = false
  guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
    let handle = FileHandle(forReadingAtPath: path)
  else { throw .unreadable(path: path, reason: unreadableReason(path)) }
  defer { try? handle.close() }
  do {
    return try handle.readToEnd() ?? Data()
  } catch {
    throw .unreadable(path: path, reason: describe(error))
  }
}

/// Reads a whole UTF-8 text file, as Python's `open(path).read()` does: every byte is kept (a
/// byte-order mark is text; `String(data:encoding:)` would drop it).
public func readTextFile(_ path: String) throws(FileError) -> String {
  guard let text = String(validating: try readFile(path), as: UTF8.self) else {
    throw .unreadable(path: path, reason: "not valid UTF-8 text")
  }
  return text
}

/// Writes `data` to `path` through a temporary file and a rename, so a reader never sees a
/// half-written file and an existing file survives a failed write.
public func writeAtomically(_ data: Data, to path: String) throws(FileError) {
  do {
    try data.write(to: URL(fileURLWithPath: path), options: .atomic)
  } catch {
    // Foundation says "no such file" for the file about to be made when its folder is missing.
    try requireFolderOf(path)
    throw .unwritable(path: path, reason: describe(error))
  }
}

/// Throws unless the folder a file at `path` would be written into exists: checks an output
/// before the work that makes it.
public func requireFolderOf(_ path: String) throws(FileError) {
  let folder = (path as NSString).deletingLastPathComponent
  if !folder.isEmpty && !FileManager.default.fileExists(atPath: folder) {
    throw .unwritable(path: path, reason: "its folder \(folder) does not exist")
  }
}

/// `writeAtomically` for text (UTF-8).
public func writeFileAtomically(_ path: String, _ text: String) throws(FileError) {
  try writeAtomically(Data(text.utf8), to: path)
}

/// Creates `folder` and its parents if needed.
public func createFolder(_ folder: String) throws(FileError) {
  if let file = fileInTheWay(of: folder) { throw .unwritable(path: folder, reason: "\(file) is a file, not a folder") }
  do {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  } catch {
    throw .unwritable(path: folder, reason: describe(error))
  }
}

/// The nearest existing ancestor of `path` (or `path` itself) when it is a file rather than a
/// folder: what makes creating the folder `path` fail (Foundation says only "error 512").
public func fileInTheWay(of path: String) -> String? {
  var candidate = path
  while !candidate.isEmpty && candidate != "/" && candidate != "." {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory) {
      return isDirectory.boolValue ? nil : candidate
    }
    candidate = (candidate as NSString).deletingLastPathComponent
  }
  return nil
}
