import Foundation
import Testing
import Tokenizers

/// `.model` files trained by the `sentencepiece` package and its encodings and decodings,
/// recorded by `scripts/sentencepiece_fixtures.py` (Unigram and BPE, byte fallback or the
/// unknown piece, nmt_nfkc / nfkc / identity normalization, user-defined and control pieces).
@Suite("SentencePiece parity (Tests/Fixtures/sentencepiece)")
struct SentencePieceTests {
  struct Row: Decodable {
    let text: String
    let ids: [Int]
    let pieces: [String]
    let decoded: String
  }
  struct Decoding: Decodable {
    let ids: [Int]
    let decoded: String
  }
  struct Record: Decodable {
    let name: String
    let rows: [Row]
    let decode: [Decoding]
    let vocab_size: Int
    let long_count: Int
    let long_hash: String
  }

  static let directory = fixturesDirectory.appendingPathComponent("sentencepiece")
  static let records: [Record] = try! JSONDecoder().decode(
    [Record].self, from: Data(contentsOf: directory.appendingPathComponent("sentencepiece.json")))

  @Test(arguments: ["unigram_bytefallback", "bpe_bytefallback", "unigram_identity", "bpe_nfkc_unk"])
  func encodesAndDecodesAsSentencePiece(_ name: String) throws {
    let record = try #require(Self.records.first { $0.name == name })
    let tokenizer = try SentencePieceTokenizer(file: Self.directory.appendingPathComponent(name + ".model").path)
    #expect(tokenizer.vocabSize == record.vocab_size)
    #expect(record.rows.count == 35)
    for row in record.rows {
      let pieces = tokenizer.encodePieces(row.text)
      #expect(pieces.map(\.id) == row.ids, "\(name): \(row.text.debugDescription)")
      #expect(pieces.map(\.piece) == row.pieces, "\(name): pieces of \(row.text.debugDescription)")
      #expect(try tokenizer.decode(row.ids) == row.decoded, "\(name): decode \(row.ids)")
    }
    for d in record.decode { #expect(try tokenizer.decode(d.ids) == d.decoded, "\(name): decode \(d.ids)") }
  }

  /// The fixture corpus four times over as one text (the fixture script's `long_text`).
  static let longText = String(repeating: UnigramTrainerTests.lines
    .filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }.joined(separator: " ") + " ", count: 4)

  /// `h = h × 1000003 + id + 1` over the ids, wrapping (the fixture script's `ids_hash`).
  static func idsHash(_ ids: [Int]) -> UInt64 {
    ids.reduce(0) { h, id in h &* 1_000_003 &+ UInt64(id + 1) }
  }

  /// A 236k-character text is one sentence to SentencePiece. BPE merged it by rescanning every
  /// pair after each merge (quadratic: a 1.5 MB document took minutes); it now keeps a heap as
  /// the library does. Encoded as the library encodes it, and in seconds even in a debug build.
  @Test(arguments: ["unigram_bytefallback", "bpe_bytefallback", "unigram_identity", "bpe_nfkc_unk"])
  func longTextsEncodeAsTheLibraryInLinearishTime(_ name: String) throws {
    let record = try #require(Self.records.first { $0.name == name })
    let tokenizer = try SentencePieceTokenizer(file: Self.directory.appendingPathComponent(name + ".model").path)
    #expect(Self.longText.count == 235_056)
    let clock = ContinuousClock()
    var ids: [Int] = []
    let elapsed = try clock.measure { ids = try tokenizer.encode(Self.longText) }
    #expect(ids.count == record.long_count)
    #expect(String(Self.idsHash(ids)) == record.long_hash)
    #expect(elapsed < .seconds(10), "\(name): \(elapsed)")
  }

  struct TieCase: Decodable {
    let xs: Int
    let tail: String
    let count: Int
    let last: [String]
  }

  /// The library's own Unigram arithmetic (float sums, rebased past ±1e5, the user-defined
  /// bonus), on a hand-made model whose near ties exact sums break the other way
  /// (`float_ties.json`, recorded from the `sentencepiece` package).
  @Test func nearTiesBreakAsTheLibraryBreaksThem() throws {
    let tokenizer = try SentencePieceTokenizer(file: Self.directory.appendingPathComponent("float_ties.model").path)
    let cases = try JSONDecoder().decode(
      [TieCase].self, from: Data(contentsOf: Self.directory.appendingPathComponent("float_ties.json")))
    #expect(cases.count == 6)
    for c in cases {
      let pieces = tokenizer.encodePieces(String(repeating: "x", count: c.xs) + c.tail).map(\.piece)
      #expect(pieces.count == c.count && Array(pieces.suffix(4)) == c.last, "\(c.xs) x's + \(c.tail)")
    }
  }

  @Test func writtenModelReadsBackTheSame() throws {
    let path = Self.directory.appendingPathComponent("bpe_bytefallback.model").path
    let tokenizer = try SentencePieceTokenizer(file: path)
    let copy = FileManager.default.temporaryDirectory.appendingPathComponent("swiftgpt-sp-\(UUID()).model").path
    defer { try? FileManager.default.removeItem(atPath: copy) }
    try tokenizer.save(to: copy)
    let reread = try SentencePieceTokenizer(file: copy)
    #expect(reread.pieces == tokenizer.pieces)
    // Every field is kept, those SwiftGPT does not know included.
    #expect(try Data(contentsOf: URL(fileURLWithPath: copy)).count == Data(contentsOf: URL(fileURLWithPath: path)).count)
    let text = "대한민국은 민주공화국이다. Hello 😀"
    #expect(try reread.encode(text) == tokenizer.encode(text))
  }

  /// A Unigram pipeline trained here, written as a `.model` (NFKC as precompiled rules): read
  /// back with SentencePiece's rules it encodes as the pipeline does. (Text that starts with a
  /// space differs: SentencePiece always adds its dummy prefix, HF's Metaspace only before a
  /// non-space.) Tests/BlackBox/sentencepiece_blackbox.py checks the same with `sentencepiece`.
  @Test func aTrainedUnigramPipelineWritesAModelThatEncodesTheSame() throws {
    let lines = UnigramTrainerTests.lines
    let pipeline = try UnigramTrainer(vocabSize: 800, unknownToken: "<unk>").train(UnigramTrainerTests.base(), on: lines)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftgpt-unigram-\(UUID()).model").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try SentencePieceTokenizer(unigram: pipeline).save(to: path)
    let model = try SentencePieceTokenizer(file: path)
    #expect(model.vocabSize == 800 && model.unknownId == 0)
    let texts = lines.filter { !$0.isEmpty && !$0.hasPrefix(" ") } + ["ＡＢＣ ﬁ ㄱㅏ ①② Ⅻ café e\u{301} ㈜ ㎏ 😀", "tab\there  two  spaces"]
    for text in texts { #expect(try model.encode(text) == pipeline.encode(text), "\(text.debugDescription)") }
    var bpe = pipeline
    bpe.model = PipelineBPE.empty
    #expect(throws: TokenizerError.self) { try SentencePieceTokenizer(unigram: bpe) }
  }

  /// A text that is both a reserved (control) piece and a vocabulary piece is refused, as the
  /// library refuses it ("ab is already defined"); encoding relies on it.
  @Test func aTextDefinedTwiceIsAnError() throws {
    let path = Self.directory.appendingPathComponent("defined_twice.model").path
    #expect { try SentencePieceTokenizer(file: path) } throws: { "\($0)".contains("\"ab\" appears twice") }
  }

  @Test func aFileThatIsNoModelIsAnError() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftgpt-bad-\(UUID()).model").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Data("not a protobuf at all".utf8).write(to: URL(fileURLWithPath: path))
    #expect(throws: TokenizerError.self) { try SentencePieceTokenizer(file: path) }
  }
}
