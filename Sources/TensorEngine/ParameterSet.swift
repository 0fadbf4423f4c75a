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

  /// Parameter values, all parameters back to back in `entries` order.
  public let values: Storage
  /// Gradients, same layout as `values`.
  public let grads: Storage
  /// The parameters, in order.
  public let entries: [Entry]
  /// The parameter tensors (views into `values`, gradients bound into `grads`), in order.
  public let tensors: [Tensor]
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
    tensors = entries.map { e in
      let t = Tensor(shape: e.shape, storage: values, offset: e.offset, requiresGrad: true)
      t.bindGrad(to: grads, offset: e.offset)
      return t
    }
    self.values = values
    self.grads = grads
    self.entries = entries
    index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($0.element.name, $0.offset) })
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

  /// The name of the first parameter holding a NaN or an infinity, or nil when all are finite.
  public func firstNonFinite() -> String? {
    entries.first { e in
      UnsafeBufferPointer(start: values.base + e.offset, count: e.count).contains { !$0.isFinite }
    }?.name
  }

  /// Sets every gradient to zero.
  public func zeroGrad() {
    let g = UncheckedSendable(grads.base)
    Parallel.forRows(grads.count, costPerRow: Parallel.memoryBoundCost) { range in
      (g.value + range.lowerBound).update(repeating: 0, count: range.count)
    }
  }
}
