import Foundation

/// The CUDA libraries SwiftGPT opens at run time, none of them needed to build.
public enum CUDALibrary: String, CaseIterable, Sendable {
  /// The driver API (`libcuda.so.1`), installed with the NVIDIA driver, never with a toolkit.
  case driver
  /// The run-time compiler that turns the kernels' CUDA C into device code.
  case nvrtc
  /// The CUDA runtime: cuBLAS needs it initialised.
  case runtime
  /// cuBLASLt, which cuBLAS is built on (loaded first).
  case cublasLt
  /// cuBLAS, for the matrix products.
  case cublas

  /// Sonames to try, newest first (pip wheels ship no unversioned `.so` links).
  public var sonames: [String] {
    switch self {
    case .driver: ["libcuda.so.1"]
    case .nvrtc: ["libnvrtc.so.13", "libnvrtc.so.12"]
    case .runtime: ["libcudart.so.13", "libcudart.so.12"]
    case .cublasLt: ["libcublasLt.so.13", "libcublasLt.so.12"]
    case .cublas: ["libcublas.so.13", "libcublas.so.12"]
    }
  }

  /// Where the library sits inside site-packages: CUDA 13 wheels share `nvidia/cu13/lib`,
  /// CUDA 12 wheels have a folder per package.
  var wheelFolders: [String] {
    switch self {
    case .driver: []
    case .nvrtc: ["nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib"]
    case .runtime: ["nvidia/cu13/lib", "nvidia/cuda_runtime/lib"]
    case .cublasLt, .cublas: ["nvidia/cu13/lib", "nvidia/cublas/lib"]
    }
  }

  /// What to install when the library is missing.
  public var installHint: String {
    switch self {
    case .driver: "install the NVIDIA driver (it provides libcuda.so.1)"
    case .nvrtc: "pip install nvidia-cuda-nvrtc, or install a CUDA toolkit"
    case .runtime: "pip install nvidia-cuda-runtime, or install a CUDA toolkit"
    case .cublasLt, .cublas: "pip install nvidia-cublas, or install a CUDA toolkit"
    }
  }
}

/// Where to look for the CUDA libraries, in order:
///
/// 1. the folders of `SWIFTGPT_CUDA_LIBS` (colon-separated);
/// 2. the system loader's own search by soname (`LD_LIBRARY_PATH`, `ldconfig`'s cache);
/// 3. the `nvidia/…/lib` folders of Python's site-packages (a virtual environment, conda, the
///    user's and the system's Pythons, pyenv);
/// 4. a CUDA toolkit: `CUDA_HOME`, `CUDA_PATH`, `/usr/local/cuda`.
///
/// Only files that exist are offered; step 2 is a bare soname.
public struct LibrarySearch: Sendable {
  /// The environment variables the search reads.
  public var environment: [String: String]
  /// The root the absolute system folders are under (`/`, or a test's temporary folder).
  public var root: String

  public init(environment: [String: String] = ProcessInfo.processInfo.environment, root: String = "/") {
    self.environment = environment
    self.root = root
  }

  /// The paths or sonames to `dlopen` for `library`, in order.
  public func candidates(for library: CUDALibrary) -> [String] {
    var found: [String] = []
    func offer(_ folder: String) {
      for soname in library.sonames {
        let path = (folder as NSString).appendingPathComponent(soname)
        if FileManager.default.fileExists(atPath: path), !found.contains(path) { found.append(path) }
      }
    }
    for folder in (environment["SWIFTGPT_CUDA_LIBS"] ?? "").split(separator: ":") { offer(String(folder)) }
    found += library.sonames
    for sitePackages in sitePackagesFolders() {
      for folder in library.wheelFolders { offer((sitePackages as NSString).appendingPathComponent(folder)) }
    }
    for folder in toolkitFolders() { offer(folder) }
    return found
  }

  /// Python site-packages folders that exist, most specific first.
  func sitePackagesFolders() -> [String] {
    var prefixes: [String] = []
    for name in ["VIRTUAL_ENV", "CONDA_PREFIX"] { if let p = environment[name], !p.isEmpty { prefixes.append(p) } }
    if let home = environment["HOME"], !home.isEmpty {
      prefixes.append(home + "/.local")
      prefixes += subfolders(of: home + "/.pyenv/versions")
    }
    prefixes += [system("/usr/local"), system("/usr"), system("/opt/conda")]
    var folders: [String] = []
    for entry in (environment["PYTHONPATH"] ?? "").split(separator: ":") { folders.append(String(entry)) }
    for prefix in prefixes {
      for python in subfolders(of: prefix + "/lib").filter({ ($0 as NSString).lastPathComponent.hasPrefix("python3") }) {
        folders += [python + "/site-packages", python + "/dist-packages"]
      }
    }
    folders.append(system("/usr/lib/python3/dist-packages"))
    var seen = Set<String>()
    return folders.filter { isFolder($0) && seen.insert($0).inserted }
  }

  /// A CUDA toolkit's library folders.
  func toolkitFolders() -> [String] {
    var homes: [String] = []
    for name in ["CUDA_HOME", "CUDA_PATH"] { if let p = environment[name], !p.isEmpty { homes.append(p) } }
    homes.append(system("/usr/local/cuda"))
    return homes.flatMap { [$0 + "/lib64", $0 + "/targets/x86_64-linux/lib", $0 + "/lib"] }
  }

  private func system(_ path: String) -> String { root == "/" ? path : root + path }

  private func subfolders(of folder: String) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    return names.sorted(by: >).map { folder + "/" + $0 }.filter(isFolder)
  }

  private func isFolder(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
  }
}
