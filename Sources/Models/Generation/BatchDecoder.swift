import TensorEngine

/// Decoding for several sequences at once, a server's slots: each slot has its own key/value
/// cache, and `step` advances every given slot by one token in one pass over the weights —
/// matrix products over B rows instead of B matrix–vector products, which is what makes a
/// batched step cost far less than B single ones. A model whose parameters live on a GPU
/// decodes there, its caches there too.
///
/// On the CPU it decodes from a copy of the weight matrices made when it is created
/// (`PackedMatrix`): make a new decoder after the weights change (training, merging an adapter).
public final class BatchDecoder {
  /// The bytes of the key/value caches of `slots` sequences of `capacity` tokens (Float32).
  public static func cacheBytes(_ config: GPTConfig, slots: Int, capacity: Int) -> Double {
    2 * 4 * Double(slots) * Double(config.nLayer) * Double(min(capacity, config.blockSize)) * Double(config.nEmbd)
  }

  public let model: GPT
  /// Per slot, per layer: keys and values, capacity · C each (`cachedAttention`'s layout).
  private let keys: [[Storage]], values: [[Storage]]
  /// The tokens a slot holds: the model's block size, or less.
  public let capacity: Int
  /// Tokens fed to each slot so far.
  public private(set) var counts: [Int]
  /// Packed copies of the weight matrices, by parameter name.
  private let packed: [String: PackedMatrix]

  /// A decoder of `slots` sequences of up to `capacity` tokens each (default: the block size).
  public init(model: GPT, slots: Int, capacity: Int? = nil) {
    self.model = model
    self.capacity = min(capacity ?? model.config.blockSize, model.config.blockSize)
    packed = model.packedWeights()
    let size = self.capacity * model.config.nEmbd
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
    precondition(t > 0 && past + t <= capacity, "slot \(slot): \(past) + \(t) tokens exceed its capacity")
    return withoutGrad {
      let x = model.transformer(tokens, shape: [t], positions: (past..<(past + t)).map(Int32.init), rng: nil,
                                packed: packed) { qkv, layer in
        cachedAttention(qkv, keys: keys[slot][layer], values: values[slot][layer], past: past, heads: model.config.nHead)
      }
      counts[slot] += t
      return matmul(embedding(x, ids: [Int32(t - 1)], shape: [1]), model.head, transposeB: true).scalars
    }
  }

  /// Prompts of at most this many tokens can be fed by `step`, among the other slots' tokens,
  /// with the bits `prefill` gives them (a longer prompt's products in `prefill` are blocked
  /// as a matrix product, not row by row).
  public var stepPromptLimit: Int { gemvMaxRows }

  /// Feeds each slot of `batch` (distinct slots, each with room) its tokens — the next one for
  /// a slot that is decoding, the prompt (at most `stepPromptLimit` tokens) for one that starts
  /// — and returns each slot's logits [V] for its next token, in `batch` order. All the tokens
  /// go through the model together, as the rows of one forward pass per `gemvMaxRows` of them;
  /// a slot's rows may be split between passes (its keys and values are cached before the
  /// next pass reads them).
  ///
  /// A slot's logits do not depend on the other slots in the step: products of up to
  /// `gemvMaxRows` rows give each row the bits it gets alone (and read the weights once, which
  /// is what a decoding step costs), and so does attention. A seed then gives the same text
  /// however busy the server is.
  public func step(_ batch: [(slot: Int, tokens: [Int32])]) -> [[Float]] {
    precondition(!batch.isEmpty && Set(batch.map(\.slot)).count == batch.count, "a step takes distinct slots")
    precondition(batch.allSatisfy { !$0.tokens.isEmpty && counts[$0.slot] + $0.tokens.count <= capacity },
                 "a step feeds every slot at least one token, within its capacity")
    let rows = batch.flatMap { entry in
      entry.tokens.enumerated().map { (slot: entry.slot, token: $1, position: counts[entry.slot] + $0) }
    }
    // The row whose logits each slot gets: its last.
    var lastRows: [Int] = [], fed = 0
    for entry in batch {
      fed += entry.tokens.count
      lastRows.append(fed - 1)
    }
    let logits = stride(from: 0, to: rows.count, by: gemvMaxRows).flatMap { start in
      let end = min(rows.count, start + gemvMaxRows)
      return forward(rows: Array(rows[start..<end]), logitsOf: lastRows.filter { (start..<end).contains($0) }.map { $0 - start })
    }
    for entry in batch { counts[entry.slot] += entry.tokens.count }
    return logits
  }

  /// One forward pass over at most `gemvMaxRows` rows, each a token at a position of a slot:
  /// the logits [V] of the rows `logitsOf`.
  private func forward(rows: [(slot: Int, token: Int32, position: Int)], logitsOf wanted: [Int]) -> [[Float]] {
    withoutGrad {
      let x = model.transformer(rows.map(\.token), shape: [rows.count], positions: rows.map { Int32($0.position) }, rng: nil,
                                packed: packed) { qkv, layer in
        // Each row attends over its own slot's cache.
        cachedAttention(rows: qkv, caches: rows.map { (keys[$0.slot][layer], values[$0.slot][layer], $0.position) },
                        heads: model.config.nHead)
      }
      if wanted.isEmpty { return [] }
      let logits = matmul(embedding(x, ids: wanted.map(Int32.init), shape: [wanted.count]), model.head, transposeB: true).scalars
      let v = model.config.vocabSize
      return wanted.indices.map { Array(logits[($0 * v)..<(($0 + 1) * v)]) }
    }
  }
}
