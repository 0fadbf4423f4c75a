import FileSupport
import Foundation
import Synchronization

/// SwiftGPT's CUDA kernels: CUDA C source in `Kernels/`, compiled by NVRTC for the device's
/// architecture on first use and cached on disk, keyed by the source, the options, the
/// architecture and NVRTC's version.
public final class KernelLibrary: @unchecked Sendable {
  /// The kernel sources, in the order they are joined into one program (helpers first).
  public static let sources: [(name: String, text: String)] = [
    ("common.cu", PackageResources.common_cu), ("elementwise.cu", PackageResources.elementwise_cu),
    ("embedding.cu", PackageResources.embedding_cu), ("layernorm.cu", PackageResources.layernorm_cu),
    ("attention.cu", PackageResources.attention_cu), ("crossentropy.cu", PackageResources.crossentropy_cu),
  ].map { ($0.0, String(decoding: $0.1, as: UTF8.self)) }

  /// The whole program NVRTC compiles.
  public static var program: String {
    sources.map { "// ---- \($0.name)\n\($0.text)" }.joined(separator: "\n")
  }

  /// Compiler options. Fast math stays off: results must match the CPU engine's.
  static let options = ["--fmad=true"]

  /// The names of every `extern "C" __global__` kernel in the sources.
  public static var kernelNames: [String] {
    let declaration = "extern \"C\" __global__ void "
    return program.split(separator: "\n").compactMap { line -> String? in
      guard line.hasPrefix(declaration) else { return nil }
      return String(line.dropFirst(declaration.count).prefix { $0 != "(" })
    }
  }

  /// Compiles the program for `architecture` (`sm_90`), or reads the CUBIN cached in `cacheFolder`
  /// by an earlier run. `cached` says which; a cache that cannot be written is only skipped.
  public static func cubin(nvrtc: NVRTC, architecture: String, cacheFolder: String?) throws(CUDAError)
    -> (image: [UInt8], cached: Bool)
  {
    let key = "\(program)\u{0}\(options)\u{0}\(architecture)\u{0}\(nvrtc.version.major).\(nvrtc.version.minor)"
    let file = cacheFolder.map { "\($0)/kernels-\(architecture)-\(fnv1a(key)).cubin" }
    if let file, let data = FileManager.default.contents(atPath: file), !data.isEmpty { return ([UInt8](data), true) }
    let image = try nvrtc.compile(program, name: "swiftgpt.cu", architecture: architecture, options: options)
    if let file, let folder = cacheFolder {
      try? createFolder(folder)
      try? writeAtomically(Data(image), to: file)
    }
    return (image, false)
  }

  /// The default cache folder: `$XDG_CACHE_HOME/swiftgpt/cuda`, else `~/.cache/swiftgpt/cuda`.
  public static func defaultCacheFolder(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
    if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/swiftgpt/cuda" }
    if let home = environment["HOME"], !home.isEmpty { return home + "/.cache/swiftgpt/cuda" }
    return nil
  }

  /// The device the kernels are loaded on.
  public let device: CUDADevice
  /// Whether the CUBIN came from the disk cache.
  public let wasCached: Bool
  private let module: CUDAModule
  private let kernels = Mutex<[String: CUDAKernel]>([:])

  /// Compiles (or reads from the cache) and loads the kernels on `device`.
  public init(device: CUDADevice, nvrtc: NVRTC, cacheFolder: String? = KernelLibrary.defaultCacheFolder()) throws(CUDAError) {
    let (image, cached) = try Self.cubin(nvrtc: nvrtc, architecture: device.architecture, cacheFolder: cacheFolder)
    self.device = device
    wasCached = cached
    module = try device.load(module: image)
  }

  /// The kernel called `name`.
  public func kernel(_ name: String) throws(CUDAError) -> CUDAKernel {
    if let known = kernels.withLock({ $0[name] }) { return known }
    let kernel = try module.kernel(name)
    kernels.withLock { $0[name] = kernel }
    return kernel
  }

  /// Launches `name` over `count` threads in blocks of `block`.
  func launch(_ name: String, threads count: Int, block: Int = 256, _ arguments: [KernelArgument]) throws(CUDAError) {
    try device.launch(kernel(name), grid: ((count + block - 1) / block, 1, 1), block: (block, 1, 1), arguments)
  }

  /// Launches `name` on a grid of `grid` blocks of `block` threads.
  func launch(_ name: String, grid: (Int, Int), block: Int, _ arguments: [KernelArgument]) throws(CUDAError) {
    try device.launch(kernel(name), grid: (grid.0, grid.1, 1), block: (block, 1, 1), arguments)
  }
}

/// 64-bit FNV-1a of a string's UTF-8, as 16 hex digits (a stable cache key across runs).
func fnv1a(_ text: String) -> String {
  var hash: UInt64 = 0xcbf2_9ce4_8422_2325
  for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
  let hex = String(hash, radix: 16)
  return String(repeating: "0", count: 16 - hex.count) + hex
}
