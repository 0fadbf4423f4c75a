import ArgumentParser
import CUDA
import TensorEngine

/// Where a command computes.
enum DeviceChoice: String, ExpressibleByArgument, CaseIterable {
  case cpu, cuda, auto
}

/// `--device cpu|cuda|auto`: `auto` (the default) takes a usable GPU when one is found, else the CPU.
struct DeviceOption: ParsableArguments {
  @Option(help: "Where to compute: cpu, cuda or auto (a usable GPU when found, else the CPU).")
  var device: DeviceChoice = .auto

  init() {}

  init(device: DeviceChoice) { self.device = device }

  /// Moves `sets` (a model's parameters, its adapters, a task head) to the chosen device and
  /// returns it: what `sample`, `chat` and `predict` run on.
  func place(_ sets: [ParameterSet]) throws -> Device {
    let (chosen, _) = try resolve()
    for set in sets { set.place(on: chosen) }
    return chosen
  }

  /// The device to use, and a line saying which; `cuda` without a usable GPU is an error that
  /// says what is missing.
  func resolve() throws -> (device: Device, description: String) {
    if device == .cpu { return (.cpu, "the CPU") }
    do {
      let gpu = try CUDADevice()
      let ops = CUDAOps(kernels: try KernelLibrary(device: gpu, nvrtc: try NVRTC.load()), blas: try CuBLAS(device: gpu))
      return (.cuda(ops), "GPU \(gpu.ordinal) (\(gpu.name), \(gpu.architecture))")
    } catch {
      if device == .cuda { throw CLIError("--device cuda: \(error) (swiftgpt doctor shows what was found)") }
      // No driver: a machine without an NVIDIA GPU, nothing to say. A driver with something
      // else missing is worth a line: the user may have expected the GPU.
      if case .libraryMissing(let library, _) = error, library == CUDALibrary.driver.sonames[0] { return (.cpu, "the CPU") }
      Terminal.error("note: computing on the CPU, the GPU is not usable: \(error)")
      return (.cpu, "the CPU")
    }
  }
}

extension Precision: ExpressibleByArgument {}

/// `--precision fp32|tf32|bf16` for training on a GPU; without it, bf16 on sm_80 and newer.
struct PrecisionOption: ParsableArguments {
  @Option(help: """
    On a GPU, the matrix products' arithmetic: fp32 (as the CPU), tf32 or bf16 (tensor cores, sm_80 and newer; \
    sums, weights and optimizer state stay FP32). Default: bf16 on sm_80 and newer, else fp32.
    """)
  var precision: Precision?

  /// Sets the products of `device` to the chosen precision and returns it; TF32 or bf16 asked
  /// of the CPU or of a GPU older than sm_80 is an error.
  func apply(to device: Device) throws -> Precision {
    guard let gpu = device.gpu else {
      if let precision, precision != .fp32 {
        throw CLIError("--precision \(precision.rawValue) needs a GPU; the CPU computes in FP32 (drop --precision or use --device cuda)")
      }
      return .fp32
    }
    let tensorCores = gpu.device.computeCapability.major >= 8
    if let precision, precision != .fp32, !tensorCores {
      throw CLIError("--precision \(precision.rawValue) needs compute capability 8.0 or newer; \(gpu.device.name) has \(gpu.device.architecture)")
    }
    let chosen = precision ?? (tensorCores ? .bf16 : .fp32)
    try gpu.setPrecision(chosen)
    return chosen
  }
}
