import Foundation
import Testing
import Tokenizers

struct HFVector: Decodable {
  let text: String
  let ids: [Int]
  let tokens: [String]
  let ids_no_special: [Int]
  let decoded: String
  let decoded_keep_special: String
  let pre_tokens: [String]
  let normalized: String?
}

@Suite("HF tokenizers parity (../shared/vectors/hf_*)", .enabled(if: sharedAvailable, "../shared is absent"))
struct PipelineParityTests {
  @Test(arguments: ["seed", "full"])
  func encodesAndDecodesLikeHF(_ name: String) throws {
    let tokenizer = try PipelineTokenizer(file: sharedFile("vectors/hf_\(name)_tokenizer.json").path)
    let vectors = try readJSONLines(sharedFile("vectors/hf_\(name)_vectors.jsonl"), as: HFVector.self)
    #expect(vectors.count == 91)
    for v in vectors {
      let encoding = tokenizer.encoding(of: v.text)
      #expect(encoding.ids == v.ids, "\(name): \(v.text.debugDescription)")
      #expect(encoding.tokens == v.tokens, "\(name): \(v.text.debugDescription)")
      #expect(tokenizer.encoding(of: v.text, addSpecialTokens: false).ids == v.ids_no_special)
      #expect(try tokenizer.decode(v.ids, skipSpecialTokens: true) == v.decoded, "\(name): \(v.ids)")
      #expect(try tokenizer.decode(v.ids, skipSpecialTokens: false) == v.decoded_keep_special)
      #expect(tokenizer.preTokenize(v.text) == v.pre_tokens, "\(name): \(v.text.debugDescription)")
      if let normalized = v.normalized { #expect(tokenizer.normalizer?.normalize(v.text) == normalized) }
    }
  }

  @Test(arguments: ["seed", "full", "escape"])
  func writesTokenizerJSONByteForByte(_ name: String) throws {
    let path = sharedFile("vectors/hf_\(name)_tokenizer.json").path
    let original = try String(contentsOfFile: path, encoding: .utf8)
    let tokenizer = try PipelineTokenizer(file: path)
    #expect(tokenizer.json.prettyText == original)
  }
}
