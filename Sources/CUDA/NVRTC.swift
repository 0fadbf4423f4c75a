import Foundation

/// NVRTC, the run-time CUDA C compiler: kernels are compiled for the device's architecture on
/// first use (no GPU needed to compile).
public struct NVRTC: Sendable {
  /// The library that was loaded.
  public let library: SharedLibrary
  /// NVRTC's (major, minor) version.
  public let version: (major: Int32, minor: Int32)

  private typealias Program = OpaquePointer?
  private let createProgram: @convention(c) (UnsafeMutablePointer<Program>, UnsafePointer<CChar>, UnsafePointer<CChar>,
                                             Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
  private let compileProgram: @convention(c) (Program, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> Int32
  private let destroyProgram: @convention(c) (UnsafeMutablePointer<Program>) -> Int32
  private let getCUBINSize: @convention(c) (Program, UnsafeMutablePointer<Int>) -> Int32
  private let getCUBIN: @convention(c) (Program, UnsafeMutablePointer<CChar>) -> Int32
  private let getLogSize: @convention(c) (Program, UnsafeMutablePointer<Int>) -> Int32
  private let getLog: @convention(c) (Program, UnsafeMutablePointer<CChar>) -> Int32
  private let getErrorString: @convention(c) (Int32) -> UnsafePointer<CChar>?

  /// Loads NVRTC (see `LibrarySearch` for where it is looked for).
  public static func load(search: LibrarySearch = LibrarySearch()) throws(CUDAError) -> NVRTC {
    try NVRTC(library: SharedLibrary.open(.nvrtc, search: search))
  }

  private init(library: SharedLibrary) throws(CUDAError) {
    self.library = library
    createProgram = try library.symbol("nvrtcCreateProgram")
    compileProgram = try library.symbol("nvrtcCompileProgram")
    destroyProgram = try library.symbol("nvrtcDestroyProgram")
    getCUBINSize = try library.symbol("nvrtcGetCUBINSize")
    getCUBIN = try library.symbol("nvrtcGetCUBIN")
    getLogSize = try library.symbol("nvrtcGetProgramLogSize")
    getLog = try library.symbol("nvrtcGetProgramLog")
    getErrorString = try library.symbol("nvrtcGetErrorString")
    let nvrtcVersion: @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Int32 =
      try library.symbol("nvrtcVersion")
    var major: Int32 = 0, minor: Int32 = 0
    _ = nvrtcVersion(&major, &minor)
    version = (major, minor)
  }

  /// Compiles CUDA C `source` into a CUBIN for `architecture` (`sm_90`), with extra `options`.
  /// A compilation error is thrown with the compiler's first error line.
  public func compile(_ source: String, name: String, architecture: String, options: [String] = []) throws(CUDAError) -> [UInt8] {
    var program: Program = nil
    try check("nvrtcCreateProgram", createProgram(&program, source, name, 0, nil, nil))
    defer { _ = destroyProgram(&program) }
    let arguments = ["--gpu-architecture=\(architecture)", "--std=c++17"] + options
    let strings = arguments.map { strdup($0) }
    defer { strings.forEach { free($0) } }
    let pointers = strings.map { UnsafePointer<CChar>($0) }
    let status = pointers.withUnsafeBufferPointer { compileProgram(program, Int32($0.count), $0.baseAddress) }
    if status != 0 {
      throw .nvrtc(call: "nvrtcCompileProgram(\(name), \(architecture))", code: status, message: message(status),
                   log: firstError(in: log(program)))
    }
    var size = 0
    try check("nvrtcGetCUBINSize", getCUBINSize(program, &size))
    var cubin = [UInt8](repeating: 0, count: size)
    let got = cubin.withUnsafeMutableBytes { getCUBIN(program, $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
    try check("nvrtcGetCUBIN", got)
    return cubin
  }

  private func log(_ program: Program) -> String {
    var size = 0
    guard getLogSize(program, &size) == 0, size > 1 else { return "" }
    var bytes = [CChar](repeating: 0, count: size)
    guard getLog(program, &bytes) == 0 else { return "" }
    return String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// The compiler's first "error" line (or its first line), so the failure stays one line.
  private func firstError(in log: String) -> String {
    let lines = log.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    return lines.first { $0.contains("error") } ?? lines.first ?? ""
  }

  private func message(_ status: Int32) -> String { getErrorString(status).map { String(cString: $0) } ?? "unknown" }

  private func check(_ call: String, _ status: Int32) throws(CUDAError) {
    if status != 0 { throw .nvrtc(call: call, code: status, message: message(status), log: "") }
  }
}
