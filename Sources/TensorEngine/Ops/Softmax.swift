#if canImport(Glibc)
import Glibc
#endif

/// Softmax over the last axis.
public func softmax(_ x: Tensor) -> Tensor {
  let c = x.size(-1), rows = x.count / c
  let out = Tensor.result(x.shape, inputs: [x]) { out in
    for r in 0..<rows {
      softmaxBackwardRow(y: out.data + r * c, dy: out.gradData + r * c, dx: x.gradData + r * c, n: c, scale: 1)
    }
  }
  let (xs, os) = (UncheckedSendable(x.data), UncheckedSendable(out.data))
  Parallel.forRows(rows, costPerRow: 20 * c) { range in
    for r in range { softmaxRow(xs.value + r * c, os.value + r * c, c) }
  }
  return out
}

/// y = softmax(x) for one row of n ≥ 1 values; returns log Σ exp(x - max) + max (the log-sum-exp).
///
/// Kept out of line: inlined into a large caller (the attention kernel, which now has its own
/// causal softmax), its loops were once compiled on 128-bit lanes.
@discardableResult @inline(never)
public func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
  let m = vmax(x, n)
  @inline(__always) func shiftedExp(_ v: Float16x) -> Float16x { vexp(v - m) }
  vmap(n, x, y, shiftedExp)
  let total = vsum(y, n)
  let inv = 1 / total
  @inline(__always) func normalized(_ v: Float16x) -> Float16x { v * inv }
  vmap(n, y, y, normalized)
  return m + logf(total)
}

/// dx (+)= scale · y ⊙ (dy − ⟨y, dy⟩) for one row: the softmax Jacobian applied to dy; with
/// `accumulate` false, dx is overwritten.
@inlinable
func softmaxBackwardRow(y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                        n: Int, scale: Float, accumulate: Bool = true) {
  let dot = vdot(y, dy, n)
  var i = 0
  while i + 16 <= n {
    let r = scale * load16(y + i) * (load16(dy + i) - dot)
    store16(accumulate ? load16(dx + i) + r : r, dx + i)
    i += 16
  }
  while i < n {
    let r = scale * y[i] * (dy[i] - dot)
    dx[i] = accumulate ? dx[i] + r : r
    i += 1
  }
}
