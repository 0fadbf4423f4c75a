/// Row lookup: out[i, :] = table[ids[i], :] for table [V, C]; the output has shape `shape + [C]`.
///
/// Every id must be in 0..<V (checked).
public func embedding(_ table: Tensor, ids: [Int32], shape: [Int]) -> Tensor {
  precondition(table.shape.count == 2, "embedding table must be [V, C], got \(table.shape)")
  precondition(ids.count == shape.reduce(1, *), "\(ids.count) ids do not fill shape \(shape)")
  let (vocab, c) = (table.shape[0], table.shape[1])
  for id in ids { precondition(id >= 0 && Int(id) < vocab, "token id \(id) is outside the vocabulary 0..<\(vocab)") }
  if let gpu = table.gpu { return gpuEmbedding(table, ids: ids, shape: shape, gpu) }
  let out = Tensor.result(shape + [c], inputs: [table]) { out in
    let (g, d) = (out.gradData, table.gradData)
    for (i, id) in ids.enumerated() { accumulate(g + i * c, into: d + Int(id) * c, count: c) }
  }
  for (i, id) in ids.enumerated() { (out.data + i * c).update(from: table.data + Int(id) * c, count: c) }
  return out
}
