import Foundation

/// What this machine's CUDA stack offers: the GPU, the driver, and the libraries found, or what
/// is missing and how to install it (`swiftgpt doctor`).
public struct CUDADiagnosis {
  /// Findings as (label, value) lines, in order.
  public private(set) var findings: [(label: String, value: String)] = []
  /// What stops the GPU from being used, one line each, with what to do.
  public private(set) var problems: [String] = []
  /// The opened GPU, when the driver found one.
  public private(set) var device: CUDADevice?
  /// NVRTC, when found.
  public private(set) var nvrtc: NVRTC?
  /// cuBLAS on the device, when both were found.
  public private(set) var blas: CuBLAS?

  /// Whether SwiftGPT can run on the GPU: a device, NVRTC and cuBLAS.
  public var isUsable: Bool { device != nil && nvrtc != nil && blas != nil }

  /// Probes the driver, the first GPU, NVRTC (compiling the kernels for the GPU's architecture,
  /// or sm_90 without one) and cuBLAS.
  public init(search: LibrarySearch = LibrarySearch(), cacheFolder: String? = KernelLibrary.defaultCacheFolder()) {
    do {
      let device = try CUDADevice(search: search)
      self.device = device
      findings.append(("driver", "\(device.driverPath) (CUDA \(device.driverVersion.major).\(device.driverVersion.minor))"))
      let gib = Double(device.totalMemory) / Double(1 << 30)
      findings.append(("GPU 0", "\(device.name), \(String(format: "%.1f", gib)) GiB, compute capability "
        + "\(device.computeCapability.major).\(device.computeCapability.minor), \(device.multiprocessors) SMs"))
      if device.computeCapability.major < 7 {
        problems.append("\(device.name) has compute capability \(device.computeCapability.major).\(device.computeCapability.minor); SwiftGPT needs 7.0 or newer")
      }
    } catch {
      findings.append(("driver", error.description))
      problems.append(error.description)
    }
    do {
      let nvrtc = try NVRTC.load(search: search)
      self.nvrtc = nvrtc
      findings.append(("NVRTC", "\(nvrtc.library.path) (\(nvrtc.version.major).\(nvrtc.version.minor))"))
      let architecture = device?.architecture ?? "sm_90"
      let start = Date()
      let (image, cached) = try KernelLibrary.cubin(nvrtc: nvrtc, architecture: architecture, cacheFolder: cacheFolder)
      let how = cached ? "read from the cache" : String(format: "compiled in %.2f s", Date().timeIntervalSince(start))
      findings.append(("kernels", "\(KernelLibrary.kernelNames.count) kernels for \(architecture), \(image.count) bytes, \(how)"))
    } catch {
      findings.append(("NVRTC", error.description))
      problems.append(error.description)
    }
    guard let device else { return }
    do {
      let blas = try CuBLAS(device: device, search: search)
      self.blas = blas
      findings.append(("cuBLAS", blas.path))
    } catch {
      findings.append(("cuBLAS", error.description))
      problems.append(error.description)
    }
  }
}
