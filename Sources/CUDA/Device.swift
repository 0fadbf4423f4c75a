/// One NVIDIA GPU through the driver API: its primary context (shared with cuBLAS), memory and
/// kernel launches. Every call makes the context current first, so it may come from any thread.
public final class CUDADevice: @unchecked Sendable {
  /// The device's ordinal, name and compute capability (major, minor).
  public let ordinal: Int
  public let name: String
  public let computeCapability: (major: Int, minor: Int)
  /// Global memory in bytes, and the number of streaming multiprocessors.
  public let totalMemory: Int
  public let multiprocessors: Int
  /// The driver's CUDA version as (major, minor), e.g. (13, 0).
  public let driverVersion: (major: Int, minor: Int)
  /// The driver library that was loaded.
  public var driverPath: String { driver.library.path }
  let driver: Driver
  let context: OpaquePointer?

  /// Opens GPU `ordinal`: loads the driver, initialises it and retains the primary context.
  public init(ordinal: Int = 0, search: LibrarySearch = LibrarySearch()) throws(CUDAError) {
    let driver = try Driver(search: search)
    let initialised = driver.cuInit(0)
    if initialised == 100 { throw .noDevice("the driver (\(driver.library.path)) reports no CUDA device") }
    try driver.check("cuInit", initialised)
    var count: Int32 = 0
    try driver.check("cuDeviceGetCount", driver.cuDeviceGetCount(&count))
    guard ordinal < count else { throw .noDevice("GPU \(ordinal) asked for, \(count) found") }
    var device: Int32 = 0
    try driver.check("cuDeviceGet", driver.cuDeviceGet(&device, Int32(ordinal)))
    var nameBytes = [CChar](repeating: 0, count: 256)
    try driver.check("cuDeviceGetName", driver.cuDeviceGetName(&nameBytes, 256, device))
    var memory = 0
    try driver.check("cuDeviceTotalMem_v2", driver.cuDeviceTotalMem(&memory, device))
    func attribute(_ code: Int32) throws(CUDAError) -> Int {
      var value: Int32 = 0
      try driver.check("cuDeviceGetAttribute(\(code))", driver.cuDeviceGetAttribute(&value, code, device))
      return Int(value)
    }
    computeCapability = (try attribute(75), try attribute(76))
    multiprocessors = try attribute(16)
    var version: Int32 = 0
    try driver.check("cuDriverGetVersion", driver.cuDriverGetVersion(&version))
    driverVersion = (Int(version) / 1000, Int(version) % 1000 / 10)
    var context: OpaquePointer?
    try driver.check("cuDevicePrimaryCtxRetain", driver.cuDevicePrimaryCtxRetain(&context, device))
    self.ordinal = ordinal
    self.name = String(decoding: nameBytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    self.totalMemory = memory
    self.driver = driver
    self.context = context
    try makeCurrent()
  }

  /// The architecture name NVRTC compiles for (`sm_90`).
  public var architecture: String { "sm_\(computeCapability.major)\(computeCapability.minor)" }

  /// Free and total device memory in bytes.
  public func memoryInfo() throws(CUDAError) -> (free: Int, total: Int) {
    try makeCurrent()
    var free = 0, total = 0
    try driver.check("cuMemGetInfo_v2", driver.cuMemGetInfo(&free, &total))
    return (free, total)
  }

  func makeCurrent() throws(CUDAError) { try driver.check("cuCtxSetCurrent", driver.cuCtxSetCurrent(context)) }

  /// Waits for all work queued on the device.
  public func synchronize() throws(CUDAError) {
    try makeCurrent()
    try driver.check("cuCtxSynchronize", driver.cuCtxSynchronize())
  }

  /// Device memory for `count` values of `T`, zero-filled.
  public func allocate<T: BitwiseCopyable>(_ type: T.Type, count: Int) throws(CUDAError) -> DeviceBuffer {
    try makeCurrent()
    let bytes = max(1, count) * MemoryLayout<T>.stride
    var address: UInt64 = 0
    try driver.check("cuMemAlloc_v2(\(bytes) bytes)", driver.cuMemAlloc(&address, bytes))
    let buffer = DeviceBuffer(device: self, address: address, bytes: bytes)
    try driver.check("cuMemsetD8_v2", driver.cuMemsetD8(address, 0, bytes))
    return buffer
  }

  /// A new device buffer holding `values`.
  public func upload<T: BitwiseCopyable>(_ values: [T]) throws(CUDAError) -> DeviceBuffer {
    let buffer = try allocate(T.self, count: values.count)
    try buffer.copy(from: values)
    return buffer
  }

  /// Loads a compiled module (a CUBIN).
  public func load(module image: [UInt8]) throws(CUDAError) -> CUDAModule {
    try makeCurrent()
    var module: OpaquePointer?
    let result = image.withUnsafeBytes { driver.cuModuleLoadData(&module, $0.baseAddress!) }
    try driver.check("cuModuleLoadData", result)
    return CUDAModule(device: self, handle: module)
  }

  /// Launches `kernel` on a grid of `grid` blocks of `block` threads, with `sharedBytes` of
  /// dynamic shared memory, on the default stream (asynchronous).
  public func launch(_ kernel: CUDAKernel, grid: (Int, Int, Int), block: (Int, Int, Int), sharedBytes: Int = 0,
                     _ arguments: [KernelArgument]) throws(CUDAError) {
    try makeCurrent()
    // One 8-byte slot per argument, and the array of pointers to the slots the driver reads.
    let slots = UnsafeMutableRawPointer.allocate(byteCount: 8 * max(1, arguments.count), alignment: 8)
    let pointers = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: max(1, arguments.count))
    defer { slots.deallocate(); pointers.deallocate() }
    for (i, argument) in arguments.enumerated() {
      let slot = slots + 8 * i
      switch argument {
      case .buffer(let b, let offset): slot.storeBytes(of: b.address + UInt64(offset), as: UInt64.self)
      case .int(let v): slot.storeBytes(of: Int32(v), as: Int32.self)
      case .long(let v): slot.storeBytes(of: Int64(v), as: Int64.self)
      case .null: slot.storeBytes(of: UInt64(0), as: UInt64.self)
      case .float(let v): slot.storeBytes(of: v, as: Float.self)
      }
      pointers[i] = slot
    }
    let result = withExtendedLifetime(arguments) {
      driver.cuLaunchKernel(kernel.handle, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(block.0),
                            UInt32(block.1), UInt32(block.2), UInt32(sharedBytes), nil, pointers, nil)
    }
    try driver.check("cuLaunchKernel(\(kernel.name))", result)
  }
}

/// One argument of a kernel launch, in the C type the kernel declares.
public enum KernelArgument {
  /// A device pointer (`float*`, `int*`, ...), `offset` bytes into a buffer.
  case buffer(DeviceBuffer, offset: Int = 0)
  /// A null pointer (an optional input left out).
  case null
  /// An `int`.
  case int(Int)
  /// A `long` (64-bit: element counts that may pass 2³¹).
  case long(Int)
  /// A `float`.
  case float(Float)
}

/// A block of device memory, freed when released.
public final class DeviceBuffer: @unchecked Sendable {
  public let device: CUDADevice
  /// The device address, and the size in bytes.
  public let address: UInt64
  public let bytes: Int

  init(device: CUDADevice, address: UInt64, bytes: Int) {
    self.device = device
    self.address = address
    self.bytes = bytes
  }

  deinit {
    _ = device.driver.cuCtxSetCurrent(device.context)
    _ = device.driver.cuMemFree(address)
  }

  /// Copies `values` to the start of the buffer (synchronous).
  public func copy<T: BitwiseCopyable>(from values: [T]) throws(CUDAError) {
    let size = values.count * MemoryLayout<T>.stride
    precondition(size <= bytes, "copy of \(size) bytes into a buffer of \(bytes)")
    try device.makeCurrent()
    let result = values.withUnsafeBytes { device.driver.cuMemcpyHtoD(address, $0.baseAddress!, size) }
    try device.driver.check("cuMemcpyHtoD_v2", result)
  }

  /// The first `count` values of type `T` (synchronous: waits for the work before it).
  public func values<T: BitwiseCopyable>(_ type: T.Type, count: Int) throws(CUDAError) -> [T] {
    precondition(count * MemoryLayout<T>.stride <= bytes, "read of \(count) values from a buffer of \(bytes) bytes")
    try device.makeCurrent()
    var out = [T](unsafeUninitializedCapacity: count) { _, n in n = count }
    let result = out.withUnsafeMutableBytes { device.driver.cuMemcpyDtoH($0.baseAddress!, address, count * MemoryLayout<T>.stride) }
    try device.driver.check("cuMemcpyDtoH_v2", result)
    return out
  }
}

/// A loaded module of compiled kernels.
public final class CUDAModule: @unchecked Sendable {
  let device: CUDADevice
  let handle: OpaquePointer?

  init(device: CUDADevice, handle: OpaquePointer?) {
    self.device = device
    self.handle = handle
  }

  /// The `extern "C"` kernel called `name`.
  public func kernel(_ name: String) throws(CUDAError) -> CUDAKernel {
    try device.makeCurrent()
    var function: OpaquePointer?
    try device.driver.check("cuModuleGetFunction(\(name))", device.driver.cuModuleGetFunction(&function, handle, name))
    return CUDAKernel(name: name, handle: function)
  }
}

/// A kernel function of a loaded module.
public struct CUDAKernel: @unchecked Sendable {
  public let name: String
  let handle: OpaquePointer?
}
