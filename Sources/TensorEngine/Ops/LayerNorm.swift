/// LayerNorm over the last axis: (x - mean) / sqrt(var + eps) · weight + bias (biased variance,
/// as PyTorch). x [..., C], weight [C], bias [C] or nil.
public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
  let c = x.size(-1)
  precondition(weight.shape == [c] && (bias == nil || bias!.shape == [c]),
               "layerNorm: weight/bias must be [\(c)] for input \(x.shape)")
  let rows = x.count / c
  let stats = Storage(count: 2 * rows, zeroed: false)  // mean, rstd per row
  let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
  let out = Tensor.result(x.shape, inputs: inputs) { out in
    layerNormBackward(x: x.data, dout: out.gradData, weight: weight.data, stats: stats.base,
                      dx: x.requiresGrad ? x.gradData : nil, dweight: weight.requiresGrad ? weight.gradData : nil,
                      dbias: bias?.requiresGrad == true ? bias!.gradData : nil, rows: rows, c: c)
  }
  let (xs, os, w, b, st) = (UncheckedSendable(x.data), UncheckedSendable(out.data), UncheckedSendable(weight.data),
                            UncheckedSendable(bias?.data), UncheckedSendable(stats.base))
  Parallel.forRows(rows, costPerRow: 8 * c) { range in
    for r in range {
      let xr = xs.value + r * c, orow = os.value + r * c
      let mean = vsum(xr, c) / Float(c)
      var varAcc = Float16x()
      var i = 0
      while i + 16 <= c { let d = load16(xr + i) - mean; varAcc.addProduct(d, d); i += 16 }
      var variance = varAcc.sum()
      while i < c { let d = xr[i] - mean; variance += d * d; i += 1 }
      let rstd = 1 / (variance / Float(c) + eps).squareRoot()
      st.value[2 * r] = mean
      st.value[2 * r + 1] = rstd
      for j in 0..<c {
        let norm = (xr[j] - mean) * rstd
        orow[j] = norm * w.value[j] + (b.value?[j] ?? 0)
      }
    }
  }
  return out
}

/// Gradients of LayerNorm (llm.c's formulation). x, dout [rows, C]; stats [rows, 2] = (mean, rstd).
func layerNormBackward(x: UnsafePointer<Float>, dout: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                       stats: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                       dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                       rows: Int, c: Int) {
  // dweight/dbias are reductions over rows: one thread keeps them simple and deterministic.
  for r in 0..<rows {
    let (xr, dr) = (x + r * c, dout + r * c)
    let (mean, rstd) = (stats[2 * r], stats[2 * r + 1])
    for j in 0..<c {
      if let dweight { dweight[j] += (xr[j] - mean) * rstd * dr[j] }
      if let dbias { dbias[j] += dr[j] }
    }
  }
  guard let dx else { return }
  let (xs, ds, ws, st, dxs) = (UncheckedSendable(x), UncheckedSendable(dout), UncheckedSendable(weight),
                               UncheckedSendable(stats), UncheckedSendable(dx))
  Parallel.forRows(rows, costPerRow: 10 * c) { range in
    for r in range {
      let (xr, dr, dxr) = (xs.value + r * c, ds.value + r * c, dxs.value + r * c)
      let (mean, rstd) = (st.value[2 * r], st.value[2 * r + 1])
      var dnormMean: Float = 0, dnormNormMean: Float = 0
      for j in 0..<c {
        let dnorm = ws.value[j] * dr[j]
        dnormMean += dnorm
        dnormNormMean += dnorm * (xr[j] - mean) * rstd
      }
      dnormMean /= Float(c)
      dnormNormMean /= Float(c)
      for j in 0..<c {
        let norm = (xr[j] - mean) * rstd
        dxr[j] += (ws.value[j] * dr[j] - dnormMean - norm * dnormNormMean) * rstd
      }
    }
  }
}
