import Dispatch
import Foundation

/// HF's `UnigramTrainer` (after SentencePiece's unigram trainer, Kudo 2018): learns a
/// `UnigramModel` from text run through a tokenizer's normalizer and pre-tokenizer.
///
/// 1. Seed pieces: every character, then the substrings the suffix tree of the distinct
///    words shows to repeat (frequency × length, best first, up to `seedSize`).
/// 2. EM: the E step sums each piece's expected count over all segmentations of every word
///    (forward-backward over its lattice); the M step keeps pieces expected at least 0.5 times
///    and scores them `ψ(count) − ψ(total)` (Bayesian EM, as HF and SentencePiece do);
///    `subIterations` rounds of that, then pieces are pruned by how much the corpus likelihood
///    would lose without them (each replaced by its second-best segmentation), down by
///    `shrinkingFactor`, until `vocabSize × 1.1` remain.
/// 3. The required characters, then the best pieces up to `vocabSize`, sorted by score; the
///    special tokens (and the unknown token) first.
///
/// The result is deterministic for a corpus, on any thread count: words keep their order of
/// first appearance and sums over them are made in fixed chunks.
public struct UnigramTrainer: Sendable {
  public var vocabSize: Int
  public var specialTokens: [String]
  /// Added first among the special tokens if missing; nil: the model has no unknown piece.
  public var unknownToken: String?
  public var shrinkingFactor: Double
  /// Longest piece, in characters.
  public var maxPieceLength: Int
  public var subIterations: Int
  public var seedSize: Int
  /// Characters the vocabulary always has, seen in the corpus or not.
  public var initialAlphabet: [Unicode.Scalar]

  public init(
    vocabSize: Int = 8000, specialTokens: [String] = [], unknownToken: String? = nil, shrinkingFactor: Double = 0.75,
    maxPieceLength: Int = 16, subIterations: Int = 2, seedSize: Int = 1_000_000, initialAlphabet: [Unicode.Scalar] = []
  ) {
    self.vocabSize = vocabSize
    self.specialTokens = specialTokens
    self.unknownToken = unknownToken
    self.shrinkingFactor = shrinkingFactor
    self.maxPieceLength = maxPieceLength
    self.subIterations = subIterations
    self.seedSize = seedSize
    self.initialAlphabet = initialAlphabet
  }

  /// Trains on `texts` and returns `base` with the learned Unigram model, the special tokens
  /// as its added tokens and the post-processor's tokens renumbered. `progress(pieces)` is
  /// called after each EM round.
  public func train(
    _ base: PipelineTokenizer, on texts: [String], threads: Int = 2, progress: ((Int) -> Void)? = nil
  ) throws(TokenizerError) -> PipelineTokenizer {
    guard shrinkingFactor > 0 && shrinkingFactor < 1 else {
      throw .invalidJSON(field: "shrinking_factor", reason: "must be between 0 and 1, got \(shrinkingFactor)")
    }
    guard maxPieceLength >= 1, subIterations >= 1 else {
      throw .invalidJSON(field: "max_piece_length", reason: "the longest piece and the EM rounds must be at least 1")
    }
    let counted = WordCounts(texts, tokenizer: base, threads: threads)
    guard !counted.words.isEmpty else { throw .emptyCorpus }
    let words = TrainingWords(counted)
    let required = requiredCharacters(counted)
    let specials = (unknownToken.map { specialTokens.contains($0) ? [] : [$0] } ?? []) + specialTokens
    guard required.count + specials.count <= vocabSize else {
      throw .vocabularyTooSmall(requested: vocabSize, minimum: required.count + specials.count,
                                of: "the corpus's \(required.count) characters + \(specials.count) special token\(specials.count == 1 ? "" : "s")")
    }
    var pieces: [(String, Double)] = [("<UNK>", .nan)] + seedPieces(words, counted)
    let desired = vocabSize * 11 / 10
    var model = TrainingModel(pieces)
    while true {
      for _ in 0..<subIterations {
        let expected = words.expectedCounts(model, threads: threads)
        pieces = maximize(pieces, expected)
        model = TrainingModel(pieces)
      }
      progress?(pieces.count)
      if pieces.count <= desired { break }
      pieces = prune(pieces, model, words, threads: threads)
      model = TrainingModel(pieces)
    }
    let final = finalize(model, required: required, specials: specials)
    let unknownId = unknownToken.flatMap { token in final.firstIndex { $0.0 == token } }
    let unigram = try UnigramModel(pieces: final, unknownId: unknownId)
    let added = specials.map { AddedToken(id: unigram.vocab.id($0)!, content: $0, special: true) }
    return PipelineTokenizer(
      normalizer: base.normalizer, preTokenizer: base.preTokenizer, model: unigram,
      postProcessor: try base.postProcessor?.renumbered { unigram.vocab.id($0) }, decoder: base.decoder, addedTokens: added)
  }

  /// Every character of the corpus and the initial alphabet, in code-point order.
  private func requiredCharacters(_ words: WordCounts) -> [String] {
    var seen = Set<UInt32>()
    for word in words.words { for s in word.unicodeScalars { seen.insert(s.value) } }
    for s in initialAlphabet { seen.insert(s.value) }
    return seen.sorted().map { String(Unicode.Scalar($0)!) }
  }

  /// The characters by count, then repeated substrings by frequency × length (frequency in
  /// the distinct words, as HF counts it), as log probabilities.
  private func seedPieces(_ words: TrainingWords, _ counted: WordCounts) -> [(String, Double)] {
    var characterCounts: [UInt32: Int] = [:]
    var text: [UInt32] = []  // the words' scalars, each word followed by 0
    for (word, count) in zip(counted.words, counted.counts) where !word.isEmpty {
      for s in word.unicodeScalars {
        text.append(s.value)
        if s.value != 0 { characterCounts[s.value, default: 0] += count }
      }
      text.append(0)
    }
    var seeds = characterCounts.map { (count: $0.value, scalar: $0.key) }.sorted { ($0.count, $0.scalar) > ($1.count, $1.scalar) }
      .map { (String(Unicode.Scalar($0.scalar)!), Double($0.count)) }
    var substrings: [(score: Int, start: Int, length: Int)] = []
    let suffixArray = SuffixArray(text)
    suffixArray.forEachRepeat { start, length, frequency in
      guard length > 1, length <= maxPieceLength, !text[start..<(start + length)].contains(0) else { return }
      substrings.append((frequency * length, start, length))
    }
    // Best score first; equal scores: the larger string first (HF sorts (score, chars) descending).
    substrings.sort { a, b in
      if a.score != b.score { return a.score > b.score }
      return text[b.start..<(b.start + b.length)].lexicographicallyPrecedes(text[a.start..<(a.start + a.length)])
    }
    for s in substrings {
      guard seeds.count < seedSize else { break }
      var view = String.UnicodeScalarView()
      for v in text[s.start..<(s.start + s.length)] { view.append(Unicode.Scalar(v)!) }
      seeds.append((String(view), Double(s.score)))
    }
    let logTotal = log(seeds.reduce(0) { $0 + $1.1 })
    return seeds.map { ($0.0, log($0.1) - logTotal) }
  }

  /// The M step: pieces expected fewer than 0.5 times go; the rest are scored by digamma.
  private func maximize(_ pieces: [(String, Double)], _ expected: [Double]) -> [(String, Double)] {
    var kept: [(String, Double)] = [pieces[0]]
    var total = 0.0
    for k in 1..<pieces.count where expected[k] >= 0.5 {
      kept.append((pieces[k].0, expected[k]))
      total += expected[k]
    }
    let logTotal = digamma(total)
    return [kept[0]] + kept.dropFirst().map { ($0.0, digamma($0.1) - logTotal) }
  }

  /// HF's `prune_sentence_pieces`: keeps the pieces whose removal would cost the corpus
  /// likelihood most (approximately: each use replaced by the piece's second-best split).
  private func prune(_ pieces: [(String, Double)], _ model: TrainingModel, _ words: TrainingWords, threads: Int) -> [(String, Double)] {
    var alwaysKeep = [Bool](repeating: true, count: pieces.count)
    var alternatives = [[Int]](repeating: [], count: pieces.count)
    alwaysKeep[0] = false
    for id in 1..<pieces.count {
      let bytes = Array(pieces[id].0.utf8)
      let (best, second) = model.twoBest(bytes)
      if second == nil {
        alwaysKeep[id] = true
      } else if best.count >= 2 {
        alwaysKeep[id] = false
      } else {
        alwaysKeep[id] = true
        alternatives[id] = second!
      }
    }
    let (frequency, inverted, totalWords) = words.viterbiCounts(model, threads: threads)
    let sum = frequency.reduce(0, +)
    let logSum = log(sum)
    var kept: [(String, Double)] = [pieces[0]]
    var candidates: [(id: Int, loss: Double)] = []
    for id in 1..<pieces.count {
      if frequency[id] == 0 && !alwaysKeep[id] { continue }
      if alternatives[id].isEmpty {
        kept.append(pieces[id])
        continue
      }
      var f = inverted[id].reduce(0.0) { $0 + Double(words.counts[$1]) }
      if f == 0 || f.isNaN { continue }
      f /= totalWords
      let logProbability = log(frequency[id]) - logSum
      // As HF: the new total counts `alternatives.len() - 1` with the number of pieces.
      let logSumAlternative = log(sum + frequency[id] * Double(pieces.count - 1))
      var logProbabilityAlternative = 0.0
      for n in alternatives[id] { logProbabilityAlternative += log(frequency[n] + frequency[id]) - logSumAlternative }
      candidates.append((id, f * (logProbability - logProbabilityAlternative)))
    }
    let prunedSize = max(vocabSize * 11 / 10, Int(Double(pieces.count) * shrinkingFactor))
    for c in candidates.enumerated().sorted(by: { ($0.element.loss, -$0.offset) > ($1.element.loss, -$1.offset) }).map(\.element) {
      if kept.count == prunedSize { break }
      kept.append(pieces[c.id])
    }
    return kept
  }

  /// HF's `finalize`: the required characters (missing ones just below the lowest score),
  /// then the best pieces until the vocabulary is full, sorted by score; specials first.
  private func finalize(_ model: TrainingModel, required: [String], specials: [String]) -> [(String, Double)] {
    var pieces: [(String, Double)] = []
    var inserted: Set<String> = ["<UNK>"]
    var penalty = 0.0
    let scores = Dictionary(model.pieces.map { ($0.0, $0.1) }) { a, _ in a }
    for c in required {
      inserted.insert(c)
      if let score = scores[c] {
        pieces.append((c, score))
      } else {
        pieces.append((c, model.minScore + penalty))
        penalty += 0.0001
      }
    }
    let room = vocabSize - specials.count
    for (token, score) in model.pieces where !inserted.contains(token) && pieces.count < room {
      inserted.insert(token)
      pieces.append((token, score.isNaN ? 0 : score))
    }
    pieces = pieces.enumerated().sorted { ($0.element.1, -$0.offset) > ($1.element.1, -$1.offset) }.map(\.element)
    return specials.map { ($0, 0.0) } + pieces
  }
}

/// HF's digamma approximation.
private func digamma(_ value: Double) -> Double {
  var x = value
  var result = 0.0
  while x < 7 {
    result -= 1 / x
    x += 1
  }
  x -= 0.5
  let xx = 1 / x
  let xx2 = xx * xx
  let xx4 = xx2 * xx2
  result += log(x) + (1.0 / 24.0) * xx2 - 7.0 / 960.0 * xx4 + (31.0 / 8064.0) * xx4 * xx2 - (127.0 / 30720.0) * xx4 * xx4
  return result
}

/// HF's `log_sum_exp` (a term 50 below the other is dropped).
@inline(__always)
private func logSumExp(_ x: Double, _ y: Double) -> Double {
  let (low, high) = x > y ? (y, x) : (x, y)
  return high > low + 50 ? high : high + log(exp(low - high) + 1)
}

/// The pieces being trained, with a byte-string index (piece 0, `<UNK>`, is not matched).
struct TrainingModel {
  let pieces: [(String, Double)]
  private let table: ByteStringTable
  private let longest: Int
  let minScore: Double

  init(_ pieces: [(String, Double)]) {
    self.pieces = pieces
    var table = ByteStringTable(capacity: pieces.count)
    var longest = 1
    var minScore = Double.infinity
    for (k, (piece, score)) in pieces.enumerated() {
      // Piece 0 (`<UNK>`) goes in as bytes no text has, so that table index k is piece k.
      var bytes: [UInt8] = k == 0 ? [0xFF, 0xFF] : Array(piece.utf8)
      _ = bytes.withUnsafeMutableBufferPointer { table.findOrInsert($0.baseAddress!, $0.count) }
      if k > 0 { longest = max(longest, bytes.count) }
      if score < minScore { minScore = score }
    }
    self.table = table
    self.longest = longest
    self.minScore = minScore
  }

  /// The lattice of `word`: every piece at every character start, an unknown node (piece 0)
  /// where no one-character piece starts; nodes by start, then end.
  func nodes(_ word: UnsafeBufferPointer<UInt8>, into nodes: inout [LatticeNode]) {
    nodes.removeAll(keepingCapacity: true)
    let n = word.count
    let unknownScore = minScore - 10
    var start = 0
    while start < n {
      let width = min(utf8Length(word[start]), n - start)
      var hasSingle = false
      var end = start + width
      while end <= min(n, start + longest) {
        if let k = table.find(word.baseAddress! + start, end - start), k > 0 {
          nodes.append(LatticeNode(start: Int32(start), end: Int32(end), piece: Int32(k), score: pieces[k].1))
          if end - start == width { hasSingle = true }
        }
        guard end < n else { break }
        end += min(utf8Length(word[end]), n - end)
      }
      if !hasSingle {
        // Keep the nodes in (start, end) order: the unknown node is the shortest.
        let at = nodes.lastIndex { $0.start < Int32(start) }.map { $0 + 1 } ?? 0
        nodes.insert(LatticeNode(start: Int32(start), end: Int32(start + width), piece: 0, score: unknownScore), at: at)
      }
      start += width
    }
  }

  /// The best (Viterbi) segmentation of `word` as piece ids, ties to the earlier node as HF.
  func viterbi(_ word: UnsafeBufferPointer<UInt8>, _ nodes: inout [LatticeNode], excluding excluded: Int? = nil) -> [Int]? {
    self.nodes(word, into: &nodes)
    let n = word.count
    var best = [Double](repeating: -.infinity, count: n + 1)
    var from = [Int](repeating: -1, count: n + 1)
    best[0] = 0
    for (k, node) in nodes.enumerated() where k != excluded && (node.start == 0 || from[Int(node.start)] != -1) {
      let candidate = best[Int(node.start)] + node.score
      if from[Int(node.end)] == -1 || candidate > best[Int(node.end)] {
        best[Int(node.end)] = candidate
        from[Int(node.end)] = k
      }
    }
    guard from[n] != -1 else { return nil }
    var path: [Int] = []
    var end = n
    while end > 0 {
      let node = nodes[from[end]]
      path.append(Int(node.piece))
      end = Int(node.start)
    }
    return path.reversed()
  }

  /// The best segmentation of `piece` and, when it is the piece itself, the best other one.
  func twoBest(_ piece: [UInt8]) -> (best: [Int], second: [Int]?) {
    piece.withUnsafeBufferPointer { b in
      var nodes: [LatticeNode] = []
      guard let best = viterbi(b, &nodes) else { return ([], nil) }
      guard best.count == 1, let whole = nodes.firstIndex(where: { $0.start == 0 && Int($0.end) == b.count && Int($0.piece) == best[0] })
      else { return (best, best.count >= 2 ? best : nil) }
      return (best, viterbi(b, &nodes, excluding: whole))
    }
  }
}

struct LatticeNode {
  var start: Int32
  var end: Int32
  var piece: Int32
  var score: Double
}

/// The distinct words laid end to end, with their counts; the E step and the Viterbi counts
/// run over them in fixed chunks, whatever the thread count.
struct TrainingWords {
  private var bytes: [UInt8] = []
  private var offsets: [Int] = [0]
  let counts: [Int]
  private static let chunks = 16

  init(_ counted: WordCounts) {
    for word in counted.words {
      bytes += word.utf8
      offsets.append(bytes.count)
    }
    counts = counted.counts
  }

  private var count: Int { counts.count }

  private func chunk(_ c: Int) -> Range<Int> { (count * c / Self.chunks)..<(count * (c + 1) / Self.chunks) }

  /// Runs `body(chunk, word range)` on every chunk, `threads` at a time.
  private func forEachChunk(threads: Int, _ body: @escaping @Sendable (Int, Range<Int>) -> Void) {
    let workers = max(1, min(threads, Self.chunks))
    DispatchQueue.concurrentPerform(iterations: workers) { t in
      for c in stride(from: t, to: Self.chunks, by: workers) { body(c, chunk(c)) }
    }
  }

  private func word(_ k: Int, _ b: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(rebasing: b[offsets[k]..<offsets[k + 1]])
  }

  /// The E step: each piece's expected count over all segmentations, weighted by word counts.
  func expectedCounts(_ model: TrainingModel, threads: Int) -> [Double] {
    let parts = UnsafeMutableBufferPointer<[Double]>.allocate(capacity: Self.chunks)
    parts.initialize(repeating: [])
    defer { parts.deallocate() }
    let shared = SendablePointer(parts.baseAddress!)
    let this = self
    forEachChunk(threads: threads) { c, range in
      var expected = [Double](repeating: 0, count: model.pieces.count)
      var nodes: [LatticeNode] = []
      var alpha: [Double] = []
      var beta: [Double] = []
      this.bytes.withUnsafeBufferPointer { all in
        for k in range {
          let w = this.word(k, all)
          model.nodes(w, into: &nodes)
          let n = w.count
          alpha.removeAll(keepingCapacity: true)
          alpha.append(contentsOf: repeatElement(.nan, count: n + 1))
          beta.removeAll(keepingCapacity: true)
          beta.append(contentsOf: repeatElement(.nan, count: n + 1))
          alpha[0] = 0
          for node in nodes {
            let value = alpha[Int(node.start)] + node.score
            let e = Int(node.end)
            alpha[e] = alpha[e].isNaN ? value : logSumExp(alpha[e], value)
          }
          beta[n] = 0
          for node in nodes.reversed() {
            let value = node.score + beta[Int(node.end)]
            let s = Int(node.start)
            beta[s] = beta[s].isNaN ? value : logSumExp(beta[s], value)
          }
          let z = alpha[n]
          let freq = Double(this.counts[k])
          for node in nodes {
            expected[Int(node.piece)] += freq * exp(alpha[Int(node.start)] + node.score + beta[Int(node.end)] - z)
          }
        }
      }
      shared.pointer[c] = expected
    }
    var total = [Double](repeating: 0, count: model.pieces.count)
    for c in 0..<Self.chunks where !parts[c].isEmpty {
      for i in total.indices { total[i] += parts[c][i] }
    }
    return total
  }

  /// Viterbi segmentations of every word: each piece's count, the words it appears in, and
  /// the number of words (weighted).
  func viterbiCounts(_ model: TrainingModel, threads: Int) -> ([Double], [[Int]], Double) {
    let parts = UnsafeMutableBufferPointer<([Double], [[Int]])>.allocate(capacity: Self.chunks)
    parts.initialize(repeating: ([], []))
    defer { parts.deallocate() }
    let shared = SendablePointer(parts.baseAddress!)
    let this = self
    forEachChunk(threads: threads) { c, range in
      var frequency = [Double](repeating: 0, count: model.pieces.count)
      var inverted = [[Int]](repeating: [], count: model.pieces.count)
      var nodes: [LatticeNode] = []
      this.bytes.withUnsafeBufferPointer { all in
        for k in range {
          for id in model.viterbi(this.word(k, all), &nodes) ?? [] {
            frequency[id] += Double(this.counts[k])
            inverted[id].append(k)
          }
        }
      }
      shared.pointer[c] = (frequency, inverted)
    }
    var frequency = [Double](repeating: 0, count: model.pieces.count)
    var inverted = [[Int]](repeating: [], count: model.pieces.count)
    for c in 0..<Self.chunks where !parts[c].0.isEmpty {
      for i in frequency.indices {
        frequency[i] += parts[c].0[i]
        inverted[i] += parts[c].1[i]
      }
    }
    return (frequency, inverted, Double(counts.reduce(0, +)))
  }
}

/// The suffix array of a sequence (prefix doubling with radix sorts) and the internal nodes
/// of its suffix tree (esaxx's enumeration of LCP intervals).
struct SuffixArray {
  let text: [UInt32]
  let suffixes: [Int32]

  init(_ text: [UInt32]) {
    self.text = text
    let n = text.count
    guard n > 0 else {
      suffixes = []
      return
    }
    // Initial ranks: the symbols, compacted.
    let alphabet = Array(Set(text)).sorted()
    var code: [UInt32: Int32] = [:]
    for (k, v) in alphabet.enumerated() { code[v] = Int32(k + 1) }
    var rank = text.map { code[$0]! }
    var sa = [Int32](repeating: 0, count: n)
    var tmp = [Int32](repeating: 0, count: n)
    var classes = alphabet.count + 1
    var step = 1
    var first = true
    while true {
      // Sort by (rank[i], rank[i + step]) with two counting sorts (second key, then first).
      func countingSort(_ input: [Int32], key: (Int32) -> Int32, into output: inout [Int32]) {
        var count = [Int](repeating: 0, count: classes + 1)
        for i in input { count[Int(key(i))] += 1 }
        var sum = 0
        for k in count.indices {
          let c = count[k]
          count[k] = sum
          sum += c
        }
        for i in input {
          let k = Int(key(i))
          output[count[k]] = i
          count[k] += 1
        }
      }
      let order = first ? (0..<Int32(n)).map { $0 } : sa
      first = false
      countingSort(order, key: { i in Int(i) + step < n ? rank[Int(i) + step] : 0 }, into: &tmp)
      countingSort(tmp, key: { rank[Int($0)] }, into: &sa)
      // New ranks.
      var newRank = [Int32](repeating: 0, count: n)
      var r: Int32 = 1
      newRank[Int(sa[0])] = 1
      for k in 1..<n {
        let (a, b) = (Int(sa[k - 1]), Int(sa[k]))
        let sameFirst = rank[a] == rank[b]
        let sameSecond = (a + step < n ? rank[a + step] : 0) == (b + step < n ? rank[b + step] : 0)
        if !(sameFirst && sameSecond) { r += 1 }
        newRank[b] = r
      }
      rank = newRank
      classes = Int(r) + 1
      if Int(r) == n { break }
      step *= 2
    }
    suffixes = sa
  }

  /// Calls `body(start, length, frequency)` for every internal node of the suffix tree: a
  /// substring of `length` at `start` that begins `frequency` ≥ 2 suffixes.
  func forEachRepeat(_ body: (Int, Int, Int) -> Void) {
    let n = text.count
    guard n > 0 else { return }
    var rankOf = [Int](repeating: 0, count: n)
    for (k, s) in suffixes.enumerated() { rankOf[Int(s)] = k }
    // Kasai's LCP: lcp[k] between suffixes[k - 1] and suffixes[k]; lcp[0] = -1.
    var lcp = [Int](repeating: 0, count: n)
    var h = 0
    for i in 0..<n {
      let k = rankOf[i]
      if k == 0 {
        h = 0
        continue
      }
      let j = Int(suffixes[k - 1])
      while i + h < n && j + h < n && text[i + h] == text[j + h] { h += 1 }
      lcp[k] = h
      if h > 0 { h -= 1 }
    }
    lcp[0] = -1
    var stack: [(left: Int, depth: Int)] = [(-1, -1)]
    for i in 0...n {
      var current = (left: i, depth: i == n ? -1 : lcp[i])
      var candidate = stack.last!
      while candidate.depth > current.depth {
        if i - candidate.left > 1 { body(Int(suffixes[candidate.left]), candidate.depth, i - candidate.left) }
        current.left = candidate.left
        stack.removeLast()
        candidate = stack.last!
      }
      if candidate.depth < current.depth { stack.append(current) }
      if i == n { break }
      stack.append((i, n - Int(suffixes[i]) + 1))
    }
  }
}
