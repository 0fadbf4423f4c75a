import Dispatch

/// HF's `BpeTrainer`: learns a `PipelineBPE` model from text run through a tokenizer's
/// normalizer and pre-tokenizer.
///
/// The algorithm is HF's, step for step: ids go to the special tokens, then the alphabet in
/// code-point order (`initialAlphabet` always kept, the rarest characters beyond
/// `limitAlphabet` dropped), then the `##x` / `x</w>` symbol strings; the pair with the highest
/// count wins, ties to the smallest `(left id, right id)`; a merged string that already exists
/// keeps its id; training stops at `vocabSize` tokens or when the best count is below
/// `minFrequency`.
///
/// **Determinism.** Without a prefix or suffix the result equals HF's merge for merge (tested).
/// With one, HF numbers the `##x` strings in hash-map order, so its output changes from run to
/// run (tokenizers issue 1794); here they are numbered in order of first appearance in the
/// corpus, so the same corpus always gives the same tokenizer, on any number of threads. At
/// the `limitAlphabet` cut-off, characters of equal count are dropped largest code point first.
public struct PipelineBPETrainer: Sendable {
  public var vocabSize: Int
  public var minFrequency: Int
  public var specialTokens: [String]
  public var limitAlphabet: Int?
  public var initialAlphabet: [Unicode.Scalar]
  public var continuingSubwordPrefix: String?
  public var endOfWordSuffix: String?

  public init(
    vocabSize: Int = 30_000, minFrequency: Int = 0, specialTokens: [String] = [], limitAlphabet: Int? = nil,
    initialAlphabet: [Unicode.Scalar] = [], continuingSubwordPrefix: String? = nil, endOfWordSuffix: String? = nil
  ) {
    self.vocabSize = vocabSize
    self.minFrequency = minFrequency
    self.specialTokens = specialTokens
    self.limitAlphabet = limitAlphabet
    self.initialAlphabet = initialAlphabet
    self.continuingSubwordPrefix = continuingSubwordPrefix
    self.endOfWordSuffix = endOfWordSuffix
  }

  /// Trains on `texts` (HF feeds files line by line, newline included) and returns `base`
  /// with the learned model and the special tokens as its added tokens (those `base` had are
  /// replaced); the post-processor's special tokens get their new ids. `progress(merges)` is
  /// called now and then.
  public func train(
    _ base: PipelineTokenizer, on texts: [String], threads: Int = 2, progress: ((Int) -> Void)? = nil
  ) throws(TokenizerError) -> PipelineTokenizer {
    let words = WordCounts(texts, tokenizer: base, threads: threads)
    guard !words.words.isEmpty else { throw .emptyCorpus }
    var (vocab, merges) = learn(words, progress: progress)
    for token in specialTokens { vocab.add(token) }
    let model = try PipelineBPE(
      vocab: vocab, merges: merges, continuingSubwordPrefix: continuingSubwordPrefix, endOfWordSuffix: endOfWordSuffix)
    let added = specialTokens.map { AddedToken(id: vocab.id($0)!, content: $0, special: true) }
    return PipelineTokenizer(
      normalizer: base.normalizer, preTokenizer: base.preTokenizer, model: model,
      postProcessor: try base.postProcessor?.renumbered { vocab.id($0) }, decoder: base.decoder, addedTokens: added)
  }

  /// HF's `WordPieceTrainer`: BPE training with the `##` prefix (`continuingSubwordPrefix`,
  /// default `##`), whose vocabulary becomes a WordPiece model. `unknownToken` is added to the
  /// special tokens if missing.
  public func trainWordPiece(
    _ base: PipelineTokenizer, on texts: [String], unknownToken: String = "[UNK]", threads: Int = 2,
    progress: ((Int) -> Void)? = nil
  ) throws(TokenizerError) -> PipelineTokenizer {
    var bpe = self
    bpe.continuingSubwordPrefix = continuingSubwordPrefix ?? "##"
    if !specialTokens.contains(unknownToken) { bpe.specialTokens.append(unknownToken) }
    var tokenizer = try bpe.train(base, on: texts, threads: threads, progress: progress)
    tokenizer.model = try WordPieceModel(
      vocab: tokenizer.model.vocab, unknownToken: unknownToken, continuingSubwordPrefix: bpe.continuingSubwordPrefix!)
    return tokenizer
  }

  /// The alphabet to keep: character → count, in code-point order.
  private func alphabet(_ words: WordCounts) -> [Unicode.Scalar] {
    var counts: [UInt32: Int] = [:]
    for (k, word) in words.words.enumerated() {
      for s in word.unicodeScalars { counts[s.value, default: 0] += words.counts[k] }
    }
    for s in initialAlphabet { counts[s.value] = Int.max }
    var kept = counts.map { (scalar: $0.key, count: $0.value) }
    if let limit = limitAlphabet, kept.count > limit {
      kept.sort { ($0.count, $1.scalar) < ($1.count, $0.scalar) }
      kept.removeFirst(kept.count - limit)
    }
    return kept.map { Unicode.Scalar($0.scalar)! }.sorted { $0.value < $1.value }
  }

  private func learn(_ words: WordCounts, progress: ((Int) -> Void)?) -> (Vocabulary, [(String, String)]) {
    var vocab = Vocabulary()
    for token in specialTokens { vocab.add(token) }
    var inAlphabet = Set<UInt32>()
    for s in alphabet(words) {
      vocab.add(String(s))
      inAlphabet.insert(s.value)
    }
    // Words as symbol ids, laid end to end.
    var state = MergeState()
    for (k, word) in words.words.enumerated() {
      let start = state.symbols.count
      let scalars = Array(word.unicodeScalars)
      for (i, s) in scalars.enumerated() where inAlphabet.contains(s.value) {
        var text = String(s)
        if i > 0, let prefix = continuingSubwordPrefix { text = prefix + text }
        if i == scalars.count - 1, let suffix = endOfWordSuffix { text += suffix }
        state.symbols.append(UInt32(vocab.add(text)))
      }
      state.wordStart.append(Int32(start))
      state.wordLength.append(Int32(state.symbols.count - start))
      state.wordCount.append(Int64(words.counts[k]))
    }
    state.countPairs()

    var merges: [(String, String)] = []
    while vocab.count < vocabSize, let top = state.popCurrent() {
      if top.count < 1 || Int64(minFrequency) > top.count { break }
      let (a, b) = (UInt32(top.pair >> 32), UInt32(truncatingIfNeeded: top.pair))
      let left = vocab.tokens[Int(a)]!
      let right = vocab.tokens[Int(b)]!
      let merged = left + PipelineBPE.dropPrefix(right, continuingSubwordPrefix)
      let id = vocab.add(merged)
      merges.append((left, right))
      state.merge(top, into: UInt32(id))
      if let progress, merges.count % 256 == 0 { progress(merges.count) }
    }
    progress?(merges.count)
    return (vocab, merges)
  }
}

/// The distinct words of a corpus with their counts, in order of first appearance.
struct WordCounts {
  var words: [String] = []
  var counts: [Int] = []

  init(_ texts: [String], tokenizer: PipelineTokenizer, threads: Int) {
    let threads = max(1, min(threads, texts.count))
    // GPT-2 byte-level words are counted by their raw bytes and mapped to characters once each.
    let byteLevelSplit = tokenizer.preTokenizer?.byteLevelSplit
    let byteLevel = byteLevelSplit != nil
    let prefixSpace = byteLevelSplit?.addPrefixSpace ?? false
    var parts = [(ByteStringTable, [Int])](repeating: (ByteStringTable(), []), count: threads)
    parts.withUnsafeMutableBufferPointer { buffer in
      let shared = SendablePointer(buffer.baseAddress!)
      DispatchQueue.concurrentPerform(iterations: threads) { t in
        var table = ByteStringTable(capacity: 1 << 16)
        var counts: [Int] = []
        func add(_ p: UnsafePointer<UInt8>, _ n: Int) {
          let (k, inserted) = table.findOrInsert(p, n)
          if inserted { counts.append(1) } else { counts[k] += 1 }
        }
        var scanner = tokenizer.preTokenizer.flatMap(WordScanner.init)
        for i in (texts.count * t / threads)..<(texts.count * (t + 1) / threads) {
          var text = tokenizer.normalizer?.normalize(texts[i]) ?? texts[i]
          if byteLevel && prefixSpace && !text.isEmpty && text.utf8.first != 0x20 { text = " " + text }
          text.withUTF8 { b in
            if byteLevel {
              SplitPattern.gpt2.forEachPiece(in: b) { s, e in add(b.baseAddress! + s, e - s) }
              return
            }
            if scanner != nil {
              scanner!.scan(b)
              for r in scanner!.ranges { add(b.baseAddress! + r.lowerBound, r.count) }
              return
            }
            for var word in tokenizer.preTokenize(texts[i]) {
              word.withUTF8 { w in if let p = w.baseAddress { add(p, w.count) } }
            }
          }
        }
        shared.pointer[t] = (table, counts)
      }
    }
    // Merge the shares in order, so first appearance is global.
    var index = ByteStringTable(capacity: 1 << 16)
    for (table, partCounts) in parts {
      let strings = table.strings
      strings.bytes.withUnsafeBufferPointer { bytes in
        for k in 0..<strings.count {
          let p = bytes.baseAddress! + strings.offsets[k]
          let n = strings.length(k)
          let (j, inserted) = index.findOrInsert(p, n)
          if inserted {
            let word = String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
            words.append(byteLevel ? ByteLevel.encode(word) : word)
            counts.append(partCounts[k])
          } else {
            counts[j] += partCounts[k]
          }
        }
      }
    }
  }
}

/// A heap entry: a pair, the count it had when pushed, and the words to merge it in.
private struct PairMerge: HeapElement {
  var count: Int64
  var pair: UInt64
  var positions: Int32  // index into MergeState.positionLists

  @inline(__always)
  func precedes(_ o: PairMerge) -> Bool { count > o.count || (count == o.count && pair < o.pair) }
}

/// HF's merge loop: words as symbol runs, pair counts, and a max-heap whose entries carry
/// their own word lists (`where_to_update`).
private struct MergeState {
  var symbols: [UInt32] = []
  var wordStart: [Int32] = []
  var wordLength: [Int32] = []
  var wordCount: [Int64] = []

  var pairIndex = PairTable(capacity: 1 << 16)
  var pairCount: [Int64] = []
  var heap = Heap<PairMerge>()
  var positionLists: [[Int32]] = []
  var freeLists: [Int32] = []

  @inline(__always)
  static func key(_ a: UInt32, _ b: UInt32) -> UInt64 { UInt64(a) << 32 | UInt64(b) }

  mutating func slot(_ a: UInt32, _ b: UInt32) -> Int {
    let r = pairIndex.get(a, b)
    if r != PairTable.missing { return Int(r) }
    pairIndex.insert(a, b, UInt32(pairCount.count))
    pairCount.append(0)
    return pairCount.count - 1
  }

  mutating func storeList(_ list: [Int32]) -> Int32 {
    if let free = freeLists.popLast() {
      positionLists[Int(free)] = list
      return free
    }
    positionLists.append(list)
    return Int32(positionLists.count - 1)
  }

  mutating func countPairs() {
    var lists: [[Int32]] = []
    var keys: [UInt64] = []
    for w in 0..<wordStart.count where wordLength[w] > 1 {
      let start = Int(wordStart[w])
      for i in start..<(start + Int(wordLength[w]) - 1) {
        let s = slot(symbols[i], symbols[i + 1])
        pairCount[s] += wordCount[w]
        if s == lists.count {
          lists.append([])
          keys.append(MergeState.key(symbols[i], symbols[i + 1]))
        }
        if lists[s].last != Int32(w) { lists[s].append(Int32(w)) }
      }
    }
    for (s, list) in lists.enumerated() where pairCount[s] > 0 {
      heap.push(PairMerge(count: pairCount[s], pair: keys[s], positions: storeList(list)))
    }
  }

  /// Pops entries until one's count is current (stale ones go back with their current count).
  mutating func popCurrent() -> PairMerge? {
    while var top = heap.pop() {
      let current = pairCount[Int(pairIndex.get(UInt32(top.pair >> 32), UInt32(truncatingIfNeeded: top.pair)))]
      if top.count == current { return top }
      top.count = current
      heap.push(top)
    }
    return nil
  }

  /// Merges `top.pair` into `id` in the words of `top`, updating counts, and pushes the pairs
  /// that gained occurrences with the words where they did.
  mutating func merge(_ top: PairMerge, into id: UInt32) {
    let a = UInt32(top.pair >> 32)
    let b = UInt32(truncatingIfNeeded: top.pair)
    let words = positionLists[Int(top.positions)]
    positionLists[Int(top.positions)] = []
    freeLists.append(top.positions)
    var gained: [UInt64: [Int32]] = [:]
    func change(_ x: UInt32, _ y: UInt32, _ delta: Int64, _ w: Int32) {
      let s = slot(x, y)
      pairCount[s] += delta * wordCount[Int(w)]
      if delta > 0 {
        let key = MergeState.key(x, y)
        if gained[key]?.last != w { gained[key, default: []].append(w) }
      }
    }
    for w in words {
      let start = Int(wordStart[Int(w)])
      var n = Int(wordLength[Int(w)])
      var i = start
      while i < start + n {
        if symbols[i] == a && i + 1 < start + n && symbols[i + 1] == b {
          if i > start {
            change(symbols[i - 1], a, -1, w)
            change(symbols[i - 1], id, 1, w)
          }
          symbols[i] = id
          // Remove the second symbol of the pair.
          var j = i + 1
          while j < start + n - 1 {
            symbols[j] = symbols[j + 1]
            j += 1
          }
          n -= 1
          if i < start + n - 1 {
            change(b, symbols[i + 1], -1, w)
            change(id, symbols[i + 1], 1, w)
          }
        }
        i += 1
      }
      wordLength[Int(w)] = Int32(n)
    }
    for (key, list) in gained.sorted(by: { $0.key < $1.key }) {
      let s = Int(pairIndex.get(UInt32(key >> 32), UInt32(truncatingIfNeeded: key)))
      if pairCount[s] > 0 { heap.push(PairMerge(count: pairCount[s], pair: key, positions: storeList(list))) }
    }
  }
}
