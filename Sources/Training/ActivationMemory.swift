import TensorEngine
import Models

extension LanguageModel {
  /// Throws, before anything is allocated, when a training step on `batch` sequences of `length`
  /// tokens would keep more activations than this machine has memory; the error names `knobs`,
  /// the options that lower it.
  /// On a GPU the step's parameters, gradients and AdamW moments count too, against the GPU's
  /// free memory.
  public func checkActivationMemory(batch: Int, length: Int, knobs: String, device: Device = .cpu) throws(TrainingError) {
    let step = "a training step on \(batch) × \(length) tokens"
    if let gpu = device.gpu {
      let needs = activationBytes(batch: batch, length: length) + 16 * Double(parameters.count)
      let free = Double((try? gpu.device.memoryInfo().free) ?? gpu.device.totalMemory)
      guard needs > free else { return }
      throw .invalidOption("\(step) needs at least \(MemoryLimit.gigabytes(needs)) of GPU memory, more than the "
        + "\(MemoryLimit.gigabytes(free)) free on \(gpu.device.name); lower \(knobs)")
    }
    if let refusal = MemoryLimit.refusal(step, needs: activationBytes(batch: batch, length: length), lower: knobs) {
      throw .invalidOption(refusal)
    }
  }
}
