import CUDA

/// A dense, row-major `Float` tensor with an optional gradient and a link to the operation that
/// produced it (reverse-mode autograd).
///
/// Tensors are reference types: an op's output keeps its inputs alive until `backward()` has
/// run and the graph is dropped. Parameters are views into one flat buffer (see `ParameterSet`).
public final class Tensor {
  /// The dimensions, outermost first.
  public let shape: [Int]
  /// Number of elements (product of `shape`).
  public let count: Int
  @usableFromInline let storage: Storage
  @usableFromInline let offset: Int
  /// Whether gradients flow into this tensor (parameters can be frozen: `ParameterSet.isTrainable`).
  public internal(set) var requiresGrad: Bool
  @usableFromInline var gradStorage: Storage?
  @usableFromInline var gradOffset = 0
  /// Set while `backward()` runs this tensor's node when its gradient is dropped right after:
  /// an input may then take the buffer over instead of copying it.
  var gradIsSpent = false
  var node: Node?

  /// A view of `count(shape)` floats of `storage` starting at `offset`.
  public init(shape: [Int], storage: Storage, offset: Int = 0, requiresGrad: Bool = false) {
    let count = shape.reduce(1, *)
    precondition(shape.allSatisfy { $0 >= 0 } && offset + count <= storage.count, "tensor view out of bounds")
    self.shape = shape
    self.count = count
    self.storage = storage
    self.offset = offset
    self.requiresGrad = requiresGrad
  }

  /// A new tensor holding `scalars` (row-major) with the given shape.
  public convenience init(shape: [Int], scalars: [Float], requiresGrad: Bool = false) {
    precondition(scalars.count == shape.reduce(1, *), "\(scalars.count) values do not fill shape \(shape)")
    let storage = Storage(count: scalars.count, zeroed: false)
    scalars.withUnsafeBufferPointer { storage.base.update(from: $0.baseAddress!, count: scalars.count) }
    self.init(shape: shape, storage: storage, requiresGrad: requiresGrad)
  }

  /// A new zero-filled tensor.
  public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
    Tensor(shape: shape, storage: Storage(count: shape.reduce(1, *)), requiresGrad: requiresGrad)
  }

  /// Pointer to the first element. Valid while the tensor is alive.
  @inlinable public var data: UnsafeMutablePointer<Float> { storage.base + offset }

  /// The values, copied out in row-major order (from the GPU too; NaN after a GPU failure).
  public var scalars: [Float] {
    if let gpu { return download(devicePointer, count: count, ops: gpu) }
    return Array(UnsafeBufferPointer(start: data, count: count))
  }

  /// The single value of a one-element tensor.
  public var item: Float {
    precondition(count == 1, "item needs a one-element tensor, not shape \(shape)")
    return gpu == nil ? data[0] : scalars[0]
  }

  /// The accumulated gradient, or nil before any has flowed here.
  public var grad: [Float]? {
    guard let g = gradStorage else { return nil }
    if let gpu = g.gpu { return download(DevicePointer(gpu.buffer, offset: gradOffset), count: count, ops: gpu.ops) }
    return Array(UnsafeBufferPointer(start: g.base + gradOffset, count: count))
  }

  /// Pointer to the gradient buffer, allocating a zeroed one on first use.
  @inlinable public var gradData: UnsafeMutablePointer<Float> {
    if let g = gradStorage { return g.base + gradOffset }
    let g = Storage(count: count)
    gradStorage = g
    gradOffset = 0
    return g.base
  }

  /// Where a backward pass that writes every element of this tensor's gradient puts it, and
  /// whether it must add to what is there: before any gradient has flowed here, a fresh buffer
  /// that is not zero-filled, to overwrite (the zero fill cost ~4 % of a training step).
  @inlinable public func gradDestination() -> (pointer: UnsafeMutablePointer<Float>, accumulate: Bool) {
    if let g = gradStorage { return (g.base + gradOffset, true) }
    let g = Storage(count: count, zeroed: false)
    gradStorage = g
    gradOffset = 0
    return (g.base, false)
  }

  /// Makes this tensor's gradient a view into `storage` at `offset` (used for flat parameter grads).
  public func bindGrad(to storage: Storage, offset: Int) {
    gradStorage = storage
    gradOffset = offset
  }

  /// Drops this tensor's gradient buffer (parameters use `ParameterSet.zeroGrad()` instead).
  public func clearGrad() { gradStorage = nil }

  /// Size of dimension `axis` (negative counts from the end).
  public func size(_ axis: Int) -> Int { shape[axis < 0 ? shape.count + axis : axis] }
}

extension Tensor: CustomStringConvertible {
  public var description: String {
    let preview = scalars.prefix(8).map { String($0) }.joined(separator: ", ")
    return "Tensor(shape: \(shape), [\(preview)\(count > 8 ? ", ..." : "")])"
  }
}
