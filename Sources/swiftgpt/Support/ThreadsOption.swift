import ArgumentParser
import Foundation
import TensorEngine

/// `--threads`: how many threads the kernels (or `prepare`'s encoders) use; default all cores.
struct ThreadsOption: ParsableArguments {
  @Option(help: "Threads (default: all cores).") var threads: Int?

  /// More threads than this only slows the kernels down.
  static var limit: Int { 4 * ProcessInfo.processInfo.activeProcessorCount }

  func validate() throws {
    if let threads, !(1...Self.limit).contains(threads) {
      throw ValidationError("--threads must be between 1 and \(Self.limit) (4 × the \(Self.limit / 4) cores here), got \(threads)")
    }
  }

  /// Sets the kernels' thread count, if given.
  func apply() { if let threads { Parallel.threads = threads } }
}
