import CUDA

/// All of a model's parameters in one flat buffer, with their gradients in a second one of the
/// same layout (llm.c's `malloc_and_point_parameters`). Each named parameter is a `Tensor` view.
///
/// One buffer makes optimiser steps, gradient clipping and checkpoint I/O single loops.
public final class ParameterSet {
  /// One parameter: its name (HF style), shape, place in the flat buffer, and whether weight
  /// decay applies to it.
  public struct Entry: Sendable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public let count: Int
    public let decay: Bool
  }

  /// Parameter values, all parameters back to back in `entries` order, in host memory: what is
  /// read and written to files. On a GPU it is a copy, brought up to date by `copyToHost()`.
  public let values: Storage
  /// Gradients, same layout as `values` (on the CPU).
  public let grads: Storage
  /// The parameters, in order.
  public let entries: [Entry]
  /// The parameter tensors (views into the values where they live, gradients bound into the
  /// gradients there), in order.
  public private(set) var tensors: [Tensor]
  /// Where the tensors live.
  public private(set) var device: Device = .cpu
  /// The values and gradients on a GPU (nil on the CPU).
  public private(set) var gpu: (values: Storage, grads: Storage)?
  private let index: [String: Int]

  /// Lays out parameters with the given names, shapes and weight-decay flags, all zero.
  public init(_ specs: [(name: String, shape: [Int], decay: Bool)]) {
    var entries: [Entry] = []
    var offset = 0
    for spec in specs {
      let count = spec.shape.reduce(1, *)
      entries.append(Entry(name: spec.name, shape: spec.shape, offset: offset, count: count, decay: spec.decay))
      offset += count
    }
    let values = Storage(count: offset), grads = Storage(count: offset)
    tensors = Self.views(entries, values: values, grads: grads, requiresGrad: true)
    self.values = values
    self.grads = grads
    self.entries = entries
    index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($0.element.name, $0.offset) })
  }

  private static func views(_ entries: [Entry], values: Storage, grads: Storage, requiresGrad: Bool) -> [Tensor] {
    entries.map { e in
      let t = Tensor(shape: e.shape, storage: values, offset: e.offset, requiresGrad: requiresGrad)
      t.bindGrad(to: grads, offset: e.offset)
      return t
    }
  }

  /// Moves the parameters to `device`: the tensors become views of a copy of the values there
  /// (with zero gradients). Moving back to the CPU copies the values home first. Nothing happens
  /// when they are there already.
  public func place(on device: Device) {
    if case .cpu = device {
      guard gpu != nil else { return }
      copyToHost()
      gpu = nil
      tensors = Self.views(entries, values: values, grads: grads, requiresGrad: isTrainable)
    } else if let ops = device.gpu, !(self.device.gpu === ops) {
      let onDevice = (Storage(count: count, zeroed: false, on: device), Storage(count: count, on: device))
      ops.run { () throws(CUDAError) in try onDevice.0.gpu!.buffer.copy(from: values.base, bytes: 4 * count) }
      gpu = onDevice
      tensors = Self.views(entries, values: onDevice.0, grads: onDevice.1, requiresGrad: isTrainable)
    }
    self.device = device
  }

  /// Brings `values` up to date with the GPU's copy (before saving); nothing to do on the CPU.
  public func copyToHost() {
    guard let (deviceValues, _) = gpu, let ops = device.gpu else { return }
    ops.run { () throws(CUDAError) in try deviceValues.gpu!.buffer.copy(to: values.base, bytes: 4 * count) }
  }

  /// The host values of the parameter called `name` (up to date after `copyToHost()`), or nil.
  public func hostValues(of name: String) -> UnsafeMutablePointer<Float>? {
    index[name].map { values.base + entries[$0].offset }
  }

  /// Total number of scalars.
  public var count: Int { values.count }

  /// The parameter called `name`, or nil.
  public subscript(name: String) -> Tensor? { index[name].map { tensors[$0] } }

  /// Whether gradients flow into these parameters. Frozen parameters (LoRA's base weights)
  /// take part in forward passes, but no op computes their gradients.
  public var isTrainable: Bool {
    get { tensors.first?.requiresGrad ?? true }
    set { for t in tensors { t.requiresGrad = newValue } }
  }

  /// The name of the first parameter holding a NaN or an infinity, or nil when all are finite
  /// (in `values`: call `copyToHost()` first for parameters on a GPU).
  public func firstNonFinite() -> String? {
    entries.first { e in
      UnsafeBufferPointer(start: values.base + e.offset, count: e.count).contains { !$0.isFinite }
    }?.name
  }

  /// Sets every gradient to zero.
  public func zeroGrad() {
    if let (_, grads) = gpu, let ops = device.gpu {
      ops.run { () throws(CUDAError) in try ops.device.zero(grads.gpu!.buffer, count: count) }
      return
    }
    let g = UncheckedSendable(grads.base)
    Parallel.forRows(grads.count, costPerRow: Parallel.memoryBoundCost) { range in
      (g.value + range.lowerBound).update(repeating: 0, count: range.count)
    }
  }
}
