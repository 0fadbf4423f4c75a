import ArgumentParser
import Foundation
import Tokenizers

/// The pipeline a `--pipeline hf` tokenizer is trained with: HF `tokenizers` components by
/// name, or the components of an existing tokenizer.json (`--config`).
struct PipelineOptions: ParsableArguments {
  @Option(help: "tokenizer.json whose normalizer, pre-tokenizer, post-processor and decoder to use (--pipeline hf).")
  var config: String?

  @Option(help: """
    Normalizers, comma-separated: nfc, nfd, nfkc, nfkd, lowercase, strip, strip-accents (--pipeline hf; \
    default: none, nfkc for unigram).
    """)
  var normalizer: String?

  @Option(help: """
    Pre-tokenizers, comma-separated: whitespace-split, whitespace, punctuation, digits, byte-level, \
    metaspace, bert (--pipeline hf; default: whitespace-split,punctuation, metaspace for unigram).
    """)
  var preTokenizer: String?

  @Option(help: """
    Model to train: bpe, wordpiece (HF's WordPieceTrainer: BPE with '##', then WordPiece) or unigram \
    (HF's UnigramTrainer, as SentencePiece) (--pipeline hf).
    """)
  var model: String = "bpe"

  @Option(help: "Prefix of word-continuing tokens, e.g. '##' (--pipeline hf; '' for none).")
  var prefix: String = "##"

  @Option(help: "Suffix of word-final tokens, e.g. '</w>' (--pipeline hf).")
  var suffix: String?

  @Option(help: "Drop pairs seen fewer times than this (--pipeline hf).")
  var minFrequency = 0

  @Option(help: "Keep at most this many characters in the alphabet (--pipeline hf).")
  var limitAlphabet: Int?

  @Option(help: "Unigram: the unknown token (first id; '' for none).")
  var unkToken = "<unk>"

  @Option(help: "Unigram: the share of pieces each pruning round keeps.")
  var shrinkingFactor = 0.75

  @Option(help: "Unigram: the longest piece, in characters.")
  var maxPieceLength = 16

  @Option(help: "Unigram: EM rounds between prunings.")
  var subIterations = 2

  var isUnigram: Bool { model == "unigram" }

  /// The untrained pipeline: components from --config or from the flags. The decoder follows
  /// the pre-tokenizer (byte-level, metaspace) or the prefix / suffix (WordPiece, BPE).
  func base() throws -> PipelineTokenizer {
    if let config {
      var tokenizer = try PipelineTokenizer(file: config)
      tokenizer.model = PipelineBPE.empty
      return tokenizer
    }
    var normalizers: [Normalizer] = []
    for name in list(normalizer ?? (isUnigram ? "nfkc" : "")) {
      switch name {
      case "nfc": normalizers.append(.nfc)
      case "nfd": normalizers.append(.nfd)
      case "nfkc": normalizers.append(.nfkc)
      case "nfkd": normalizers.append(.nfkd)
      case "lowercase": normalizers.append(.lowercase)
      case "strip": normalizers.append(.strip(left: true, right: true))
      case "strip-accents": normalizers.append(.stripAccents)
      default: throw ValidationError("unknown normalizer '\(name)'; known: nfc, nfd, nfkc, nfkd, lowercase, strip, strip-accents")
      }
    }
    var preTokenizers: [PreTokenizer] = []
    var decoder: Decoder?
    for name in list(preTokenizer ?? (isUnigram ? "metaspace" : "whitespace-split,punctuation")) {
      switch name {
      case "whitespace-split": preTokenizers.append(.whitespaceSplit)
      case "whitespace": preTokenizers.append(.whitespace)
      case "punctuation": preTokenizers.append(.punctuation(.isolated))
      case "digits": preTokenizers.append(.digits(individual: true))
      case "bert": preTokenizers.append(.bert)
      case "byte-level":
        preTokenizers.append(.byteLevel(ByteLevelOptions(addPrefixSpace: false)))
        decoder = .byteLevel(ByteLevelOptions())
      case "metaspace":
        preTokenizers.append(.metaspace(MetaspaceOptions()))
        decoder = .metaspace(MetaspaceOptions())
      default:
        throw ValidationError(
          "unknown pre-tokenizer '\(name)'; known: whitespace-split, whitespace, punctuation, digits, byte-level, metaspace, bert")
      }
    }
    if decoder == nil, !prefix.isEmpty, !isUnigram { decoder = .wordPiece(prefix: prefix, cleanup: true) }
    if decoder == nil, let suffix { decoder = .bpe(suffix: suffix) }
    return PipelineTokenizer(
      normalizer: normalizers.isEmpty ? nil : normalizers.count == 1 ? normalizers[0] : .sequence(normalizers),
      preTokenizer: preTokenizers.isEmpty ? nil : preTokenizers.count == 1 ? preTokenizers[0] : .sequence(preTokenizers),
      model: PipelineBPE.empty, decoder: decoder)
  }

  /// The trainer for `base`: a byte-level pipeline starts from the 256 byte characters and
  /// takes no prefix.
  func trainer(vocabSize: Int, specialTokens: [String], for base: PipelineTokenizer) -> PipelineBPETrainer {
    let byteLevel = base.preTokenizer?.isByteLevel ?? false
    return PipelineBPETrainer(
      vocabSize: vocabSize, minFrequency: minFrequency, specialTokens: specialTokens, limitAlphabet: limitAlphabet,
      initialAlphabet: byteLevel ? PreTokenizer.byteLevelAlphabet : [],
      continuingSubwordPrefix: prefix.isEmpty || byteLevel ? nil : prefix, endOfWordSuffix: suffix)
  }

  /// The Unigram trainer for `base` (a byte-level pipeline keeps the 256 byte characters).
  func unigramTrainer(vocabSize: Int, specialTokens: [String], for base: PipelineTokenizer) -> UnigramTrainer {
    UnigramTrainer(
      vocabSize: vocabSize, specialTokens: specialTokens, unknownToken: unkToken.isEmpty ? nil : unkToken,
      shrinkingFactor: shrinkingFactor, maxPieceLength: maxPieceLength, subIterations: subIterations,
      initialAlphabet: base.preTokenizer?.isByteLevel ?? false ? PreTokenizer.byteLevelAlphabet : [])
  }

  private func list(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
  }
}

/// The lines of a file with their line endings, as HF `tokenizers` feeds files to a trainer.
func linesWithEndings(_ text: String) -> [String] {
  var lines: [String] = []
  var current = text.utf8.startIndex
  let utf8 = text.utf8
  while current < utf8.endIndex {
    let end = utf8[current...].firstIndex(of: 0x0A).map { utf8.index(after: $0) } ?? utf8.endIndex
    lines.append(String(text[current..<end]))
    current = end
  }
  return lines
}
