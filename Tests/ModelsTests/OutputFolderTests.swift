import FileSupport
import Foundation
import Models
import Testing
import TensorEngine
@testable import Training

@Suite("Output folders: paths, atomic replacement, recovery, locks")
struct OutputFolderTests {
  @Test("paths are normalised so siblings are real names: trailing slashes go, '.' and '..' become absolute")
  func normalisedPaths() {
    let cwd = FileManager.default.currentDirectoryPath
    #expect(normalizedPath("chat2/") == "chat2")
    #expect(normalizedPath("a/b//") == "a/b")
    #expect(normalizedPath("/") == "/")
    #expect(normalizedPath(".") == cwd)
    #expect(normalizedPath("./") == cwd)
    #expect(normalizedPath("/tmp/x/.") == "/tmp/x")
    #expect(normalizedPath("/tmp/x/y/..") == "/tmp/x")
    #expect(normalizedPath("out") == "out")
  }

  @Test("a folder given with a trailing slash is written in place, with no hidden .tmp left inside it")
  func trailingSlash() throws {
    let dir = temporaryDirectory()
    try writeFolderAtomically(dir + "/out/", replaceable: isModelFolderEntry) { try Data("1".utf8).write(to: URL(fileURLWithPath: $0 + "/config.json")) }
    try writeFolderAtomically(dir + "/out/", replaceable: isModelFolderEntry) { try Data("2".utf8).write(to: URL(fileURLWithPath: $0 + "/config.json")) }
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/out") == ["config.json"])
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["out"])
    #expect(FileManager.default.contents(atPath: dir + "/out/config.json") == Data("2".utf8))
  }

  @Test("a folder holding files SwiftGPT did not write is never replaced: refused before filling, files kept")
  func foreignFilesAreKept() throws {
    let dir = temporaryDirectory()
    try FileManager.default.createDirectory(atPath: dir + "/out/data", withIntermediateDirectories: true)
    try Data("mine".utf8).write(to: URL(fileURLWithPath: dir + "/out/notes.txt"))
    try Data("old".utf8).write(to: URL(fileURLWithPath: dir + "/out/config.json"))
    var filled = false
    #expect(throws: FileError.unwritable(path: dir + "/out", reason: "it holds files SwiftGPT did not write "
      + "(data/, notes.txt); move them away or write to another folder")) {
      try writeFolderAtomically(dir + "/out", replaceable: isModelFolderEntry) { _ in filled = true }
    }
    #expect(!filled)
    #expect(FileManager.default.contents(atPath: dir + "/out/notes.txt") == Data("mine".utf8))
    #expect(FileManager.default.fileExists(atPath: dir + "/out/data"))
    #expect(throws: FileError.self) { try checkFolderWritable(dir + "/out", replaceable: isModelFolderEntry) }
    // Only SwiftGPT's files: replaced whole (a stale file of the old copy goes too).
    try FileManager.default.removeItem(atPath: dir + "/out/notes.txt")
    try FileManager.default.removeItem(atPath: dir + "/out/data")
    try Data("old".utf8).write(to: URL(fileURLWithPath: dir + "/out/task.json"))
    try writeFolderAtomically(dir + "/out", replaceable: isModelFolderEntry) { try Data("new".utf8).write(to: URL(fileURLWithPath: $0 + "/config.json")) }
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/out") == ["config.json"])
  }

  @Test("a save killed between its two renames is completed: the new copy from .tmp, else the old from .old")
  func recovery() throws {
    let dir = temporaryDirectory()
    let folder = dir + "/latest"
    for (name, text) in [("latest.old", "old"), ("latest.tmp", "new")] {
      try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true)
      try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/" + name + "/config.json"))
    }
    recoverInterruptedWrite(folder)
    #expect(FileManager.default.contents(atPath: folder + "/config.json") == Data("new".utf8))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["latest"])
    try FileManager.default.moveItem(atPath: folder, toPath: dir + "/latest.old")
    recoverInterruptedWrite(folder)
    #expect(FileManager.default.contents(atPath: folder + "/config.json") == Data("new".utf8))
    // A folder that exists is left alone (a .tmp beside it is a partial write).
    try FileManager.default.createDirectory(atPath: dir + "/latest.tmp", withIntermediateDirectories: true)
    recoverInterruptedWrite(folder)
    #expect(FileManager.default.contents(atPath: folder + "/config.json") == Data("new".utf8))
  }

  @Test("a folder lock keeps a second writer out until released; a failed run removes the folder it created")
  func locks() throws {
    let dir = temporaryDirectory()
    let first = try FolderLock(dir + "/run")
    #expect(throws: FileError.inUse(dir + "/run")) { try FolderLock(dir + "/run/") }
    first.release()
    let second = try FolderLock(dir + "/run")
    second.release(succeeded: false)  // did not create it: kept
    #expect(FileManager.default.fileExists(atPath: dir + "/run"))
    let third = try FolderLock(dir + "/new")
    third.release(succeeded: false)
    #expect(!FileManager.default.fileExists(atPath: dir + "/new"))
  }

  @Test("Foundation file errors read as their cause, not 'NSCocoaErrorDomain Code=642'")
  func foundationErrors() {
    #expect(describe(NSError(domain: NSCocoaErrorDomain, code: NSFileWriteVolumeReadOnlyError)) == "read-only file system")
    #expect(describe(NSError(domain: NSCocoaErrorDomain, code: NSFileWriteOutOfSpaceError)) == "no space left on device")
    let underlying = NSError(domain: NSPOSIXErrorDomain, code: Int(EACCES))
    #expect(describe(NSError(domain: NSCocoaErrorDomain, code: NSFileWriteUnknownError,
                             userInfo: [NSUnderlyingErrorKey: underlying])) == "Permission denied")
  }

  @Test("a model folder with NaN weights is refused when loaded (a diverged run)")
  func nonFiniteWeights() throws {
    let dir = temporaryDirectory()
    let model = try GPT(config: GPTConfig(vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8))
    model.parameters["transformer.h.0.mlp.c_fc.weight"]!.data[3] = .nan
    try model.save(huggingFaceFolder: dir)
    #expect(throws: ModelError.file(.corrupt(path: dir + "/model.safetensors", reason: "tensor 'transformer.h.0.mlp.c_fc.weight' "
      + "holds NaN or infinite values (the run that wrote it diverged)"))) { try ModelFolder.load(dir) }
  }

  @Test("a file written into a folder that does not exist names the folder")
  func writeIntoAMissingFolder() throws {
    // `tokenizer train --output nodir/tok` said "cannot write nodir/tok.model: no such file".
    let dir = temporaryDirectory()
    #expect(throws: FileError.unwritable(path: dir + "/none/t.json", reason: "its folder \(dir)/none does not exist")) {
      try writeAtomically(Data("{}".utf8), to: dir + "/none/t.json")
    }
    try writeAtomically(Data("{}".utf8), to: dir + "/t.json")
    #expect(FileManager.default.contents(atPath: dir + "/t.json") == Data("{}".utf8))
  }

  @Test("a file given for a model folder is named as a file, with the folder to give")
  func aFileForAModelFolder() throws {
    let dir = temporaryDirectory()
    try GPT(config: GPTConfig(vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8)).save(huggingFaceFolder: dir)
    // It was "cannot read DIR/model.safetensors/config.json: no such file".
    #expect(throws: ModelError.file(.unreadable(path: dir + "/model.safetensors",
                                                reason: "a file, not a folder holding a model: give the folder that holds it (\(dir))"))) {
      try ModelFolder.load(dir + "/model.safetensors")
    }
    #expect(throws: ModelError.file(.unreadable(path: dir + "/none", reason: "no such folder (expected one holding a model)"))) {
      try ModelFolder.load(dir + "/none")
    }
    // chat said a folder that does not exist was "not instruction-tuned (no sft.json)".
    #expect(throws: ModelError.file(.unreadable(path: dir + "/none", reason: "no such folder (expected one holding a model)"))) {
      try InstructionTokens(folder: dir + "/none")
    }
    // chat's and predict's first reads said "not instruction-tuned (no sft.json)" and ".../config.json/task.json: no such file".
    #expect(throws: ModelError.file(.unreadable(path: dir + "/config.json",
                                                reason: "a file, not a folder holding a model: give the folder that holds it (\(dir))"))) {
      try InstructionTokens(folder: dir + "/config.json")
    }
    #expect(throws: ModelError.file(.unreadable(path: dir + "/config.json", reason: "a file, not a folder holding a fine-tuned task model: "
      + "give the folder that holds it (\(dir))"))) { try TaskModel(folder: dir + "/config.json") }
  }
}
