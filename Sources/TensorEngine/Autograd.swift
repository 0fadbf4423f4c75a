import CUDA

/// The operation that produced a tensor: its inputs and how to push the output gradient to them.
struct Node {
  let inputs: [Tensor]
  /// Reads `output.gradData` and accumulates into the inputs' `gradData`.
  let backward: (_ output: Tensor) -> Void
}

/// Whether ops record the graph. Turn it off for inference with `withoutGrad`.
public enum GradMode {
  @TaskLocal public static var isEnabled = true
}

/// Runs `body` without recording autograd graphs (generation, evaluation).
public func withoutGrad<R>(_ body: () throws -> R) rethrows -> R {
  try GradMode.$isEnabled.withValue(false) { try body() }
}

extension Tensor {
  /// Makes the output of an op: records `backward` when grad mode is on and an input needs grad.
  /// The output lives on `device` (the CPU unless a GPU op says otherwise).
  static func result(
    _ shape: [Int], inputs: [Tensor], zeroed: Bool = false, on device: Device = .cpu,
    backward: @escaping (_ output: Tensor) -> Void
  ) -> Tensor {
    let needsGrad = GradMode.isEnabled && inputs.contains { $0.requiresGrad }
    let out = Tensor(shape: shape, storage: Storage(count: shape.reduce(1, *), zeroed: zeroed, on: device),
                     requiresGrad: needsGrad)
    if needsGrad { out.node = Node(inputs: inputs, backward: backward) }
    return out
  }

  /// Reverse-mode differentiation from this scalar: d(self)/d(x) accumulates into every `x.grad`.
  public func backward() {
    precondition(count == 1, "backward() starts from a scalar, not shape \(shape)")
    precondition(requiresGrad, "this value does not depend on anything that requires grad")
    // Topological order by iterative depth-first search.
    var order: [Tensor] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Tensor, Bool)] = [(self, false)]
    while let (t, expanded) = stack.popLast() {
      if expanded { order.append(t); continue }
      guard visited.insert(ObjectIdentifier(t)).inserted else { continue }
      stack.append((t, true))
      for input in t.node?.inputs ?? [] where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
        stack.append((input, false))
      }
    }
    if let gpu {
      let seed = gradPointer
      gpu.run { () throws(CUDAError) in try seed.copy(from: [try seed.values(Float.self, count: 1)[0] + 1]) }
    } else {
      gradData[0] += 1
    }
    for t in order.reversed() {
      guard let node = t.node else { continue }
      t.gradIsSpent = t !== self
      node.backward(t)
      // Free the graph as we go: intermediate activations and grads are released early.
      t.node = nil
      if t !== self { t.gradStorage = nil }
    }
  }
}
