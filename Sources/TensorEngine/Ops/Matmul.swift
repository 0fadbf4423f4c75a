/// Matrix product over the last two axes: a [..., M, K] · b [K, N] → [..., M, N].
///
/// `b` may also carry the same leading (batch) axes as `a`. With `transposeB`, `b` is stored as
/// [..., N, K] (the layout of a PyTorch `Linear` weight or a tied embedding table).
public func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false) -> Tensor {
  precondition(a.shape.count >= 2 && b.shape.count >= 2, "matmul needs matrices, got \(a.shape) and \(b.shape)")
  let k = a.size(-1)
  let (bk, n) = transposeB ? (b.size(-1), b.size(-2)) : (b.size(-2), b.size(-1))
  precondition(k == bk, "matmul: inner sizes differ, \(a.shape) · \(b.shape)\(transposeB ? "ᵀ" : "")")
  let shared = b.shape.count == 2
  precondition(shared || Array(a.shape.dropLast(2)) == Array(b.shape.dropLast(2)),
               "matmul: batch axes differ, \(a.shape) and \(b.shape)")
  // With a shared 2-D `b`, the batch axes of `a` fold into its rows.
  let batches = shared ? 1 : a.shape.dropLast(2).reduce(1, *)
  let m = shared ? a.count / k : a.size(-2)
  if let gpu = sharedGPU("matmul", a, b) {
    return gpuMatmul(a, b, transposeB: transposeB, batches: batches, m: m, n: n, k: k,
                     outShape: Array(a.shape.dropLast()) + [n], gpu)
  }
  let out = Tensor.result(Array(a.shape.dropLast()) + [n], inputs: [a, b]) { out in
    let dc = out.gradData
    let (da, addA) = a.requiresGrad ? a.gradDestination() : (a.data, false)
    let (db, addB) = b.requiresGrad ? b.gradDestination() : (b.data, false)
    for batch in 0..<batches {
      let (ap, bp, dcp) = (a.data + batch * m * k, b.data + batch * n * k, dc + batch * m * n)
      if a.requiresGrad {
        // dA[M, K] += dC[M, N] · op(B)ᵀ
        sgemm(transA: false, transB: !transposeB, m: m, n: k, k: n, a: dcp, lda: n,
              b: bp, ldb: transposeB ? k : n, c: da + batch * m * k, ldc: k, accumulate: addA)
      }
      if b.requiresGrad {
        if transposeB {
          // dB[N, K] += dC[M, N]ᵀ · A[M, K]
          sgemm(transA: true, transB: false, m: n, n: k, k: m, a: dcp, lda: n, b: ap, ldb: k,
                c: db + batch * n * k, ldc: k, accumulate: addB)
        } else {
          // dB[K, N] += A[M, K]ᵀ · dC[M, N]
          sgemm(transA: true, transB: false, m: k, n: n, k: m, a: ap, lda: k, b: dcp, ldb: n,
                c: db + batch * n * k, ldc: n, accumulate: addB)
        }
      }
    }
  }
  for batch in 0..<batches {
    sgemm(transA: false, transB: transposeB, m: m, n: n, k: k, a: a.data + batch * m * k, lda: k,
          b: b.data + batch * n * k, ldb: transposeB ? k : n, c: out.data + batch * m * n, ldc: n,
          accumulate: false)
  }
  return out
}

/// A fully connected layer in HF `Conv1D` layout: x [..., in] · weight [in, out] + bias [out].
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
  precondition(weight.shape.count == 2 && x.size(-1) == weight.shape[0],
               "linear: input \(x.shape) does not fit weight \(weight.shape)")
  let y = matmul(x, weight)
  guard let bias else { return y }
  return add(y, bias)
}

/// out[c] += Σ_rows x[row, c] for x [rows, cols] (bias gradients).
func addColumnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
  let xs = UncheckedSendable(x)
  sumRows(rows, cols: cols, into: out) { r, acc in accumulate(xs.value + r * cols, into: acc, count: cols) }
}

/// out[0..<cols] += Σ_r term(r), where `addRow(r, acc)` adds row r's term to acc [cols].
///
/// The rows are cut into at most 16 fixed chunks, summed in parallel into partial rows that are
/// then added in chunk order: the result is the same for any thread count.
func sumRows(_ rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>,
             _ addRow: (Int, UnsafeMutablePointer<Float>) -> Void) {
  let chunks = min(rows, 16)
  if chunks == 0 { return }
  let partial = Storage(count: chunks * cols)
  let ps = UncheckedSendable(partial.base)
  Parallel.forEach(chunks, threads: rows * cols < 1 << 15 ? 1 : Parallel.threads) { chunk in
    for r in (rows * chunk / chunks)..<(rows * (chunk + 1) / chunks) { addRow(r, ps.value + chunk * cols) }
  }
  for chunk in 0..<chunks { accumulate(partial.base + chunk * cols, into: out, count: cols) }
}
