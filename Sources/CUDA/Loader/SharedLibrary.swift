import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A shared library opened with `dlopen`, kept open for the life of the process.
public struct SharedLibrary: @unchecked Sendable {
  /// Which library this is.
  public let library: CUDALibrary
  /// The file that was loaded.
  public let path: String
  private let handle: UnsafeMutableRawPointer

  /// Opens the first of `search`'s candidates for `library` that loads; the error lists what was
  /// tried and how to install the library.
  public static func open(_ library: CUDALibrary, search: LibrarySearch = LibrarySearch()) throws(CUDAError) -> SharedLibrary {
    var failures: [String] = []
    for candidate in search.candidates(for: library) {
      if library == .nvrtc, candidate.hasPrefix("/") { preloadNVRTCBuiltins(besides: candidate) }
      guard let handle = dlopen(candidate, RTLD_NOW | RTLD_GLOBAL) else {
        // A bare soname the system loader does not know is the common case, not worth listing.
        if candidate.hasPrefix("/") { failures.append(lastDLError()) }
        continue
      }
      return SharedLibrary(library: library, path: loadedPath(handle) ?? candidate, handle: handle)
    }
    let tried = failures.isEmpty ? "" : " (\(failures.joined(separator: "; ")))"
    throw .libraryMissing(library: library.sonames[0], detail: "not found\(tried): \(library.installHint)")
  }

  /// The function `name` as the C function type `T`.
  func symbol<T>(_ name: String, as type: T.Type = T.self) throws(CUDAError) -> T {
    guard let address = dlsym(handle, name) else {
      throw .libraryMissing(library: (path as NSString).lastPathComponent, detail: "has no function \(name)")
    }
    return unsafeBitCast(address, to: T.self)
  }

  /// NVRTC from a pip wheel has no RUNPATH, so its builtins library (found beside it) must be
  /// loaded first, or every compilation fails with "failed to open libnvrtc-builtins".
  private static func preloadNVRTCBuiltins(besides path: String) {
    let folder = (path as NSString).deletingLastPathComponent
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    for name in names.sorted(by: >) where name.hasPrefix("libnvrtc-builtins.so.") {
      if dlopen(folder + "/" + name, RTLD_NOW | RTLD_GLOBAL) != nil { return }
    }
  }

  /// The file a handle was loaded from: `dlinfo(RTLD_DI_LINKMAP)` (looked up at run time, as
  /// Glibc's module map hides the GNU extensions), whose `link_map` holds the name after `l_addr`.
  private static func loadedPath(_ handle: UnsafeMutableRawPointer) -> String? {
    typealias DLInfo = @convention(c) (UnsafeMutableRawPointer, Int32, UnsafeMutableRawPointer) -> Int32
    guard let address = dlsym(nil, "dlinfo") else { return nil }
    let dlinfo = unsafeBitCast(address, to: DLInfo.self)
    var map: UnsafeRawPointer?
    guard dlinfo(handle, 2, &map) == 0, let map,  // RTLD_DI_LINKMAP
      let name = map.load(fromByteOffset: MemoryLayout<UInt>.size, as: UnsafePointer<CChar>?.self)
    else { return nil }
    let path = String(cString: name)
    return path.isEmpty ? nil : path
  }

  private static func lastDLError() -> String {
    dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
  }
}
