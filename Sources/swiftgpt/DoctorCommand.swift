import ArgumentParser
import CUDA
import Foundation
import TensorEngine

/// `swiftgpt doctor`: what the GPU stack offers here, and with `--check` each CUDA op against
/// the CPU engine.
struct DoctorCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "doctor",
    abstract: "Report the CUDA driver, GPU and libraries found (and what is missing); --check compares every GPU op with the CPU.")

  @Flag(help: "Run each CUDA op on the GPU against the CPU engine (needs a GPU); fails if any differs.")
  var check = false

  func run() throws {
    let diagnosis = CUDADiagnosis()
    let width = diagnosis.findings.map(\.label.count).max() ?? 0
    for (label, value) in diagnosis.findings {
      print("\(label.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)")
    }
    print(diagnosis.isUsable ? "GPU: usable" : "GPU: not usable (the CPU is used); SWIFTGPT_CUDA_LIBS=DIR adds a library folder")
    guard check else { return }
    guard diagnosis.isUsable, let device = diagnosis.device, let nvrtc = diagnosis.nvrtc, let blas = diagnosis.blas else {
      throw CLIError("--check needs a usable GPU: \(diagnosis.problems.first ?? "none found")")
    }
    let ops = CUDAOps(kernels: try KernelLibrary(device: device, nvrtc: nvrtc), blas: blas)
    let results = try CUDAParity.run(ops)
    for r in results {
      print("\(r.passed ? "ok  " : "FAIL") \(r.name.padding(toLength: 34, withPad: " ", startingAt: 0)) "
        + "\(String(format: "%.2e", r.relativeError)) (tolerance \(String(format: "%.0e", r.tolerance)))")
    }
    let failed = results.filter { !$0.passed }.count
    print("\(results.count - failed) of \(results.count) GPU results match the CPU engine")
    if failed > 0 { throw ExitCode.failure }
  }
}
