import TensorEngine

/// Decoding for several sequences at once, a server's slots: each slot has its own key/value
/// cache, and `step` advances every given slot by one token in one pass over the weights —
/// matrix products over B rows instead of B matrix–vector products, which is what makes a
/// batched step cost far less than B single ones. A model whose parameters live on a GPU
/// decodes there, its caches there too.
public final class BatchDecoder {
  public let model: GPT
  /// Per slot, per layer: keys and values [blockSize, C].
  private let keys: [[Storage]], values: [[Storage]]
  /// Tokens fed to each slot so far.
  public private(set) var counts: [Int]

  public init(model: GPT, slots: Int) {
    self.model = model
    let size = model.config.blockSize * model.config.nEmbd
    func caches() -> [[Storage]] {
      (0..<slots).map { _ in (0..<model.config.nLayer).map { _ in Storage(count: size, zeroed: false, on: model.parameters.device) } }
    }
    (keys, values) = (caches(), caches())
    counts = Array(repeating: 0, count: slots)
  }

  /// Why the GPU stopped working, if it did (its logits are then NaN).
  public var failure: String? { model.parameters.device.gpu?.failure?.description }

  /// The number of slots.
  public var slots: Int { counts.count }

  /// Forgets what `slot` was fed.
  public func reset(slot: Int) { counts[slot] = 0 }

  /// Feeds `tokens` (a prompt) to `slot` and returns the logits [V] for its next token.
  public func prefill(slot: Int, _ tokens: [Int32]) -> [Float] {
    let (t, past) = (tokens.count, counts[slot])
    precondition(t > 0 && past + t <= model.config.blockSize, "slot \(slot): \(past) + \(t) tokens exceed the block size")
    return withoutGrad {
      let x = model.transformer(tokens, shape: [t], positions: (past..<(past + t)).map(Int32.init), rng: nil) { qkv, layer in
        cachedAttention(qkv, keys: keys[slot][layer], values: values[slot][layer], past: past, heads: model.config.nHead)
      }
      counts[slot] += t
      return matmul(embedding(x, ids: [Int32(t - 1)], shape: [1]), model.head, transposeB: true).scalars
    }
  }

  /// Feeds one token to each slot of `batch` (distinct slots, each with room for it) and
  /// returns each slot's logits [V] for its next token, in `batch` order: one forward pass per
  /// `gemvMaxRows` slots.
  ///
  /// A slot's logits do not depend on the other slots in the step: products of up to
  /// `gemvMaxRows` rows give each row the bits it gets alone (and read the weights once, which
  /// is what a decoding step costs). A seed then gives the same text however busy the server is.
  public func step(_ batch: [(slot: Int, token: Int32)]) -> [[Float]] {
    precondition(!batch.isEmpty && Set(batch.map(\.slot)).count == batch.count, "a step takes distinct slots")
    return stride(from: 0, to: batch.count, by: gemvMaxRows).flatMap { start in
      step(rows: Array(batch[start..<min(batch.count, start + gemvMaxRows)]))
    }
  }

  /// `step` for at most `gemvMaxRows` slots.
  private func step(rows: [(slot: Int, token: Int32)]) -> [[Float]] {
    let b = rows.count
    let past = rows.map { counts[$0.slot] }
    precondition(past.allSatisfy { $0 < model.config.blockSize }, "a slot is full")
    return withoutGrad {
      let x = model.transformer(rows.map(\.token), shape: [b], positions: past.map(Int32.init), rng: nil) { qkv, layer in
        // Each row attends over its own slot's cache.
        cachedAttention(rows: qkv, caches: (0..<b).map { (keys[rows[$0].slot][layer], values[rows[$0].slot][layer], past[$0]) },
                        heads: model.config.nHead)
      }
      for entry in rows { counts[entry.slot] += 1 }
      let logits = matmul(x, model.head, transposeB: true).scalars
      let v = model.config.vocabSize
      return (0..<b).map { Array(logits[($0 * v)..<(($0 + 1) * v)]) }
    }
  }
}
