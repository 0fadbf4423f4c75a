import FileSupport
import ArgumentParser
import Foundation
import Tokenizers

struct TrainTokenizer: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a tokenizer: minbpe byte-level BPE (default), HF-style pipeline (--pipeline hf: BPE, WordPiece, Unigram) or char (--char).",
    discussion: """
      minbpe (--pipeline bpe): the vocabulary size counts the 256 byte tokens, the merges and the \
      special tokens; special tokens get the last ids. Ties between equally frequent pairs go to \
      the pair that occurs first in the corpus (minbpe's rule). Writes PREFIX.model and PREFIX.vocab.

      HF (--pipeline hf): HF tokenizers' BpeTrainer on a normalizer + pre-tokenizer pipeline \
      (default: whitespace-split,punctuation with '##' continuation tokens and a WordPiece \
      decoder; --pre-tokenizer byte-level for GPT-2 style), or with --model unigram HF's \
      UnigramTrainer (NFKC and Metaspace by default, as SentencePiece; --output NAME.model \
      writes a SentencePiece model). The vocabulary size counts special \
      tokens (first ids), the alphabet and the merges. Input files are read line by line as HF \
      does. Writes tokenizer.json (--output NAME.json) or the folder PreTrainedTokenizerFast loads.

      With --char the vocabulary is every character of the input (nanoGPT's char model), written \
      as PREFIX.json.
      """)

  @Option(name: .long, parsing: .upToNextOption, help: "Training text files (UTF-8).")
  var input: [String]

  @Option(help: "Vocabulary size: 256 + merges + special tokens (BPE only).")
  var vocabSize: Int?

  @Flag(help: "Train a character tokenizer instead of BPE.")
  var char = false

  @Flag(help: "With --char: map unknown characters to U+FFFD instead of failing.")
  var unknownToken = false

  @Option(help: "Split pattern: gpt2, gpt4, none (minbpe's BasicTokenizer) or regex:PATTERN.")
  var pattern = PatternArgument(.cl100k)

  @Option(name: .long, parsing: .upToNextOption, help: "Special tokens, e.g. '<|endoftext|>'.")
  var special: [String] = []

  @Option(help: "Trainer: bpe (minbpe, byte-level) or hf (HF tokenizers pipeline).")
  var pipeline: String = "bpe"

  @OptionGroup(title: "HF pipeline (--pipeline hf)") var hf: PipelineOptions

  @Option(help: "Threads for counting words (--pipeline hf).")
  var threads = 2

  @Option(help: "Output: PREFIX (bpe: PREFIX.model and PREFIX.vocab; hf: a folder), or NAME.json (hf: tokenizer.json only).",
          transform: normalizedPath)  // `ko/` wrote the hidden files ko/.model and ko/.vocab
  var output: String

  func validate() throws {
    guard !input.isEmpty else { throw ValidationError("give at least one --input file") }
    if char {
      guard vocabSize == nil, special.isEmpty else {
        throw ValidationError("--char takes its vocabulary from the text: drop --vocab-size and --special")
      }
    } else {
      guard vocabSize != nil else { throw ValidationError("give --vocab-size (or --char for a char tokenizer)") }
      guard !unknownToken else { throw ValidationError("--unknown-token goes with --char") }
    }
    guard ["bpe", "hf"].contains(pipeline) else { throw ValidationError("--pipeline must be bpe or hf") }
    if char && pipeline == "hf" { throw ValidationError("--char and --pipeline hf do not go together") }
    guard ["bpe", "wordpiece", "unigram"].contains(hf.model) else { throw ValidationError("--model must be bpe, wordpiece or unigram") }
    if hf.isUnigram {
      guard hf.shrinkingFactor > 0 && hf.shrinkingFactor < 1 else { throw ValidationError("--shrinking-factor must be between 0 and 1") }
      try requireAtLeast(1, ["--max-piece-length": hf.maxPieceLength, "--sub-iterations": hf.subIterations])
    }
    if let limit = hf.limitAlphabet, limit < 1 { throw ValidationError("--limit-alphabet must be ≥ 1, got \(limit)") }
    // Unknown component names are reported with this command's usage (without --config, building
    // the pipeline reads no file).
    if pipeline == "hf" && hf.config == nil { _ = try hf.base() }
  }

  func run() throws {
    // A file output whose folder is missing is found now, not after the training.
    if char || pipeline == "bpe" || output.hasSuffix(".json") || output.hasSuffix(".model") { try requireFolderOf(output) }
    if char {
      let path = output.hasSuffix(".json") ? output : output + ".json"
      let text = try input.map { try readTextFile($0) }.joined()
      let tokenizer = try CharTokenizer(corpus: text, unknownToken: unknownToken)
      try tokenizer.save(to: path)
      Terminal.error("\(tokenizer.vocabSize) characters; wrote \(path)")
      return
    }
    if pipeline == "hf" { return try trainPipeline() }
    let vocabSize = vocabSize!
    let split = pattern.pattern
    let prefix = output.hasSuffix(".model") ? String(output.dropLast(6)) : output
    let start = Terminal.now()
    var counts = PieceCounts(pattern: split)
    var bytes = 0
    for path in input {
      let text = try readTextFile(path)
      bytes += text.utf8.count
      counts.add(text)
    }
    let counted = Terminal.now()
    var bar = ProgressBar(total: max(0, vocabSize - 256 - special.count), label: "merging", unit: "merges")
    let tokenizer = try RegexTokenizer.train(counts, vocabSize: vocabSize, specialTokens: special) { done, _ in
      bar.update(done)
    }
    bar.finish()
    let trained = Terminal.now()
    try tokenizer.save(prefix: prefix)
    let merges = tokenizer.merges.count
    Terminal.error(String(
      format: "read %.1f MB (%d distinct pieces) in %.2fs; learned %d merges in %.2fs (%.0f merges/s)",
      Double(bytes) / 1e6, counts.distinctPieces, counted - start, merges, trained - counted,
      Double(merges) / max(trained - counted, 1e-9)))
    if merges < vocabSize - 256 - special.count {
      Terminal.error("note: the corpus ran out of pairs; the vocabulary has \(tokenizer.vocabSize) tokens, not \(vocabSize)")
    }
    Terminal.error("wrote \(prefix).model and \(prefix).vocab")
  }

  /// `--pipeline hf`: HF's BpeTrainer on the pipeline the flags describe.
  private func trainPipeline() throws {
    let base = try hf.base()
    let trainer = hf.trainer(vocabSize: vocabSize!, specialTokens: special, for: base)
    let start = Terminal.now()
    var lines: [String] = []
    var bytes = 0
    for path in input {
      let text = try readTextFile(path)
      bytes += text.utf8.count
      lines += linesWithEndings(text)
    }
    let tokenizer: PipelineTokenizer
    if hf.isUnigram {
      let unigram = hf.unigramTrainer(vocabSize: vocabSize!, specialTokens: special, for: base)
      tokenizer = try unigram.train(base, on: lines, threads: threads) { Terminal.error("EM round: \($0) pieces") }
    } else {
      var bar = ProgressBar(total: vocabSize!, label: "merging", unit: "merges")
      tokenizer = hf.model == "wordpiece"
        ? try trainer.trainWordPiece(base, on: lines, threads: threads) { bar.update($0) }
        : try trainer.train(base, on: lines, threads: threads) { bar.update($0) }
      bar.finish()
    }
    let trained = Terminal.now()
    if output.hasSuffix(".json") {
      try tokenizer.save(to: output)
    } else if output.hasSuffix(".model") {
      guard hf.isUnigram else { throw ValidationError("a .model output (SentencePiece) needs --model unigram") }
      try SentencePieceTokenizer(unigram: tokenizer).save(to: output)
    } else {
      try tokenizer.saveFolder(to: output)
    }
    Terminal.error(String(
      format: "read %.1f MB and trained %d tokens in %.2fs", Double(bytes) / 1e6, tokenizer.vocabSize, trained - start))
    if tokenizer.vocabSize < vocabSize! {
      Terminal.error("note: the corpus is too small for the vocabulary; it has \(tokenizer.vocabSize) tokens, not \(vocabSize!)")
    } else if tokenizer.vocabSize > vocabSize! {
      Terminal.error("note: the corpus's alphabet alone (every character, with its continuing-subword form where the model has "
        + "one) takes more than \(vocabSize!) tokens; the vocabulary has \(tokenizer.vocabSize)")
    }
    Terminal.error("wrote \(output.hasSuffix(".json") || output.hasSuffix(".model") ? output : output + "/tokenizer.json, tokenizer_config.json, special_tokens_map.json")")
  }
}
