import Models

extension LanguageModel {
  /// Throws, before anything is allocated, when a training step on `batch` sequences of `length`
  /// tokens would keep more activations than this machine has memory; the error names `knobs`,
  /// the options that lower it.
  public func checkActivationMemory(batch: Int, length: Int, knobs: String) throws(TrainingError) {
    let step = "a training step on \(batch) × \(length) tokens"
    if let refusal = MemoryLimit.refusal(step, needs: activationBytes(batch: batch, length: length), lower: knobs) {
      throw .invalidOption(refusal)
    }
  }
}
