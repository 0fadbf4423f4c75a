#if canImport(Glibc)
import Glibc
#endif
import Foundation

// Output folders: every command that writes a folder takes its path through `normalizedPath`,
// holds a `FolderLock` on it, replaces it only as a whole (`writeFolderAtomically`) and only
// when it holds nothing SwiftGPT did not write.

/// `path` as a folder name whose siblings (`OUT.tmp`) are real names beside it: trailing slashes
/// removed (`chat2/` → `chat2`), and a path ending in `.` or `..` made absolute (`.` → the
/// working directory), since `..tmp` would be a name inside it.
public func normalizedPath(_ path: String) -> String {
  var p = path
  while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
  let last = (p as NSString).lastPathComponent
  guard last == "." || last == ".." else { return p }
  let absolute = p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
  return (absolute as NSString).standardizingPath
}

/// The entries of `folder` that are not `replaceable` (sorted; folders end in "/"): what
/// replacing the folder would delete although SwiftGPT did not write it.
public func foreignEntries(in folder: String, replaceable: (String) -> Bool) -> [String] {
  let fm = FileManager.default
  let names = (try? fm.contentsOfDirectory(atPath: folder)) ?? []
  return names.filter { !replaceable($0) }.sorted().map { name in
    var isDirectory: ObjCBool = false
    _ = fm.fileExists(atPath: folder + "/" + name, isDirectory: &isDirectory)
    return isDirectory.boolValue ? name + "/" : name
  }
}

/// Throws if `folder` exists and holds entries that are not `replaceable`, naming them.
public func checkReplaceable(_ folder: String, replaceable: (String) -> Bool) throws(FileError) {
  let foreign = foreignEntries(in: folder, replaceable: replaceable)
  guard foreign.isEmpty else {
    let shown = foreign.prefix(5).joined(separator: ", ") + (foreign.count > 5 ? ", …" : "")
    throw .unwritable(path: folder, reason: "it holds files SwiftGPT did not write (\(shown)); "
      + "move them away or write to another folder")
  }
}

/// Builds a folder with `fill(temporaryPath)` (an empty folder beside `folder`), then swaps it into place, so a
/// reader never sees a half-written folder and a failed or killed write leaves the old one.
///
/// The swap is one atomic exchange (`renameat2(RENAME_EXCHANGE)`) where the file system has it:
/// `folder` always names a complete copy. Elsewhere it is two renames, and a write killed between
/// them is completed by `recoverInterruptedWrite` (called here, by `Trainer(resumingFrom:)` and
/// by the readers of run folders). An existing `folder` holding entries that are not
/// `replaceable` is refused, before `fill` runs: its files are never deleted.
public func writeFolderAtomically(_ folder: String, replaceable: (String) -> Bool,
                                  _ fill: (String) throws -> Void) throws {
  let folder = normalizedPath(folder)
  let temporary = folder + ".tmp", old = folder + ".old"
  let fm = FileManager.default
  recoverInterruptedWrite(folder)
  try checkReplaceable(folder, replaceable: replaceable)
  try? fm.removeItem(atPath: temporary)
  do {
    try fm.createDirectory(atPath: temporary, withIntermediateDirectories: true)
    try fill(temporary)
  } catch {
    try? fm.removeItem(atPath: temporary)
    throw error
  }
  guard fm.fileExists(atPath: folder) else { return try renameReplacing(temporary, folder) }
  if containsWorkingDirectory(folder) { return try installInPlace(temporary, into: folder, replaceable: replaceable) }
  if try exchange(temporary, folder) {
    try? fm.removeItem(atPath: temporary)  // now the old copy
    return
  }
  try? fm.removeItem(atPath: old)
  try renameReplacing(folder, old)
  try renameReplacing(temporary, folder)
  try? fm.removeItem(atPath: old)
}

/// Whether `folder` is the working directory or holds it (`--out .`): swapping it would leave
/// the user's shell in a deleted folder.
private func containsWorkingDirectory(_ folder: String) -> Bool {
  guard let cwd = realpath(FileManager.default.currentDirectoryPath, nil), let target = realpath(folder, nil) else { return false }
  defer { free(cwd); free(target) }
  let (c, t) = (String(cString: cwd), String(cString: target))
  return c == t || c.hasPrefix(t.hasSuffix("/") ? t : t + "/")
}

/// Moves each entry of `temporary` into `folder` (each one atomically), then removes the
/// `replaceable` entries the new copy does not have: for a folder that cannot be swapped whole.
private func installInPlace(_ temporary: String, into folder: String, replaceable: (String) -> Bool) throws {
  let fm = FileManager.default
  let new = Set((try? fm.contentsOfDirectory(atPath: temporary)) ?? [])
  for name in new.sorted() {
    var isDirectory: ObjCBool = false
    if fm.fileExists(atPath: folder + "/" + name, isDirectory: &isDirectory), isDirectory.boolValue {
      try fm.removeItem(atPath: folder + "/" + name)
    }
    try renameReplacing(temporary + "/" + name, folder + "/" + name)
  }
  for name in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] where !new.contains(name) && replaceable(name)
    && name != FolderLock.fileName {
    try fm.removeItem(atPath: folder + "/" + name)
  }
  try? fm.removeItem(atPath: temporary)
}

/// Completes a `writeFolderAtomically` killed between its two renames, which leaves `folder`
/// missing, the previous copy in `folder.old` and the new, complete one in `folder.tmp`: the new
/// copy is moved into place (the old one when there is no new one). Does nothing otherwise.
public func recoverInterruptedWrite(_ folder: String) {
  let folder = normalizedPath(folder)
  let fm = FileManager.default
  let temporary = folder + ".tmp", old = folder + ".old"
  guard !fm.fileExists(atPath: folder), fm.fileExists(atPath: old) else { return }
  if fm.fileExists(atPath: temporary) {
    guard (try? renameReplacing(temporary, folder)) != nil else { return }
    try? fm.removeItem(atPath: old)
  } else {
    try? renameReplacing(old, folder)
  }
}

/// Throws now if `writeFolderAtomically(folder)` could not write its temporary folder or would
/// refuse to replace `folder`, so that a long run learns of a bad output path before it starts,
/// not when it saves.
public func checkFolderWritable(_ folder: String, replaceable: (String) -> Bool) throws(FileError) {
  let folder = normalizedPath(folder)
  try checkReplaceable(folder, replaceable: replaceable)
  let temporary = folder + ".tmp"
  if let file = fileInTheWay(of: temporary) { throw .unwritable(path: folder, reason: "\(file) is a file, not a folder") }
  do {
    try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
  } catch {
    throw .unwritable(path: folder, reason: describe(error))
  }
  try? FileManager.default.removeItem(atPath: temporary)
}

/// Moves `source` to `destination`, atomically replacing whatever was there (rename(2)).
public func renameReplacing(_ source: String, _ destination: String) throws(FileError) {
  guard rename(source, destination) == 0 else {
    throw .unwritable(path: destination, reason: String(cString: strerror(errno)))
  }
}

private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
/// glibc's `renameat2` (2.28+), looked up at run time: Swift's Glibc module does not declare it.
private let renameat2: RenameAt2? = dlsym(nil, "renameat2").map { unsafeBitCast($0, to: RenameAt2.self) }

/// Swaps two existing paths in one step; false where the system or file system cannot.
private func exchange(_ a: String, _ b: String) throws(FileError) -> Bool {
  let renameExchange: UInt32 = 2
  guard let renameat2 else { return false }
  if renameat2(AT_FDCWD, a, AT_FDCWD, b, renameExchange) == 0 { return true }
  if errno == EINVAL || errno == ENOSYS || errno == ENOTSUP { return false }
  throw .unwritable(path: b, reason: String(cString: strerror(errno)))
}

/// An exclusive lock on a folder, `flock` on `folder/.lock`, held until `release()` or the
/// process ends (a killed run leaves no stale lock): two runs never write one folder.
public final class FolderLock {
  public static let fileName = ".lock"
  public let folder: String
  private var descriptor: Int32
  /// Whether taking the lock created `folder`, and its lock file.
  private let created: Bool
  private var createdFile = false

  /// Creates `folder` if needed and locks it, or throws `.inUse` at once when another process
  /// holds it.
  public init(_ folder: String) throws(FileError) {
    self.folder = normalizedPath(folder)
    let fm = FileManager.default
    created = !fm.fileExists(atPath: self.folder)
    try createFolder(self.folder)
    let path = self.folder + "/" + Self.fileName
    createdFile = !fm.fileExists(atPath: path)
    descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw .unwritable(path: path, reason: String(cString: strerror(errno))) }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      let busy = errno == EWOULDBLOCK
      let reason = String(cString: strerror(errno))
      close(descriptor)
      throw busy ? .inUse(self.folder) : .unwritable(path: path, reason: reason)
    }
  }

  /// Unlocks. After a failed run (`succeeded` false), what taking the lock created is removed
  /// again: the lock file, and the folder if it holds nothing else.
  public func release(succeeded: Bool = true) {
    guard descriptor >= 0 else { return }
    if !succeeded && createdFile {
      try? FileManager.default.removeItem(atPath: folder + "/" + Self.fileName)
      if created && (try? FileManager.default.contentsOfDirectory(atPath: folder)) == [] {
        try? FileManager.default.removeItem(atPath: folder)
      }
    }
    close(descriptor)
    descriptor = -1
  }

  deinit { release() }
}

/// One line for a Foundation file error: the POSIX cause when there is one ("Permission denied",
/// "No space left on device"), not `NSCocoaErrorDomain Code=642`.
public func describe(_ error: any Error) -> String {
  let ns = error as NSError
  if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
    return String(cString: strerror(Int32(underlying.code)))
  }
  if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
  if let path = ns.userInfo[NSFilePathErrorKey] as? String, let file = fileInTheWay(of: (path as NSString).deletingLastPathComponent) {
    return "\(file) is a file, not a folder"
  }
  switch ns.code {
  case NSFileWriteOutOfSpaceError: return "no space left on device"
  case NSFileWriteNoPermissionError, NSFileReadNoPermissionError: return "permission denied"
  case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return "no such file"
  case NSFileWriteVolumeReadOnlyError: return "read-only file system"
  case NSFileWriteFileExistsError: return "a file is in the way"
  default: return ns.localizedDescription
  }
}
