import CUDA

/// Where a tensor's values live and its ops run: this machine's CPU, or a GPU through the CUDA
/// backend. Models, losses and optimizers are written once; each op runs where its inputs are.
public enum Device: Sendable {
  case cpu
  case cuda(CUDAOps)

  /// The GPU's ops, or nil on the CPU.
  public var gpu: CUDAOps? {
    if case .cuda(let ops) = self { return ops }
    return nil
  }
}

/// The device memory of a GPU tensor's storage, and the ops that run on it.
public struct GPUMemory: @unchecked Sendable {
  public let buffer: DeviceBuffer
  public let ops: CUDAOps
}

extension Storage {
  /// `count` floats on `device`, zero-filled when `zeroed`. On a GPU, a failed allocation is kept
  /// as the ops' failure (see `CUDAOps.run`) and the storage gets a one-element stand-in.
  public convenience init(count: Int, zeroed: Bool = true, on device: Device) {
    guard let ops = device.gpu else {
      self.init(count: count, zeroed: zeroed)
      return
    }
    var buffer: DeviceBuffer?
    ops.run { () throws(CUDAError) in buffer = try ops.device.allocate(Float.self, count: count, zeroed: zeroed) }
    if buffer == nil {
      // Ops after a failure do nothing, so this stand-in is never read.
      do { buffer = try ops.device.allocate(UInt8.self, count: 1) } catch { fatalError("GPU memory exhausted: \(error)") }
    }
    self.init(gpu: GPUMemory(buffer: buffer!, ops: ops), count: count)
  }

  /// Where these values live.
  public var device: Device { gpu.map { .cuda($0.ops) } ?? .cpu }
}

extension Tensor {
  /// Where this tensor's values live.
  public var device: Device { storage.device }

  /// The GPU ops when this tensor lives on a GPU.
  @usableFromInline var gpu: CUDAOps? { storage.gpu?.ops }

  /// The first element on the GPU.
  var devicePointer: DevicePointer { DevicePointer(storage.gpu!.buffer, offset: offset) }

  /// The GPU gradient, allocated zero-filled on first use (`gradData` on the GPU).
  var gradPointer: DevicePointer {
    if let g = gradStorage { return DevicePointer(g.gpu!.buffer, offset: gradOffset) }
    let g = Storage(count: count, on: device)
    gradStorage = g
    gradOffset = 0
    return DevicePointer(g.gpu!.buffer)
  }

  /// Where a GPU backward pass that writes every element puts the gradient, and whether it adds
  /// to what is there (`gradDestination` on the GPU).
  func gradPointerDestination() -> (pointer: DevicePointer, accumulate: Bool) {
    if let g = gradStorage { return (DevicePointer(g.gpu!.buffer, offset: gradOffset), true) }
    let g = Storage(count: count, zeroed: false, on: device)
    gradStorage = g
    gradOffset = 0
    return (DevicePointer(g.gpu!.buffer), false)
  }

  /// A copy of this tensor on `device` (the same tensor when it is there already), without
  /// gradient history.
  public func moved(to device: Device) -> Tensor {
    switch (self.device, device) {
    case (.cpu, .cpu): return self
    case (.cuda(let a), .cuda(let b)) where a === b: return self
    default: return Tensor(shape: shape, scalars: scalars, on: device)
    }
  }

  /// A tensor holding `scalars` on `device`.
  public convenience init(shape: [Int], scalars: [Float], on device: Device) {
    guard let ops = device.gpu else {
      self.init(shape: shape, scalars: scalars)
      return
    }
    let storage = Storage(count: scalars.count, zeroed: false, on: device)
    ops.run { () throws(CUDAError) in try storage.gpu!.buffer.copy(from: scalars) }
    self.init(shape: shape, storage: storage)
  }
}

/// `count` floats copied from the GPU, keeping a failure as the ops' failure (NaNs then).
func download(_ source: DevicePointer, count: Int, ops: CUDAOps) -> [Float] {
  var values = [Float](repeating: .nan, count: count)
  ops.run { () throws(CUDAError) in values = try source.values(Float.self, count: count) }
  return values
}
