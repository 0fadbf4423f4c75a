/// The same elements with a new shape; one axis may be -1 (inferred). The result is a view:
/// it shares `x`'s storage, and its gradient flows back to `x`.
public func reshape(_ x: Tensor, _ shape: [Int]) -> Tensor {
  var shape = shape
  if let hole = shape.firstIndex(of: -1) {
    let known = shape.enumerated().reduce(1) { $1.offset == hole ? $0 : $0 * $1.element }
    precondition(known > 0 && x.count % known == 0, "reshape: cannot infer -1 in \(shape) for \(x.count) elements")
    shape[hole] = x.count / known
  }
  precondition(shape.reduce(1, *) == x.count, "reshape: \(x.shape) has \(x.count) elements, \(shape) does not")
  let needsGrad = GradMode.isEnabled && x.requiresGrad
  let out = Tensor(shape: shape, storage: x.storage, offset: x.offset, requiresGrad: needsGrad)
  if needsGrad {
    out.node = Node(inputs: [x]) { out in passGradient(of: out, to: x) }
  }
  return out
}

/// Swaps axes `a0` and `a1` (copying into the new layout).
public func transpose(_ x: Tensor, _ a0: Int, _ a1: Int) -> Tensor {
  let rank = x.shape.count
  let (a0, a1) = (a0 < 0 ? rank + a0 : a0, a1 < 0 ? rank + a1 : a1)
  precondition(a0 >= 0 && a0 < rank && a1 >= 0 && a1 < rank, "transpose: axes out of range for \(x.shape)")
  var shape = x.shape
  shape.swapAt(a0, a1)
  let inStrides = strides(of: x.shape)
  var permStrides = inStrides
  permStrides.swapAt(a0, a1)
  // For output position (row-major over `shape`), the source offset uses the permuted strides.
  func sourceOffsets() -> [Int] {
    var offsets = [Int](repeating: 0, count: x.count)
    var index = [Int](repeating: 0, count: rank)
    var src = 0
    for i in 0..<x.count {
      offsets[i] = src
      var axis = rank - 1
      while axis >= 0 {
        index[axis] += 1
        src += permStrides[axis]
        if index[axis] < shape[axis] { break }
        src -= permStrides[axis] * shape[axis]
        index[axis] = 0
        axis -= 1
      }
    }
    return offsets
  }
  let offsets = sourceOffsets()
  let out = Tensor.result(shape, inputs: [x]) { out in
    let (g, d) = (out.gradData, x.gradData)
    for i in 0..<x.count { d[offsets[i]] += g[i] }
  }
  for i in 0..<x.count { out.data[i] = x.data[offsets[i]] }
  return out
}

/// Elements `range` along `axis`.
public func slice(_ x: Tensor, axis: Int, _ range: Range<Int>) -> Tensor {
  let axis = axis < 0 ? x.shape.count + axis : axis
  precondition(axis >= 0 && axis < x.shape.count && range.lowerBound >= 0 && range.upperBound <= x.shape[axis],
               "slice: \(range) is outside axis \(axis) of \(x.shape)")
  let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
  let (len, width) = (x.shape[axis], range.count)
  var shape = x.shape
  shape[axis] = width
  let out = Tensor.result(shape, inputs: [x]) { out in
    for o in 0..<outer {
      accumulate(out.gradData + o * width * inner, into: x.gradData + (o * len + range.lowerBound) * inner,
                 count: width * inner)
    }
  }
  for o in 0..<outer {
    (out.data + o * width * inner).update(from: x.data + (o * len + range.lowerBound) * inner, count: width * inner)
  }
  return out
}

/// Joins tensors along `axis`; all other axes must agree.
public func concat(_ xs: [Tensor], axis: Int) -> Tensor {
  precondition(!xs.isEmpty, "concat needs at least one tensor")
  let rank = xs[0].shape.count
  let axis = axis < 0 ? rank + axis : axis
  for x in xs {
    precondition(x.shape.count == rank && x.shape.enumerated().allSatisfy { $0.offset == axis || $0.element == xs[0].shape[$0.offset] },
                 "concat: \(x.shape) does not match \(xs[0].shape) off axis \(axis)")
  }
  let outer = xs[0].shape[..<axis].reduce(1, *), inner = xs[0].shape[(axis + 1)...].reduce(1, *)
  let total = xs.reduce(0) { $0 + $1.shape[axis] }
  var shape = xs[0].shape
  shape[axis] = total
  let out = Tensor.result(shape, inputs: xs) { out in
    var start = 0
    for x in xs {
      let width = x.shape[axis]
      if x.requiresGrad {
        for o in 0..<outer {
          accumulate(out.gradData + (o * total + start) * inner, into: x.gradData + o * width * inner, count: width * inner)
        }
      }
      start += width
    }
  }
  var start = 0
  for x in xs {
    let width = x.shape[axis]
    for o in 0..<outer {
      (out.data + (o * total + start) * inner).update(from: x.data + o * width * inner, count: width * inner)
    }
    start += width
  }
  return out
}

/// Row-major strides of `shape`.
func strides(of shape: [Int]) -> [Int] {
  var result = [Int](repeating: 1, count: shape.count)
  var acc = 1
  for axis in stride(from: shape.count - 1, through: 0, by: -1) { result[axis] = acc; acc *= shape[axis] }
  return result
}
