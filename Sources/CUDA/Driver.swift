/// The CUDA driver API functions SwiftGPT calls, looked up in `libcuda.so.1`.
///
/// C widths as the driver declares them: `CUresult`, `int` and enums are `Int32`, `unsigned` is
/// `UInt32`, `size_t` is `Int`, a `CUdeviceptr` is `UInt64` and handles are opaque pointers.
struct Driver: Sendable {
  let library: SharedLibrary
  let cuInit: @convention(c) (UInt32) -> Int32
  let cuDriverGetVersion: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
  let cuDeviceGetCount: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
  let cuDeviceGet: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
  let cuDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> Int32
  let cuDeviceTotalMem: @convention(c) (UnsafeMutablePointer<Int>, Int32) -> Int32
  let cuDeviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> Int32
  let cuDevicePrimaryCtxRetain: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, Int32) -> Int32
  let cuCtxSetCurrent: @convention(c) (OpaquePointer?) -> Int32
  let cuCtxSynchronize: @convention(c) () -> Int32
  let cuMemAlloc: @convention(c) (UnsafeMutablePointer<UInt64>, Int) -> Int32
  let cuMemFree: @convention(c) (UInt64) -> Int32
  let cuMemGetInfo: @convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> Int32
  let cuMemcpyHtoD: @convention(c) (UInt64, UnsafeRawPointer, Int) -> Int32
  let cuMemcpyDtoH: @convention(c) (UnsafeMutableRawPointer, UInt64, Int) -> Int32
  let cuMemsetD8: @convention(c) (UInt64, UInt8, Int) -> Int32
  let cuModuleLoadData: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, UnsafeRawPointer) -> Int32
  let cuModuleGetFunction: @convention(c) (UnsafeMutablePointer<OpaquePointer?>, OpaquePointer?, UnsafePointer<CChar>) -> Int32
  let cuLaunchKernel: @convention(c) (OpaquePointer?, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, OpaquePointer?,
                                      UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int32
  let cuGetErrorName: @convention(c) (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Int32
  let cuGetErrorString: @convention(c) (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Int32

  init(search: LibrarySearch) throws(CUDAError) {
    let l = try SharedLibrary.open(.driver, search: search)
    library = l
    cuInit = try l.symbol("cuInit")
    cuDriverGetVersion = try l.symbol("cuDriverGetVersion")
    cuDeviceGetCount = try l.symbol("cuDeviceGetCount")
    cuDeviceGet = try l.symbol("cuDeviceGet")
    cuDeviceGetName = try l.symbol("cuDeviceGetName")
    cuDeviceTotalMem = try l.symbol("cuDeviceTotalMem_v2")
    cuDeviceGetAttribute = try l.symbol("cuDeviceGetAttribute")
    cuDevicePrimaryCtxRetain = try l.symbol("cuDevicePrimaryCtxRetain")
    cuCtxSetCurrent = try l.symbol("cuCtxSetCurrent")
    cuCtxSynchronize = try l.symbol("cuCtxSynchronize")
    cuMemAlloc = try l.symbol("cuMemAlloc_v2")
    cuMemFree = try l.symbol("cuMemFree_v2")
    cuMemGetInfo = try l.symbol("cuMemGetInfo_v2")
    cuMemcpyHtoD = try l.symbol("cuMemcpyHtoD_v2")
    cuMemcpyDtoH = try l.symbol("cuMemcpyDtoH_v2")
    cuMemsetD8 = try l.symbol("cuMemsetD8_v2")
    cuModuleLoadData = try l.symbol("cuModuleLoadData")
    cuModuleGetFunction = try l.symbol("cuModuleGetFunction")
    cuLaunchKernel = try l.symbol("cuLaunchKernel")
    cuGetErrorName = try l.symbol("cuGetErrorName")
    cuGetErrorString = try l.symbol("cuGetErrorString")
  }

  /// Throws a one-line error naming `call` unless `result` is CUDA_SUCCESS.
  func check(_ call: String, _ result: Int32) throws(CUDAError) {
    guard result != 0 else { return }
    var name: UnsafePointer<CChar>?, text: UnsafePointer<CChar>?
    _ = cuGetErrorName(result, &name)
    _ = cuGetErrorString(result, &text)
    throw .driver(call: call, code: result, name: name.map { String(cString: $0) } ?? "CUDA_ERROR_\(result)",
                  message: text.map { String(cString: $0) } ?? "unknown error")
  }
}
