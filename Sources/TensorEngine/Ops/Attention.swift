/// Causal multi-head self-attention on packed projections, fused (GPT-2's `_attn`):
/// qkv [B, T, 3C] holding q | k | v, each split into `heads` heads of size C/heads →
/// y [B, T, C] = softmax(q·kᵀ/√hs with the future masked) · v, heads concatenated.
///
/// One task per (batch, head). Each packs its k, v (and in the backward pass q, dy) once as GEMM
/// panels, then walks the queries six rows at a time, multiplying only by the keys those rows can
/// see, so the masked upper triangle is skipped. The attention probabilities [B, heads, T, T] are
/// kept for the backward pass; above the diagonal they are zero up to the end of the row's tile
/// (as far as any product reads them) and unset beyond.
public func causalSelfAttention(_ qkv: Tensor, heads: Int) -> Tensor {
  precondition(qkv.shape.count == 3 && qkv.shape[2] % (3 * heads) == 0,
               "attention: qkv must be [B, T, 3C] with C divisible by \(heads) heads, got \(qkv.shape)")
  let (b, t, c3) = (qkv.shape[0], qkv.shape[1], qkv.shape[2])
  let c = c3 / 3, hs = c / heads
  if let gpu = qkv.gpu { return gpuCausalSelfAttention(qkv, heads: heads, gpu) }
  let scale = 1 / Float(hs).squareRoot()
  let panels = AttentionPanels(t: t, hs: hs)
  let att = Storage(count: b * heads * t * t, zeroed: false)
  let out = Tensor.result([b, t, c], inputs: [qkv]) { out in
    // Each element of the qkv gradient is written by exactly one tile of one task.
    let (dqkv, add) = qkv.gradDestination()
    let (qs, dqs, dys, atts) = (UncheckedSendable(qkv.data), UncheckedSendable(dqkv),
                                UncheckedSendable(out.gradData), UncheckedSendable(att.base))
    Parallel.forEach(b * heads) { task in
      let (bi, h) = (task / heads, task % heads)
      let (q, dq) = (qs.value + bi * t * c3 + h * hs, dqs.value + bi * t * c3 + h * hs)
      let (k, v, dk, dv) = (q + c, q + 2 * c, dq + c, dq + 2 * c)
      let dy = dys.value + bi * t * c + h * hs
      let a = atts.value + task * t * t
      let scratch = Storage(count: 2 * t * t + panels.keysT + 3 * panels.rows, zeroed: false)
      defer { withExtendedLifetime(scratch) {} }
      let (datt, dpre) = (scratch.base, scratch.base + t * t)
      let vT = dpre + t * t, dyP = vT + panels.keysT, kP = dyP + panels.rows, qP = kP + panels.rows
      panels.packTransposed(v, ld: c3, into: vT)
      panels.pack(dy, ld: c, into: dyP)
      panels.pack(k, ld: c3, into: kP)
      panels.pack(q, ld: c3, into: qP)
      forEachTile(t) { i0, rows in
        // datt[rows, keys] = dy[rows, hs] · vᵀ, then dpre = the softmax backward of each row
        // (scaled by 1/√hs), zero past the diagonal up to the end of the row tile.
        panels.multiplyKeys(dy + i0 * c, ld: c, rows: rows, by: vT, into: datt + i0 * t, upTo: i0 + rows)
        for i in i0..<(i0 + rows) {
          // Over the whole 16-wide vectors: past the diagonal y is 0, so dpre is too.
          let width = visibleWidth(i, t)
          softmaxBackwardRow(y: a + i * t, dy: datt + i * t, dx: dpre + i * t, n: width, scale: scale,
                             accumulate: false)
          zeroFuture(dpre + i * t, from: width, tile: i0, t)
        }
        // dq[rows, hs] (+)= dpre[rows, keys] · k
        panels.multiplyValues(dpre + i0 * t, rowStride: t, kStride: 1, rows: rows, keys: 0..<(i0 + rows),
                              by: kP, into: dq + i0 * c3, ldc: c3, add: add)
      }
      forEachTile(t) { j0, rows in
        // dv[rows, hs] (+)= att[j0..., rows]ᵀ · dy and dk[rows, hs] (+)= dpre[j0..., rows]ᵀ · q: key j
        // only receives from queries i ≥ j.
        panels.multiplyValues(a + j0 * t + j0, rowStride: 1, kStride: t, rows: rows, keys: j0..<t,
                              by: dyP, into: dv + j0 * c3, ldc: c3, add: add)
        panels.multiplyValues(dpre + j0 * t + j0, rowStride: 1, kStride: t, rows: rows, keys: j0..<t,
                              by: qP, into: dk + j0 * c3, ldc: c3, add: add)
      }
    }
  }
  let (qs, ys, atts) = (UncheckedSendable(qkv.data), UncheckedSendable(out.data), UncheckedSendable(att.base))
  Parallel.forEach(b * heads) { task in
    let (bi, h) = (task / heads, task % heads)
    let q = qs.value + bi * t * c3 + h * hs
    let y = ys.value + bi * t * c + h * hs
    let a = atts.value + task * t * t
    let scratch = Storage(count: panels.keysT + panels.rows, zeroed: false)
    defer { withExtendedLifetime(scratch) {} }
    let (kT, vP) = (scratch.base, scratch.base + panels.keysT)
    panels.packTransposed(q + c, ld: c3, into: kT)
    panels.pack(q + 2 * c, ld: c3, into: vP)
    forEachTile(t) { i0, rows in
      // pre[rows, keys] = q[rows, hs] · kᵀ, then a masked, scaled softmax per row
      panels.multiplyKeys(q + i0 * c3, ld: c3, rows: rows, by: kT, into: a + i0 * t, upTo: i0 + rows)
      for i in i0..<(i0 + rows) {
        let row = a + i * t, width = visibleWidth(i, t)
        causalSoftmaxRow(row, visible: i + 1, width: width, scale: scale)
        zeroFuture(row, from: width, tile: i0, t)
      }
      // y[rows, hs] = att[rows, keys] · v
      panels.multiplyValues(a + i0 * t, rowStride: t, kStride: 1, rows: rows, keys: 0..<(i0 + rows),
                            by: vP, into: y + i0 * c, ldc: c, add: false)
    }
  }
  return out
}

/// Zeroes row[width...] up to the end of the 6-row tile starting at `i0`: the masked future that
/// the tile's products read past the row's whole vectors (beyond it nothing is read).
@inline(__always)
private func zeroFuture(_ row: UnsafeMutablePointer<Float>, from width: Int, tile i0: Int, _ t: Int) {
  (row + width).update(repeating: 0, count: max(0, min(t, i0 + gemmMR) - width))
}

/// Query i sees keys 0...i; its row is processed up to the end of that 16-wide vector.
@inline(__always)
private func visibleWidth(_ i: Int, _ t: Int) -> Int { min(t, (i + 16) / 16 * 16) }

/// row[0..<width] = softmax(scale · row[0..<visible]), exact zeros past `visible` (the masked
/// future). `width` ≥ `visible` is a multiple of 16 or the end of the row: the row is processed
/// in whole 16-wide vectors, lanes at or past `visible` masked by their index.
@inline(never)
private func causalSoftmaxRow(_ row: UnsafeMutablePointer<Float>, visible: Int, width: Int, scale: Float) {
  // Lane indices as floats: float compares vectorise, Int32 ones were built lane by lane.
  let lanes = Float16x(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
  @inline(__always) func future(_ j: Int) -> SIMDMask<SIMD16<Int32>> { lanes .>= Float(visible - j) }
  // Whole vectors, then the lanes of a last partial one (only when the row ends within it).
  let full = width / 16 * 16
  var tail = Float16x(repeating: 0)
  for l in 0..<(width - full) { tail[l] = row[full + l] }
  var top = Float16x(repeating: -.infinity)
  var j = 0
  while j < full {
    let v = load16(row + j).replacing(with: -.infinity, where: future(j))
    top.replace(with: v, where: v .> top)
    j += 16
  }
  if full < width {
    let v = tail.replacing(with: -.infinity, where: future(full))
    top.replace(with: v, where: v .> top)
  }
  // e^(scale·x - scale·max) with one multiply-add; scale > 0, so the max of scale·x is scale·max.
  let (shift, scales) = (Float16x(repeating: -scale * top.laneMax), Float16x(repeating: scale))
  var total = Float16x()
  j = 0
  while j < full {
    let e = vexp(shift.addingProduct(load16(row + j), scales)).replacing(with: 0, where: future(j))
    store16(e, row + j)
    total += e
    j += 16
  }
  if full < width {
    tail = vexp(shift.addingProduct(tail, scales)).replacing(with: 0, where: future(full))
    total += tail
  }
  let inverse = 1 / total.laneSum
  j = 0
  while j < full { store16(load16(row + j) * inverse, row + j); j += 16 }
  for l in 0..<(width - full) { row[full + l] = tail[l] * inverse }
}

/// Calls `body(i0, rows)` for the 6-row tiles of 0..<t (the last may be shorter).
private func forEachTile(_ t: Int, _ body: (Int, Int) -> Void) {
  for i0 in stride(from: 0, to: t, by: gemmMR) { body(i0, min(gemmMR, t - i0)) }
}

/// The GEMM panel layouts of one attention head: a [T, hs] matrix packed as B of `x·m` (`rows`
/// floats: 16-wide column panels of T rows) or of `x·mᵀ` (`keysT` floats: panels of hs rows).
private struct AttentionPanels {
  let t: Int, hs: Int
  var rows: Int { (hs + gemmNR - 1) / gemmNR * gemmNR * t }
  var keysT: Int { (t + gemmNR - 1) / gemmNR * gemmNR * hs }

  /// Packs m [T, hs] (row stride `ld`) for products `x · m`.
  func pack(_ m: UnsafePointer<Float>, ld: Int, into dst: UnsafeMutablePointer<Float>) {
    for j0 in stride(from: 0, to: hs, by: gemmNR) {
      packPanelB(m, ldb: ld, transB: false, row0: 0, col0: j0, kb: t, cols: min(gemmNR, hs - j0),
                 into: dst + j0 * t)
    }
  }

  /// Packs mᵀ for m [T, hs] (row stride `ld`), for products `x · mᵀ`.
  func packTransposed(_ m: UnsafePointer<Float>, ld: Int, into dst: UnsafeMutablePointer<Float>) {
    for j0 in stride(from: 0, to: t, by: gemmNR) {
      packPanelB(m, ldb: ld, transB: true, row0: 0, col0: j0, kb: hs, cols: min(gemmNR, t - j0),
                 into: dst + j0 * hs)
    }
  }

  /// out[rows, 0..<upTo rounded up to 16] = x[rows, hs] · mᵀ, with mᵀ packed by `packTransposed`.
  func multiplyKeys(_ x: UnsafePointer<Float>, ld: Int, rows: Int, by packed: UnsafePointer<Float>,
                    into out: UnsafeMutablePointer<Float>, upTo keys: Int) {
    macroKernel(a: x, rowStride: ld, kStride: 1, mb: rows, packedB: packed, panelStride: gemmNR * hs, kb: hs,
                nb: t, panels: 0..<((keys + gemmNR - 1) / gemmNR), c: out, ldc: t, add: false)
  }

  /// out[rows, hs] (+)= x[rows, keys] · m[keys, hs], with m packed by `pack`; element (r, p) of x
  /// at x[r·rowStride + p·kStride], p counted from `keys.lowerBound`.
  func multiplyValues(_ x: UnsafePointer<Float>, rowStride: Int, kStride: Int, rows: Int, keys: Range<Int>,
                      by packed: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, ldc: Int, add: Bool) {
    macroKernel(a: x, rowStride: rowStride, kStride: kStride, mb: rows, packedB: packed + keys.lowerBound * gemmNR,
                panelStride: gemmNR * t, kb: keys.count, nb: hs, panels: 0..<((hs + gemmNR - 1) / gemmNR),
                c: out, ldc: ldc, add: add)
  }
}
