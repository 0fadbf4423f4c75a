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
      return (.cpu, "the CPU")
    }
  }
}
