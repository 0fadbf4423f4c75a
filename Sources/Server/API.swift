import Foundation
import Hummingbird

// The OpenAI request and response bodies SwiftGPT's server reads and writes (field names as on
// the wire; openai-python's types).

/// A prompt: a string, a list of strings (one completion each), or token ids.
enum PromptInput: Decodable {
  case texts([String])
  case ids([Int])

  init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if let text = try? c.decode(String.self) { self = .texts([text]) }
    else if let texts = try? c.decode([String].self) { self = .texts(texts) }
    else if let ids = try? c.decode([Int].self) { self = .ids(ids) }
    else { throw APIError.badRequest("'prompt' must be a string, a list of strings or a list of token ids") }
  }
}

/// `stop`: a string or a list of up to 4 strings.
struct StopInput: Decodable {
  var strings: [String]

  init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if let one = try? c.decode(String.self) { strings = [one] }
    else if let many = try? c.decode([String].self) { strings = many }
    else { throw APIError.badRequest("'stop' must be a string or a list of strings") }
  }
}

/// `seed`: an integer; -1 asks for a random seed, as llama.cpp's server reads it.
struct SeedInput: Decodable {
  var value: UInt64?

  init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if let seed = try? c.decode(UInt64.self) { value = seed }
    else if let seed = try? c.decode(Int64.self) { value = seed == -1 ? nil : UInt64(bitPattern: seed) }
    else { throw APIError.badRequest("'seed' must be an integer") }
  }
}

/// The sampling fields shared by completions and chat.
struct SamplingFields: Decodable {
  var model: String?
  var max_tokens: Int?
  /// Chat's newer name for `max_tokens` (openai-python's).
  var max_completion_tokens: Int?
  var temperature: Float?
  var top_p: Float?
  var top_k: Int?
  /// llama.cpp's (and transformers'): keep the tokens at least this times as likely as the top one.
  var min_p: Float?
  var n: Int?
  var stop: StopInput?
  var seed: SeedInput?
  var stream: Bool?
  var stream_options: StreamOptions?
  /// Completions: how many alternatives per token (0–5); chat: whether to return them.
  var logprobs: LogprobsInput?
  /// Chat: how many alternatives per token (0–20).
  var top_logprobs: Int?
  /// Token id (as a string) → bias added to its logit, in [-100, 100].
  var logit_bias: [String: Float]?
  /// Subtracted from a token's logit for each time it was sampled before, in [-2, 2].
  var frequency_penalty: Float?
  /// Subtracted from the logit of every token sampled before, in [-2, 2].
  var presence_penalty: Float?
  /// llama.cpp's: the logits of the tokens among the last `repeat_last_n` (prompt included)
  /// divided by it when positive, multiplied when negative (1: off).
  var repeat_penalty: Float?
  /// How many of the last tokens `repeat_penalty` looks at (default 64; 0: none, -1: the context).
  var repeat_last_n: Int?
  // Fields of the API this server does not do: read only to refuse them, as llama.cpp's server
  // does, rather than to answer as if they were not asked.
  var echo: Bool?
  var suffix: String?
  var best_of: Int?
  var tools: [AnyValue]?
  var response_format: ResponseFormat?

  struct StreamOptions: Decodable { var include_usage: Bool? }
  struct ResponseFormat: Decodable { var type: String }
  /// Any JSON value, unread.
  struct AnyValue: Decodable { init(from decoder: any Decoder) throws {} }

  /// The most tokens to generate, under either name.
  var maxTokens: Int? {
    get throws(APIError) {
      switch (max_tokens, max_completion_tokens) {
      case let (a?, b?) where a != b: throw .badRequest("give one of 'max_tokens' and 'max_completion_tokens', not both")
      case let (a, b): return b ?? a
      }
    }
  }

  /// Why the request asks for something this server does not do, or nil.
  var unsupported: String? {
    if echo == true { return "'echo' is not supported" }
    if let suffix, !suffix.isEmpty { return "'suffix' is not supported" }
    if let best_of, best_of > (n ?? 1) { return "'best_of' above 'n' is not supported" }
    if let tools, !tools.isEmpty { return "'tools' are not supported: the model has no tool calling" }
    if let format = response_format?.type, format != "text" { return "'response_format' \(format) is not supported: only text" }
    return nil
  }
}

/// `logprobs`: a number (completions) or a flag (chat).
enum LogprobsInput: Decodable {
  case count(Int), flag(Bool)

  init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if let flag = try? c.decode(Bool.self) { self = .flag(flag) }
    else if let count = try? c.decode(Int.self) { self = .count(count) }
    else { throw APIError.badRequest("'logprobs' must be a number or true/false") }
  }
}

struct CompletionRequest: Decodable {
  var prompt: PromptInput
  var fields: SamplingFields

  enum CodingKeys: CodingKey { case prompt }
  init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    guard c.contains(.prompt) else { throw APIError.badRequest("'prompt' is required") }
    prompt = try c.decode(PromptInput.self, forKey: .prompt)
    fields = try SamplingFields(from: decoder)
  }
}

struct ChatRequest: Decodable {
  struct Message: Decodable {
    var role: String
    var content: String

    enum CodingKeys: CodingKey { case role, content }
    /// A content part: `{"type": "text", "text": ...}` (the only kind a text model reads).
    struct Part: Decodable {
      var type: String
      var text: String?
    }

    /// `content` is a string or a list of text parts (openai-python sends either), joined.
    init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      role = try c.decode(String.self, forKey: .role)
      if let text = try? c.decode(String.self, forKey: .content) {
        content = text
        return
      }
      guard let parts = try? c.decode([Part].self, forKey: .content) else {
        throw APIError.badRequest("a message's 'content' must be a string or a list of text parts")
      }
      content = try parts.map { part in
        guard part.type == "text", let text = part.text else {
          throw APIError.badRequest("content parts of type '\(part.type)' are not supported: this model reads text")
        }
        return text
      }.joined()
    }
  }
  var messages: [Message]
  var fields: SamplingFields

  enum CodingKeys: CodingKey { case messages }
  init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    guard c.contains(.messages) else { throw APIError.badRequest("'messages' is required") }
    messages = try c.decode([Message].self, forKey: .messages)
    fields = try SamplingFields(from: decoder)
  }
}

struct Usage: Codable, Equatable {
  var prompt_tokens: Int
  var completion_tokens: Int
  var total_tokens: Int
}

/// `/v1/completions` and `/v1/chat/completions`, whole or as one stream chunk: which fields
/// are set depends on the object type (`text_completion`, `chat.completion`,
/// `chat.completion.chunk`).
struct CompletionResponse: Encodable, Sendable {
  struct Message: Encodable {
    var role: String?
    var content: String?
  }
  struct Choice: Encodable {
    var index: Int
    var text: String?
    var message: Message?
    var delta: Message?
    var finish_reason: String?
    var logprobs: Logprobs?

    enum CodingKeys: CodingKey { case index, text, message, delta, finish_reason, logprobs }
    func encode(to encoder: any Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(index, forKey: .index)
      try c.encodeIfPresent(text, forKey: .text)
      try c.encodeIfPresent(message, forKey: .message)
      try c.encodeIfPresent(delta, forKey: .delta)
      try c.encode(finish_reason, forKey: .finish_reason)  // null while streaming
      try c.encodeIfPresent(logprobs, forKey: .logprobs)
    }
  }
  /// Completions: `tokens`, `token_logprobs`, `top_logprobs`, `text_offset`; chat: `content`.
  struct Logprobs: Encodable, Sendable {
    struct Entry: Encodable, Sendable {
      var token: String
      var logprob: Float
      var bytes: [UInt8]
      var top_logprobs: [Entry]?
    }
    var content: [Entry]?
    var tokens: [String]?
    var token_logprobs: [Float]?
    var top_logprobs: [[String: Float]]?
    var text_offset: [Int]?
  }
  var id: String
  var object: String
  var created: Int
  var model: String
  var choices: [Choice]
  var usage: Usage?
}

struct ModelList: Encodable {
  struct Card: Encodable {
    var id: String
    var object = "model"
    var created: Int
    var owned_by = "swiftgpt"
    var meta: [String: Int]
  }
  var object = "list"
  var data: [Card]
}

struct TokenizeRequest: Decodable {
  var content: String?
  /// Instead of `content`: chat messages, rendered in ChatML.
  var messages: [ChatRequest.Message]?
  /// `model` (the default), `gpt2`, `cl100k_base`, or a tokenizer given with `--tokenizers`.
  var tokenizer: String?
  var with_pieces: Bool?
  /// Also the tokens grouped into whole graphemes (`segments`).
  var with_segments: Bool?
}

struct DetokenizeRequest: Decodable { var tokens: [Int] }
