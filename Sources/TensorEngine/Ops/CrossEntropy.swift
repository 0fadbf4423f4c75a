#if canImport(Glibc)
import Glibc
#endif

/// Mean cross-entropy of `logits` [..., V] against integer `targets` (one per row); rows whose
/// target is `ignoreIndex` count for nothing (PyTorch's `ignore_index`, -100 by default).
///
/// Softmax and loss are fused; the backward pass recomputes the softmax from the logits.
/// Every other target must be in 0..<V. If every row is ignored the loss is 0 (PyTorch gives NaN).
public func crossEntropy(_ logits: Tensor, targets: [Int32], ignoreIndex: Int32 = -100) -> Tensor {
  let v = logits.size(-1), rows = logits.count / v
  precondition(targets.count == rows, "crossEntropy: \(targets.count) targets for \(rows) rows of logits")
  for t in targets where t != ignoreIndex {
    precondition(t >= 0 && Int(t) < v, "target \(t) is outside the vocabulary 0..<\(v)")
  }
  if let gpu = logits.gpu { return gpuCrossEntropy(logits, targets: targets, ignoreIndex: ignoreIndex, gpu) }
  let counted = targets.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
  let lse = Storage(count: rows, zeroed: false)
  let out = Tensor.result([1], inputs: [logits]) { out in
    let g = out.gradData[0] / Float(max(counted, 1))
    let (dlogits, add) = logits.gradDestination()
    let (ls, ds, lses) = (UncheckedSendable(logits.data), UncheckedSendable(dlogits), UncheckedSendable(lse.base))
    Parallel.forRows(rows, costPerRow: 12 * v) { range in
      for r in range {
        let (row, drow, shift) = (ls.value + r * v, ds.value + r * v, lses.value[r])
        if targets[r] == ignoreIndex {
          if !add { drow.update(repeating: 0, count: v) }
          continue
        }
        // d/dlogit = softmax - onehot, times the upstream gradient over the counted rows
        @inline(__always) func gradient(_ x: Float16x) -> Float16x { g * vexp(x - shift) }
        if add { vmapAccumulate(v, row, drow, gradient) } else { vmap(v, row, drow, gradient) }
        drow[Int(targets[r])] -= g
      }
    }
  }
  let (ls, lses) = (UncheckedSendable(logits.data), UncheckedSendable(lse.base))
  let losses = Storage(count: rows)
  let lossesS = UncheckedSendable(losses.base)
  Parallel.forRows(rows, costPerRow: 8 * v) { range in
    for r in range where targets[r] != ignoreIndex {
      let row = ls.value + r * v
      let m = vmax(row, v)
      var acc = Float16x()
      var i = 0
      while i + 16 <= v { acc += vexp(load16(row + i) - m); i += 16 }
      var total = acc.laneSum
      while i < v { total += vexp(row[i] - m); i += 1 }
      let shift = m + logf(total)
      lses.value[r] = shift
      lossesS.value[r] = shift - row[Int(targets[r])]
    }
  }
  var total: Double = 0
  for r in 0..<rows where targets[r] != ignoreIndex { total += Double(losses.base[r]) }
  out.data[0] = counted == 0 ? 0 : Float(total / Double(counted))
  return out
}
