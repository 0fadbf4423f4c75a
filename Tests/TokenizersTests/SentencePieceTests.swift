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

  @Test func aFileThatIsNoModelIsAnError() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftgpt-bad-\(UUID()).model").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Data("not a protobuf at all".utf8).write(to: URL(fileURLWithPath: path))
    #expect(throws: TokenizerError.self) { try SentencePieceTokenizer(file: path) }
  }
}
