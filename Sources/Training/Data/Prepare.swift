import FileSupport
import Foundation
import Inference
import Models
import TensorEngine
import Tokenizers

extension DatasetMeta {
  /// The meta of a folder without `meta.json` (nanoGPT's `train.bin`/`val.bin`, whose
  /// `meta.pkl` is a Python pickle): the vocabulary is GPT-2's when the ids go past 255 and
  /// fit it (nanoGPT's default without meta.pkl), else the largest id + 1 with no tokenizer.
  public init(inferringFrom folder: String) throws(TrainingError) {
    let train = try TokenDataset(folder: folder, split: "train")
    let val = try? TokenDataset(folder: folder, split: "val")
    let top = Int(max(train.maxTokenID(), val?.maxTokenID() ?? -1))
    let gpt2 = top >= 256 && top < 50_257
    self.init(vocabSize: gpt2 ? 50_257 : top + 1, tokenizer: gpt2 ? "gpt2" : "", trainTokens: train.count,
              valTokens: val?.count ?? 0, tokenBytes: train.shards[0].tokenWidth, endOfText: gpt2 ? 50_256 : nil)
  }
}

/// Tokenizes text files into train/val token shards (llm.c format) plus `meta.json` and the
/// tokenizer, as nanoGPT's `prepare.py` does, but streaming and multi-threaded: the input is
/// read in blocks cut at places where splitting cannot change the tokens, blocks are encoded in
/// parallel, and tokens are written as they come, so memory stays a few blocks per thread.
///
/// The last `valFraction` of the bytes (over all inputs, in order) is the validation split.
public struct DatasetPreparer {
  public var inputs: [String]
  /// `char` (a character vocabulary built from the inputs), a built-in encoding name, or a
  /// tokenizer file (`.model`, `.json`, `.tiktoken`).
  public var tokenizerSpec: String
  public var valFraction = 0.1
  public var output: String
  /// Tokens per shard file (llm.c's FineWeb shards hold 100M).
  public var shardTokens = 100_000_000
  public var threads = Parallel.threads
  /// Bytes per block handed to one thread.
  public var blockBytes = 1 << 22

  public init(inputs: [String], tokenizer: String, output: String) {
    self.inputs = inputs
    self.tokenizerSpec = tokenizer
    self.output = output
  }

  /// Runs the preparation; `progress(bytesDone, bytesTotal)` is called after each round of blocks.
  public func run(progress: (Int, Int) -> Void = { _, _ in }) throws -> DatasetMeta {
    guard !inputs.isEmpty else { throw TrainingError.invalidOption("give at least one --input file") }
    guard valFraction >= 0, valFraction < 1 else { throw TrainingError.invalidOption("--val-fraction must be in [0, 1), got \(valFraction)") }
    var sizes: [Int] = []
    for path in inputs {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
        let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int
      else { throw TrainingError.file(.unreadable(path: path, reason: unreadableReason(path))) }
      sizes.append(size)
    }
    let totalBytes = sizes.reduce(0, +)
    guard totalBytes > 0 else { throw TrainingError.invalidData("the input files are empty") }
    let output = normalizedPath(self.output)
    let lock = try FolderLock(output)
    var succeeded = false
    defer { lock.release(succeeded: succeeded) }
    // Token files that `swiftgpt prepare` did not name would be read together with the new shards.
    let foreign = (TokenDataset.fileNames(in: output, split: "train") + TokenDataset.fileNames(in: output, split: "val"))
      .filter { !Self.isShard($0) }
    guard foreign.isEmpty else {
      throw TrainingError.invalidOption("\(output) holds other token files (\(foreign.joined(separator: ", "))) that training "
        + "would read with the new shards; move them away or choose another --output")
    }
    // Everything is written into a staging folder inside `output`, then moved into place: a
    // failed run leaves an earlier dataset as it was, and a smaller one leaves no stale shards.
    let staging = output + "/.prepare.tmp"
    try? FileManager.default.removeItem(atPath: staging)
    try fileAccess(TrainingError.file) { () throws(FileError) in try createFolder(staging) }
    defer { try? FileManager.default.removeItem(atPath: staging) }

    let isChar = tokenizerSpec == "char"
    let (tokenizer, tokenizerName) = try openTokenizer(isChar: isChar, into: staging)
    let eot = tokenizer.specialTokens.ids["<|endoftext|>"]
    let width = tokenizer.vocabSize > 65_536 ? 4 : 2
    let splitByte = Int(Double(totalBytes) * (1 - valFraction))  // nanoGPT: int(n * 0.9)
    var train = ShardSequence(folder: staging, split: "train", width: width, shardTokens: shardTokens)
    var val = ShardSequence(folder: staging, split: "val", width: width, shardTokens: shardTokens)
    do {
      var done = 0
      var reader = BlockReader(files: inputs, blockBytes: blockBytes, splitByte: splitByte, safeCut: isChar ? .anyCharacter : .pieceBoundary)
      while true {
        var blocks: [Block] = []
        while blocks.count < 2 * max(1, threads), let block = try reader.next() { blocks.append(block) }
        if blocks.isEmpty { break }
        var results = [Result<[Int], any Error>](repeating: .success([]), count: blocks.count)
        results.withUnsafeMutableBufferPointer { out in
          let shared = UncheckedSendable(out.baseAddress!)
          Parallel.forEach(blocks.count, threads: threads) { i in
            // Special-token text is plain text, as in llm.c's data scripts (`encodeOrdinary`).
            shared.value[i] = Result { try tokenizer.encodeOrdinary(String(decoding: blocks[i].bytes, as: UTF8.self)) }
          }
        }
        for (block, result) in zip(blocks, results) {
          let tokens = try result.get()
          let document = block.startsDocument ? eot.map { [$0] } ?? [] : []
          if block.isVal { try val.append((document + tokens)[...]) } else { try train.append((document + tokens)[...]) }
          done += block.bytes.count
        }
        progress(done, totalBytes)
      }
      try train.finish()
      try val.finish()
    } catch {
      train.abandon()
      val.abandon()
      throw error
    }
    guard train.total > 0 else { throw TrainingError.invalidData("the training split has no tokens") }
    let meta = DatasetMeta(vocabSize: tokenizer.vocabSize, tokenizer: tokenizerName, trainTokens: train.total,
                           valTokens: val.total, tokenBytes: width, endOfText: eot)
    try meta.write(folder: staging)
    try install(staging, into: output)
    succeeded = true
    return meta
  }

  /// Whether `name` is a shard as `prepare` names them: `train_000000.bin`, `val_000012.bin`.
  static func isShard(_ name: String) -> Bool {
    name.wholeMatch(of: /(train|val)_[0-9]{6}\.bin/) != nil
  }

  /// Moves the files of `staging` into `output` and removes the shards of an earlier run that
  /// the new one did not replace. `meta.json` goes first and comes back last: a run killed in
  /// between leaves shards without a `meta.json`, which `PreparedDataset` refuses, and never new
  /// shards under the old `meta.json`.
  private func install(_ staging: String, into output: String) throws {
    let fm = FileManager.default
    let meta = output + "/meta.json"
    if fm.fileExists(atPath: meta) { try fm.removeItem(atPath: meta) }
    let staged = Set(try fm.contentsOfDirectory(atPath: staging))
    for name in staged where name != "meta.json" { try renameReplacing(staging + "/" + name, output + "/" + name) }
    for name in try fm.contentsOfDirectory(atPath: output) where Self.isShard(name) && !staged.contains(name) {
      try fm.removeItem(atPath: output + "/" + name)
    }
    try renameReplacing(staging + "/meta.json", meta)
  }

  /// The tokenizer, and how `meta.json` names it (copied into the output folder unless built in).
  private func openTokenizer(isChar: Bool, into folder: String) throws -> (any Tokenizer, String) {
    if isChar {
      var alphabet = Set<Unicode.Scalar>()
      var reader = BlockReader(files: inputs, blockBytes: blockBytes, splitByte: Int.max, safeCut: .anyCharacter)
      while let block = try reader.next() { alphabet.formUnion(String(decoding: block.bytes, as: UTF8.self).unicodeScalars) }
      let tokenizer = try CharTokenizer(alphabet: alphabet)
      try tokenizer.save(to: folder + "/char_tokenizer.json")
      return (tokenizer, "char_tokenizer.json")
    }
    let tokenizer = try loadTokenizer(tokenizerSpec)
    if Encoding.names.contains(tokenizerSpec) { return (tokenizer, tokenizerSpec) }
    let name = "tokenizer." + (tokenizerSpec as NSString).pathExtension
    let data = try readFile(tokenizerSpec)
    try writeAtomically(data, to: folder + "/" + name)
    if tokenizerSpec.hasSuffix(".model") {  // minbpe keeps a readable .vocab beside the .model
      let vocab = String(tokenizerSpec.dropLast(".model".count)) + ".vocab"
      if let data = FileManager.default.contents(atPath: vocab) { try writeAtomically(data, to: folder + "/tokenizer.vocab") }
    }
    return (tokenizer, name)
  }
}

/// A block of input bytes for one thread.
private struct Block {
  var bytes: [UInt8]
  var isVal: Bool
  var startsDocument: Bool
}

/// Where a block may end without changing the tokens of the text around the cut.
private enum SafeCut {
  /// Between any two characters (character tokenizers).
  case anyCharacter
  /// Where the GPT-2 and cl100k split patterns end a piece whatever comes next: after a newline
  /// followed by a non-space character, else before a space that follows a character other than
  /// whitespace (no piece runs from a non-space across a space). A block with neither is not
  /// cut: it grows until one comes, or the file ends.
  case pieceBoundary
}

/// Reads the input files in order as blocks of about `blockBytes`, cut at safe places, with the
/// blocks from `splitByte` on (over all files) marked as validation.
private struct BlockReader {
  let files: [String]
  let blockBytes: Int
  let splitByte: Int
  let safeCut: SafeCut
  private var fileIndex = -1
  private var handle: FileHandle?
  private var pending: [UInt8] = []
  private var pendingStart = 0  // global offset of pending[0]
  private var atEOF = true
  private var documentStart = false

  init(files: [String], blockBytes: Int, splitByte: Int, safeCut: SafeCut) {
    (self.files, self.blockBytes, self.splitByte, self.safeCut) = (files, blockBytes, splitByte, safeCut)
  }

  mutating func next() throws -> Block? {
    var wanted = blockBytes  // grows while no safe cut is found
    while true {
      if pending.count < wanted && !atEOF, let handle {
        let data = handle.readData(ofLength: blockBytes)
        if data.isEmpty { atEOF = true } else { pending.append(contentsOf: data) }
        continue
      }
      if pending.isEmpty {
        guard try openNextFile() else { return nil }
        continue
      }
      // Cut at the split point if it falls inside, else near the block size (or at the end of the file).
      let splitLocal = splitByte - pendingStart
      let found: Int?
      if splitLocal > 0, splitLocal < pending.count, splitLocal <= wanted {
        found = safeCutIndex(atOrAfter: splitLocal)
      } else if pending.count <= wanted && atEOF {
        found = pending.count
      } else {
        found = safeCutIndex(before: min(wanted, pending.count))
      }
      guard let cut = found ?? (atEOF && pending.count <= wanted ? pending.count : nil) else {
        wanted += blockBytes
        continue
      }
      let block = Block(bytes: Array(pending[..<cut]), isVal: pendingStart >= splitByte, startsDocument: documentStart)
      // Cuts fall between characters, so a block of valid text is valid UTF-8 on its own.
      guard String(validating: block.bytes, as: UTF8.self) != nil else {
        throw TrainingError.file(.unreadable(path: files[fileIndex], reason: "not valid UTF-8 text"))
      }
      documentStart = false
      pending.removeFirst(cut)
      pendingStart += cut
      return block
    }
  }

  private mutating func openNextFile() throws(TrainingError) -> Bool {
    try? handle?.close()
    fileIndex += 1
    guard fileIndex < files.count else { handle = nil; return false }
    guard let h = FileHandle(forReadingAtPath: files[fileIndex]) else {
      throw .file(.unreadable(path: files[fileIndex], reason: "permission denied"))
    }
    handle = h
    atEOF = false
    documentStart = true
    return true
  }

  /// Whether a cut before byte `i` falls between characters.
  private func isCharacterBoundary(_ i: Int) -> Bool { i > 0 && i < pending.count && pending[i] & 0xC0 != 0x80 }

  /// A cut before byte `i` at the start of a line: after "\n", before a character other than
  /// whitespace.
  private func isLineStart(_ i: Int) -> Bool {
    guard i > 0, i < pending.count, pending[i - 1] == 0x0A else { return false }
    let next = pending[i]
    return next != 0x20 && next != 0x0A && next != 0x0D && next != 0x09 && next & 0xC0 != 0x80
  }

  /// A cut before byte `i` that is a space following a character that is not whitespace.
  private func isWordStart(_ i: Int) -> Bool {
    guard i > 0, i < pending.count, pending[i] == 0x20 else { return false }
    var start = i - 1
    while start > 0 && i - start < 4 && pending[start] & 0xC0 == 0x80 { start -= 1 }
    guard let previous = String(validating: pending[start..<i], as: UTF8.self)?.unicodeScalars.first else { return false }
    return !previous.properties.isWhitespace
  }

  /// The best safe cut in `candidates` (searched in order): any character boundary, or a line
  /// start, else a word start, for BPE.
  private func firstCut(in candidates: some Sequence<Int>) -> Int? {
    switch safeCut {
    case .anyCharacter: return candidates.first(where: isCharacterBoundary)
    case .pieceBoundary: return candidates.first(where: isLineStart) ?? candidates.first(where: isWordStart)
    }
  }

  /// The last safe cut at or before `limit`, searching back to half of it.
  private func safeCutIndex(before limit: Int) -> Int? {
    firstCut(in: stride(from: limit, to: limit / 2, by: -1))
  }

  /// The first safe cut at or after `start`.
  private func safeCutIndex(atOrAfter start: Int) -> Int? {
    firstCut(in: start..<pending.count)
  }
}

/// The shards of one split, written in order, a new file every `shardTokens` tokens.
private struct ShardSequence {
  let folder: String, split: String, width: Int, shardTokens: Int
  private var writer: TokenShardWriter?
  private var index = 0
  private(set) var total = 0

  init(folder: String, split: String, width: Int, shardTokens: Int) {
    (self.folder, self.split, self.width, self.shardTokens) = (folder, split, width, shardTokens)
  }

  mutating func append(_ tokens: ArraySlice<Int>) throws(TrainingError) {
    var rest = tokens
    while !rest.isEmpty {
      if writer == nil {
        writer = try TokenShardWriter(path: folder + "/" + String(format: "%@_%06d.bin", split, index), tokenWidth: width)
        index += 1
      }
      let take = min(rest.count, shardTokens - writer!.count)
      try writer!.append(rest.prefix(take))
      total += take
      rest = rest.dropFirst(take)
      if writer!.count == shardTokens { try writer!.finish(); writer = nil }
    }
  }

  /// Closes the last shard; a split with no tokens at all still gets one (empty) shard.
  mutating func finish() throws(TrainingError) {
    if writer == nil && index == 0 {
      writer = try TokenShardWriter(path: folder + "/\(split)_000000.bin", tokenWidth: width)
      index = 1
    }
    try writer?.finish()
    writer = nil
  }

  func abandon() { writer?.abandon() }
}
