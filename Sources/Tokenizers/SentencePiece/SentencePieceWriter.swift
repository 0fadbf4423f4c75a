import Foundation

extension SentencePieceTokenizer {
  /// The SentencePiece model of a trained Unigram pipeline (`UnigramTrainer` with a Metaspace
  /// pre-tokenizer and NFKC or no normalizer), so that the `sentencepiece` library loads it and
  /// encodes as the pipeline does: the unknown token is SentencePiece's unknown piece, other
  /// special tokens are control pieces, NFKC is written as the normalization rules SentencePiece
  /// applies (every character NFKC changes, the canonical compositions and the Hangul jamo
  /// sequences).
  public init(unigram pipeline: PipelineTokenizer) throws(TokenizerError) {
    guard let model = pipeline.model as? UnigramModel else {
      throw .invalidJSON(field: "model", reason: "only a Unigram model can be written as a SentencePiece model")
    }
    guard case .metaspace(let metaspace)? = pipeline.preTokenizer, metaspace.replacement == "▁" else {
      throw .invalidJSON(field: "pre_tokenizer", reason: "a SentencePiece model splits on spaces written as ▁: use the Metaspace pre-tokenizer")
    }
    var normalizer = Sentencepiece_NormalizerSpec()
    switch pipeline.normalizer {
    case nil:
      normalizer.name = "identity"
    case .nfkc?:
      normalizer.name = "nfkc"
      normalizer.precompiledCharsmap = Data(try nfkcCharsMap())
    default:
      throw .invalidJSON(field: "normalizer", reason: "SentencePiece models are written with NFKC or no normalizer")
    }
    normalizer.addDummyPrefix = metaspace.prependScheme != "never"
    normalizer.removeExtraWhitespaces = false
    normalizer.escapeWhitespaces = true
    var proto = Sentencepiece_ModelProto()
    let special = Set(pipeline.addedTokens.filter(\.special).map(\.id))
    for id in 0..<model.vocab.size {
      guard let token = model.vocab.token(id) else {
        throw .invalidJSON(field: "model.vocab", reason: "id \(id) has no piece; SentencePiece ids are dense")
      }
      var piece = Sentencepiece_ModelProto.SentencePiece()
      piece.piece = token
      piece.score = Float(model.scores[id])
      piece.type = id == model.unknownId ? .unknown : special.contains(id) ? .control
        : model.byteFallback && pieceByte(token) != nil ? .byte : .normal
      proto.pieces.append(piece)
    }
    var trainer = Sentencepiece_TrainerSpec()
    trainer.modelType = .unigram
    trainer.vocabSize = Int32(model.vocab.size)
    trainer.byteFallback = model.byteFallback
    trainer.unkID = Int32(model.unknownId ?? -1)
    func controlId(_ name: String) -> Int32 {
      pipeline.addedTokens.first { $0.special && $0.content == name }.map { Int32($0.id) } ?? -1
    }
    trainer.bosID = controlId("<s>")
    trainer.eosID = controlId("</s>")
    trainer.padID = controlId("<pad>")
    proto.trainerSpec = trainer
    proto.normalizerSpec = normalizer
    try self.init(proto: proto)
  }
}

/// The NFKC rules as SentencePiece's precompiled charsmap: every character NFKC changes, the
/// canonical decompositions that compose, and the Hangul jamo sequences that make a syllable,
/// each mapped to its NFKC form.
func nfkcCharsMap() throws(TokenizerError) -> [UInt8] {
  var keys: [String: String] = [:]
  func add(_ key: String) {
    let value = Normalizer.nfkc.normalize(key)
    if !value.utf8.elementsEqual(key.utf8) && !value.isEmpty { keys[key] = value }
  }
  for v in UInt32(0xA0)...0x10FFFF {
    guard let s = Unicode.Scalar(v) else { continue }
    switch s.properties.generalCategory {
    case .unassigned, .privateUse, .surrogate: continue
    default: break
    }
    // Blocks NFKC leaves as they are: Hangul syllables, CJK ideographs (not the compatibility ones).
    if (0xAC00...0xD7A3).contains(v) || (0x3400...0x9FFF).contains(v) || (0x20000...0x2F7FF).contains(v) || (0x30000...0x3FFFF).contains(v) {
      continue
    }
    add(String(s))
    let decomposed = String(s).decomposedStringWithCanonicalMapping
    if decomposed.unicodeScalars.count > 1 { add(decomposed) }
  }
  // Conjoining jamo (L V, L V T) and compatibility jamo (consonant vowel) that compose.
  for l in UInt32(0x1100)...0x1112 {
    for v in UInt32(0x1161)...0x1175 {
      let lv = String(Unicode.Scalar(l)!) + String(Unicode.Scalar(v)!)
      add(lv)
      for t in UInt32(0x11A8)...0x11C2 { add(lv + String(Unicode.Scalar(t)!)) }
    }
  }
  for c in UInt32(0x3131)...0x314E {
    for v in UInt32(0x314F)...0x3163 { add(String(Unicode.Scalar(c)!) + String(Unicode.Scalar(v)!)) }
  }
  // <trie size><double-array units><"\0"-terminated replacements>
  var pool: [UInt8] = []
  var offsets: [String: UInt32] = [:]
  var entries: [([UInt8], UInt32)] = []
  for key in keys.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
    let value = keys[key]!
    let offset = offsets[value] ?? {
      let o = UInt32(pool.count)
      pool += value.utf8
      pool.append(0)
      offsets[value] = o
      return o
    }()
    entries.append((Array(key.utf8), offset))
  }
  let units = try DoubleArray(entries).units
  var blob: [UInt8] = []
  func append(_ v: UInt32) { for k in 0..<4 { blob.append(UInt8(truncatingIfNeeded: v >> (8 * k))) } }
  append(UInt32(units.count * 4))
  for u in units { append(u) }
  return blob + pool
}

