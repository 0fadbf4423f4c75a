import Foundation
import Testing
import Tokenizers

/// The built-in encodings, loaded once for all tests.
enum Encodings {
  static let gpt2 = try! Encoding.named("gpt2")
  static let cl100k = try! Encoding.named("cl100k_base")
}

struct OrdinaryVector: Decodable {
  let text: String
  let gpt2: [Int]
  let cl100k: [Int]
}

struct DecodeVector: Decodable {
  let encoding: String
  let ids: [Int]
  let bytes_hex: String
  let text_replace: String
}

@Suite("tiktoken parity (../shared/vectors)", .enabled(if: sharedAvailable, "../shared is absent"))
struct TiktokenParityTests {
  @Test func ordinaryTextMatchesTiktoken() throws {
    let vectors = try readJSONLines(sharedFile("vectors/tiktoken.jsonl"), as: OrdinaryVector.self)
    #expect(vectors.count == 306)
    for v in vectors {
      #expect(Encodings.gpt2.encodeOrdinary(v.text) == v.gpt2, "gpt2: \(v.text.debugDescription)")
      #expect(Encodings.cl100k.encodeOrdinary(v.text) == v.cl100k, "cl100k: \(v.text.debugDescription)")
      // The vectors hold special-token text as plain text, which is what disallowedSpecial: .none does.
      #expect(try Encodings.cl100k.encode(v.text, allowedSpecial: .none, disallowedSpecial: .none) == v.cl100k)
      #expect(try Encodings.gpt2.decode(v.gpt2) == v.text)
      #expect(try Encodings.cl100k.decode(v.cl100k) == v.text)
    }
  }

  @Test func allowedSpecialTokensMatchTiktoken() throws {
    let vectors = try readJSONLines(sharedFile("vectors/tiktoken_special.jsonl"), as: OrdinaryVector.self)
    #expect(vectors.count == 15)
    for v in vectors {
      #expect(try Encodings.gpt2.encode(v.text, allowedSpecial: .all) == v.gpt2, "gpt2: \(v.text.debugDescription)")
      #expect(try Encodings.cl100k.encode(v.text, allowedSpecial: .all) == v.cl100k, "cl100k: \(v.text.debugDescription)")
    }
  }

  @Test func decodeMatchesTiktoken() throws {
    let vectors = try readJSONLines(sharedFile("vectors/decode.jsonl"), as: DecodeVector.self)
    #expect(vectors.count == 19)
    for v in vectors {
      let encoding = v.encoding == "gpt2" ? Encodings.gpt2 : Encodings.cl100k
      let hex = try encoding.decodeBytes(v.ids).map { String(format: "%02x", $0) }.joined()
      #expect(hex == v.bytes_hex, "\(v.ids)")
      #expect(try encoding.decode(v.ids) == v.text_replace, "\(v.ids)")
    }
  }
}
