/// LayerNorm over the last axis: (x - mean) / sqrt(var + eps) · weight + bias (biased variance,
/// as PyTorch). x [..., C], weight [C], bias [C] or nil.
public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
  let c = x.size(-1)
  precondition(weight.shape == [c] && (bias == nil || bias!.shape == [c]),
               "layerNorm: weight/bias must be [\(c)] for input \(x.shape)")
  if let gpu = sharedGPU("layerNorm", x, weight, bias) { return gpuLayerNorm(x, weight: weight, bias: bias, eps: eps, gpu) }
  let rows = x.count / c
  let stats = Storage(count: 2 * rows, zeroed: false)  // mean, rstd per row
  let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
  let out = Tensor.result(x.shape, inputs: inputs) { out in
    layerNormBackward(x: x.data, dout: out.gradData, weight: weight.data, stats: stats.base,
                      dx: x.requiresGrad ? x.gradDestination() : nil, dweight: weight.requiresGrad ? weight.gradData : nil,
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
      var variance = varAcc.laneSum
      while i < c { let d = xr[i] - mean; variance += d * d; i += 1 }
      let rstd = 1 / (variance / Float(c) + eps).squareRoot()
      st.value[2 * r] = mean
      st.value[2 * r + 1] = rstd
      var j = 0
      if let bias = b.value {
        while j + 16 <= c {
          store16((load16(xr + j) - mean) * rstd * load16(w.value + j) + load16(bias + j), orow + j)
          j += 16
        }
        while j < c { orow[j] = (xr[j] - mean) * rstd * w.value[j] + bias[j]; j += 1 }
      } else {
        while j + 16 <= c { store16((load16(xr + j) - mean) * rstd * load16(w.value + j), orow + j); j += 16 }
        while j < c { orow[j] = (xr[j] - mean) * rstd * w.value[j]; j += 1 }
      }
    }
  }
  return out
}

/// Gradients of LayerNorm (llm.c's formulation). x, dout [rows, C]; stats [rows, 2] = (mean, rstd).
/// dweight and dbias are added to; dx is added to or overwritten, as its `accumulate` says.
func layerNormBackward(x: UnsafePointer<Float>, dout: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                       stats: UnsafePointer<Float>, dx: (pointer: UnsafeMutablePointer<Float>, accumulate: Bool)?,
                       dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                       rows: Int, c: Int) {
  if let dbias { addColumnSums(dout, rows: rows, cols: c, into: dbias) }
  if let dweight {
    let (xs, ds, st) = (UncheckedSendable(x), UncheckedSendable(dout), UncheckedSendable(stats))
    sumRows(rows, cols: c, into: dweight) { r, acc in
      let (xr, dr) = (xs.value + r * c, ds.value + r * c)
      let (mean, rstd) = (st.value[2 * r], st.value[2 * r + 1])
      var j = 0
      while j + 16 <= c {
        store16(load16(acc + j) + (load16(xr + j) - mean) * rstd * load16(dr + j), acc + j)
        j += 16
      }
      while j < c { acc[j] += (xr[j] - mean) * rstd * dr[j]; j += 1 }
    }
  }
  guard let dx else { return }
  let (xs, ds, ws, st, dxs) = (UncheckedSendable(x), UncheckedSendable(dout), UncheckedSendable(weight),
                               UncheckedSendable(stats), UncheckedSendable(dx.pointer))
  let add = dx.accumulate
  Parallel.forRows(rows, costPerRow: 10 * c) { range in
    for r in range {
      let (xr, dr, dxr) = (xs.value + r * c, ds.value + r * c, dxs.value + r * c)
      let (mean, rstd) = (st.value[2 * r], st.value[2 * r + 1])
      let w = ws.value
      var sumAcc = Float16x(), dotAcc = Float16x()
      var j = 0
      while j + 16 <= c {
        let dnorm = load16(w + j) * load16(dr + j)
        sumAcc += dnorm
        dotAcc.addProduct(dnorm, (load16(xr + j) - mean) * rstd)
        j += 16
      }
      var dnormMean = sumAcc.laneSum, dnormNormMean = dotAcc.laneSum
      while j < c {
        let dnorm = w[j] * dr[j]
        dnormMean += dnorm
        dnormNormMean += dnorm * (xr[j] - mean) * rstd
        j += 1
      }
      dnormMean /= Float(c)
      dnormNormMean /= Float(c)
      j = 0
      while j + 16 <= c {
        let norm = (load16(xr + j) - mean) * rstd
        let d = (load16(w + j) * load16(dr + j) - dnormMean - norm * dnormNormMean) * rstd
        store16(add ? load16(dxr + j) + d : d, dxr + j)
        j += 16
      }
      while j < c {
        let norm = (xr[j] - mean) * rstd
        let d = (w[j] * dr[j] - dnormMean - norm * dnormNormMean) * rstd
        dxr[j] = add ? dxr[j] + d : d
        j += 1
      }
    }
  }
}
