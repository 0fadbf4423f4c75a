import Foundation
import Models

extension LanguageModel {
  /// Throws, before anything is allocated, when a training step on `batch` sequences of `length`
  /// tokens would keep more activations than this machine has memory; the error names `knobs`,
  /// the options that lower it.
  func checkActivationMemory(batch: Int, length: Int, knobs: String) throws(TrainingError) {
    let need = activationBytes(batch: batch, length: length)
    let memory = Double(ProcessInfo.processInfo.physicalMemory)
    guard need > memory else { return }
    let gb = { (bytes: Double) in String(format: "%.3g GB", bytes / 1e9) }
    throw .invalidOption("a training step on \(batch) × \(length) tokens needs at least \(gb(need)) for activations, "
      + "more than this machine's \(gb(memory)) of memory; lower \(knobs)")
  }
}
