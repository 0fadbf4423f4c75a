/// Elementwise a + b. `b` may have fewer axes than `a` if its shape is a suffix of `a`'s
/// (a bias [C] or a position table [T, C] added to [B, T, C]); it is broadcast over the rest.
public func add(_ a: Tensor, _ b: Tensor) -> Tensor {
  precondition(b.shape.count <= a.shape.count && Array(a.shape.suffix(b.shape.count)) == b.shape,
               "add: shape \(b.shape) does not broadcast to \(a.shape)")
  if let gpu = sharedGPU("add", a, b) { return gpuAdd(a, b, gpu) }
  let inner = b.count, outer = a.count / max(inner, 1)
  let out = Tensor.result(a.shape, inputs: [a, b]) { out in
    let g = out.gradData
    // b first: a may take over out's gradient buffer.
    if b.requiresGrad {
      if outer == 1 { passGradient(g, to: b) } else { addColumnSums(g, rows: outer, cols: inner, into: b.gradData) }
    }
    if a.requiresGrad { passGradient(of: out, to: a) }
  }
  let (ap, bp, op) = (UncheckedSendable(a.data), UncheckedSendable(b.data), UncheckedSendable(out.data))
  if outer == 1 {
    // Same shapes (a residual connection): split the elements.
    Parallel.forRows(inner, costPerRow: Parallel.memoryBoundCost) { range in
      vadd(ap.value + range.lowerBound, bp.value + range.lowerBound, op.value + range.lowerBound, range.count)
    }
  } else {
    Parallel.forRows(outer, costPerRow: Parallel.memoryBoundCost * inner) { range in
      for r in range { vadd(ap.value + r * inner, bp.value, op.value + r * inner, inner) }
    }
  }
  return out
}

/// Elementwise a · b (same shapes).
public func mul(_ a: Tensor, _ b: Tensor) -> Tensor {
  precondition(a.shape == b.shape, "mul: shapes differ, \(a.shape) and \(b.shape)")
  if let gpu = sharedGPU("mul", a, b) { return gpuMul(a, b, gpu) }
  let n = a.count
  let out = Tensor.result(a.shape, inputs: [a, b]) { out in
    let g = out.gradData
    if a.requiresGrad { let d = a.gradData; for i in 0..<n { d[i] += g[i] * b.data[i] } }
    if b.requiresGrad { let d = b.gradData; for i in 0..<n { d[i] += g[i] * a.data[i] } }
  }
  for i in 0..<n { out.data[i] = a.data[i] * b.data[i] }
  return out
}

/// x · s for a constant s.
public func scale(_ x: Tensor, _ s: Float) -> Tensor {
  if let gpu = x.gpu { return gpuScale(x, s, gpu) }
  let n = x.count
  let out = Tensor.result(x.shape, inputs: [x]) { out in
    let (g, d) = (out.gradData, x.gradData)
    for i in 0..<n { d[i] += g[i] * s }
  }
  @inline(__always) func scaled(_ v: Float16x) -> Float16x { v * s }
  vmap(n, x.data, out.data, scaled)
  return out
}

/// Σ of all elements, as a one-element tensor.
public func sum(_ x: Tensor) -> Tensor {
  if let gpu = x.gpu { return gpuSum(x, gpu) }
  let out = Tensor.result([1], inputs: [x]) { out in
    let g = out.gradData[0], d = x.gradData
    for i in 0..<x.count { d[i] += g }
  }
  out.data[0] = vsum(x.data, x.count)
  return out
}

/// Mean of all elements, as a one-element tensor.
public func mean(_ x: Tensor) -> Tensor { scale(sum(x), 1 / Float(x.count)) }

/// x.grad (+)= out.grad, for an op whose gradient with respect to x (of the same size) is its
/// output gradient. Before any gradient has flowed to x, x takes over out's buffer when out no
/// longer needs it (`Tensor.gradIsSpent`), instead of copying it.
func passGradient(of out: Tensor, to x: Tensor) {
  if out.gradIsSpent && x.gradStorage == nil, let g = out.gradStorage {
    x.bindGrad(to: g, offset: out.gradOffset)
    out.gradStorage = nil
    return
  }
  if let gpu = x.gpu { return gpuPassGradient(of: out, to: x, gpu) }
  passGradient(out.gradData, to: x)
}

/// x.grad (+)= g, for an op whose gradient with respect to x is its output gradient g.
func passGradient(_ g: UnsafePointer<Float>, to x: Tensor) {
  let (d, add) = x.gradDestination()
  let (gs, ds) = (UncheckedSendable(g), UncheckedSendable(d))
  Parallel.forRows(x.count, costPerRow: Parallel.memoryBoundCost) { range in
    let (src, dst) = (gs.value + range.lowerBound, ds.value + range.lowerBound)
    if add { accumulate(src, into: dst, count: range.count) } else { dst.update(from: src, count: range.count) }
  }
}

/// out[i] = a[i] + b[i] for i in 0..<n.
@inlinable
func vadd(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int) {
  var i = 0
  while i + 16 <= n { store16(load16(a + i) + load16(b + i), out + i); i += 16 }
  while i < n { out[i] = a[i] + b[i]; i += 1 }
}

/// dst[i] += src[i] for i in 0..<count.
@inlinable
func accumulate(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
  vadd(dst, src, dst, count)
}
