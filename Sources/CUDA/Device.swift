import Synchronization

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

  /// Device memory for `count` values of `T`, zero-filled unless `zeroed` is false. Released
  /// buffers are kept for reuse by size (`cuMemFree` waits for the device); they are freed when
  /// an allocation would not fit otherwise.
  public func allocate<T: BitwiseCopyable>(_ type: T.Type, count: Int, zeroed: Bool = true) throws(CUDAError) -> DeviceBuffer {
    try makeCurrent()
    let bytes = (max(1, count) * MemoryLayout<T>.stride + 255) / 256 * 256
    var address: UInt64 = pool.withLock { $0[bytes]?.popLast() } ?? 0
    if address == 0 {
      var result = driver.cuMemAlloc(&address, bytes)
      if result == 2 {
        releasePool()
        result = driver.cuMemAlloc(&address, bytes)
      }
      try driver.check("cuMemAlloc_v2(\(bytes) bytes)", result)
    }
    let buffer = DeviceBuffer(device: self, address: address, bytes: bytes)
    if zeroed { try driver.check("cuMemsetD8_v2", driver.cuMemsetD8(address, 0, bytes)) }
    return buffer
  }

  /// Freed buffers by size in bytes, for reuse.
  private let pool = Mutex<[Int: [UInt64]]>([:])

  func recycle(_ address: UInt64, bytes: Int) { pool.withLock { $0[bytes, default: []].append(address) } }

  private func releasePool() {
    let addresses = pool.withLock { p in defer { p = [:] }; return p.values.flatMap { $0 } }
    for address in addresses { _ = driver.cuMemFree(address) }
  }

  /// Sets `count` 4-byte elements of `memory` to zero.
  public func zero(_ memory: any DeviceMemory, count: Int) throws(CUDAError) {
    try makeCurrent()
    let p = memory.pointer
    precondition(4 * (p.offset + count) <= p.buffer.bytes, "zeroing past the end of a device buffer")
    try driver.check("cuMemsetD8_v2", driver.cuMemsetD8(p.address, 0, 4 * count))
  }

  /// A new device buffer holding `values`.
  public func upload<T: BitwiseCopyable>(_ values: [T]) throws(CUDAError) -> DeviceBuffer {
    let buffer = try allocate(T.self, count: values.count, zeroed: false)
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
      case .pointer(let p): slot.storeBytes(of: p.address, as: UInt64.self)
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
  /// A device pointer (`float*`, `int*`, ...).
  case pointer(DevicePointer)
  /// A null pointer (an optional input left out).
  case null
  /// An `int`.
  case int(Int)
  /// A `long` (64-bit: element counts that may pass 2³¹).
  case long(Int)
  /// A `float`.
  case float(Float)

  /// The start of `memory` as a pointer argument.
  public static func buffer(_ memory: any DeviceMemory) -> KernelArgument { .pointer(memory.pointer) }
}

/// Device memory an op reads or writes: a whole buffer, or a place inside one.
public protocol DeviceMemory {
  /// Where it starts.
  var pointer: DevicePointer { get }
}

/// A place in device memory: `offset` 4-byte elements (`Float`s, `Int32`s) into a buffer, as a
/// parameter sits inside the flat parameter buffer.
public struct DevicePointer: DeviceMemory, @unchecked Sendable {
  public let buffer: DeviceBuffer
  public let offset: Int

  /// Copies and kernels check their own bounds; a pointer may be made past a buffer's end.
  public init(_ buffer: DeviceBuffer, offset: Int = 0) {
    self.buffer = buffer
    self.offset = offset
  }

  public var pointer: DevicePointer { self }
  /// The device address.
  public var address: UInt64 { buffer.address + UInt64(4 * offset) }
  /// The pointer `n` elements further on.
  public func advanced(by n: Int) -> DevicePointer { DevicePointer(buffer, offset: offset + n) }
}

/// A block of device memory, given back to its device's pool when released.
public final class DeviceBuffer: DeviceMemory, @unchecked Sendable {
  public let device: CUDADevice
  /// The device address, and the size in bytes.
  public let address: UInt64
  public let bytes: Int

  init(device: CUDADevice, address: UInt64, bytes: Int) {
    self.device = device
    self.address = address
    self.bytes = bytes
  }

  deinit { device.recycle(address, bytes: bytes) }

  public var pointer: DevicePointer { DevicePointer(self) }
}

extension DeviceMemory {
  /// Copies `bytes` bytes from host memory to here (synchronous).
  public func copy(from host: UnsafeRawPointer, bytes: Int) throws(CUDAError) {
    let p = pointer, device = p.buffer.device
    precondition(4 * p.offset + bytes <= p.buffer.bytes, "copy of \(bytes) bytes past the end of a device buffer")
    try device.makeCurrent()
    try device.driver.check("cuMemcpyHtoD_v2", device.driver.cuMemcpyHtoD(p.address, host, bytes))
  }

  /// Copies `bytes` bytes from here to host memory (synchronous: waits for the work before it).
  public func copy(to host: UnsafeMutableRawPointer, bytes: Int) throws(CUDAError) {
    let p = pointer, device = p.buffer.device
    precondition(4 * p.offset + bytes <= p.buffer.bytes, "copy of \(bytes) bytes past the end of a device buffer")
    try device.makeCurrent()
    try device.driver.check("cuMemcpyDtoH_v2", device.driver.cuMemcpyDtoH(host, p.address, bytes))
  }

  /// Copies `values` here.
  public func copy<T: BitwiseCopyable>(from values: [T]) throws(CUDAError) {
    let copied = values.withUnsafeBytes { raw in
      Result { () throws(CUDAError) in if let base = raw.baseAddress { try copy(from: base, bytes: raw.count) } }
    }
    try copied.get()
  }

  /// The first `count` values of type `T` here.
  public func values<T: BitwiseCopyable>(_ type: T.Type, count: Int) throws(CUDAError) -> [T] {
    var out = [T](unsafeUninitializedCapacity: count) { _, n in n = count }
    let copied = out.withUnsafeMutableBytes { raw in
      Result { () throws(CUDAError) in if let base = raw.baseAddress { try copy(to: base, bytes: raw.count) } }
    }
    try copied.get()
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
