import FileSupport
import Foundation
import Models
import Training

/// Takes the output folder of a command that writes a whole model folder (`finetune`, `lora
/// merge`): an existing folder that is not empty needs `--overwrite` and may hold only what SwiftGPT writes there
/// (`replaceable`); the returned lock keeps other runs out until it is released.
func claimOutputFolder(_ out: String, overwrite: Bool, replaceable: (String) -> Bool = isModelFolderEntry) throws -> FolderLock {
  let existing = (try? FileManager.default.contentsOfDirectory(atPath: out))?.filter { $0 != FolderLock.fileName }
  if !overwrite && (existing.map { !$0.isEmpty } ?? FileManager.default.fileExists(atPath: out)) {
    throw CLIError("\(out) already exists: replace it with --overwrite, or choose another --out")
  }
  let lock = try FolderLock(out)
  do {
    try checkFolderWritable(out, replaceable: replaceable)
  } catch {
    lock.release(succeeded: false)
    throw error
  }
  return lock
}
