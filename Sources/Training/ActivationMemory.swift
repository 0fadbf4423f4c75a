import Models

extension LanguageModel {
  /// Throws, before anything is allocated, when a training step on `batch` sequences of `length`
  /// tokens would keep more activations than this machine has memory; the error names `knobs`,
  /// the options that lower it.
  public func checkActivationMemory(batch: Int, length: Int, knobs: String) throws(TrainingError) {
    let need = activationBytes(batch: batch, length: length)
    guard need > MemoryLimit.physical else { return }
    throw .invalidOption("a training step on \(batch) × \(length) tokens needs at least \(MemoryLimit.gigabytes(need)) for "
      + "activations, more than this machine's \(MemoryLimit.gigabytes(MemoryLimit.physical)) of memory; lower \(knobs)")
  }
}
