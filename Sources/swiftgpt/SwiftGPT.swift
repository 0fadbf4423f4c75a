#if canImport(Glibc)
import Glibc
#endif
import FileSupport
import ArgumentParser
import Foundation
import Training

/// `swiftgpt`: tokenizers, GPT pretraining, fine-tuning and generation from one command.
@main
struct SwiftGPT: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "swiftgpt",
    abstract: "Build GPT language models from scratch: tokenizers, pretraining, fine-tuning, generation.",
    version: "0.1.0",
    subcommands: [
      Demo.self, PrepareCommand.self, TrainCommand.self, SampleCommand.self, FinetuneCommand.self, PredictCommand.self,
      ChatCommand.self, ServeCommand.self, LoRACommand.self, TokenizerCommand.self, Bench.self, DoctorCommand.self,
    ])

  static func main() {
    // Each line reaches a log file or pipe as it is printed (`train > log`), not at exit.
    // (glibc's `stdout` variable, read through dlsym: Swift 6 refuses the imported global.)
    if let symbol = dlsym(nil, "stdout"), let output = symbol.assumingMemoryBound(to: UnsafeMutablePointer<FILE>?.self).pointee {
      setvbuf(output, nil, _IOLBF, 0)
    }
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      exit(withError: oneLine(error))
    }
  }

  /// A Foundation file error as one line naming the file and the cause, in place of
  /// `Error Domain=NSCocoaErrorDomain Code=642 …`; other errors as they are.
  static func oneLine(_ error: any Error) -> any Error {
    let ns = error as NSError
    guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return error }
    let path = ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
    let verb = (256..<512).contains(ns.code) ? "cannot read" : (512..<768).contains(ns.code) ? "cannot write" : "file error:"
    return CLIError(path.map { "\(verb) \($0): \(describe(error))" } ?? "\(verb) \(describe(error))")
  }
}
