import Foundation
import Synchronization
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Inference
import Models
import TensorEngine
import Testing
import Tokenizers
import Training
@testable import Server

/// The OpenAI API of `swiftgpt serve` on a tiny seeded model, through Hummingbird's router.
@Suite("serve: the OpenAI API")
struct ServerTests {
  static let corpus = "abcdefghijklmnopqrstuvwxyz ABC.!\n"  // ChatML needs the role names and a newline

  /// A seeded GPT over a char vocabulary; `chat` adds the two instruction markers (ChatML).
  static func server(chat: Bool = false, slots: Int = 4) throws -> ModelServer {
    let tokenizer = try CharTokenizer(corpus: corpus)
    let vocab = tokenizer.vocabSize + (chat ? 2 : 0)
    let model = try GPT(config: GPTConfig(vocabSize: vocab, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 16), seed: 7)
    let markers = chat ? InstructionTokens(start: Int32(vocab - 2), end: Int32(vocab - 1), template: .chat) : nil
    return ModelServer(model: model, tokenizer: tokenizer, chat: markers, modelID: "tiny", slots: slots)
  }

  static func app(_ server: ModelServer, options: ServerOptions = ServerOptions()) -> some ApplicationProtocol {
    Application(router: makeRouter(server, options: options))
  }

  func json(_ buffer: ByteBuffer) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(buffer: buffer)) as! [String: Any]
  }

  func post(_ client: some TestClientProtocol, _ uri: String, _ body: String, headers: HTTPFields = [:]) async throws -> TestResponse {
    var fields = headers
    fields[.contentType] = "application/json"
    return try await client.execute(uri: uri, method: .post, headers: fields, body: ByteBuffer(string: body))
  }

  @Test func healthAndModels() async throws {
    try await Self.app(try Self.server()).test(.router) { client in
      let health = try await client.execute(uri: "/health", method: .get)
      #expect(health.status == .ok && String(buffer: health.body) == #"{"status":"ok"}"#)
      let models = try json(try await client.execute(uri: "/v1/models", method: .get).body)
      let card = (models["data"] as! [[String: Any]])[0]
      #expect(models["object"] as? String == "list" && card["id"] as? String == "tiny" && card["object"] as? String == "model")
      #expect((card["meta"] as! [String: Int])["n_ctx_train"] == 32)
      // OpenAI's retrieve-model route was a 404 for the served model too.
      let one = try await client.execute(uri: "/v1/models/tiny", method: .get)
      let retrieved = try json(one.body)
      #expect(one.status == .ok && retrieved["id"] as? String == "tiny")
      let other = try await client.execute(uri: "/v1/models/gpt-4o", method: .get)
      #expect(other.status == .notFound
        && String(buffer: other.body) == #"{"error":{"code":404,"message":"the model 'gpt-4o' does not exist: this server serves 'tiny'","type":"invalid_request_error"}}"#,
        "\(String(buffer: other.body))")
    }
  }

  @Test func completionsEqualTheLibrary() async throws {
    let server = try Self.server()
    // Greedy: what `generateText` gives for the same prompt.
    var rng = RandomGenerator(seed: 1)
    let expected = try server.model.generateText(prompt: try server.tokenizer.encode("abc").map(Int32.init), tokenizer: server.tokenizer,
                                                 maxNewTokens: 6, sampling: SamplingOptions(temperature: 0), rng: &rng).text
    try await Self.app(server).test(.router) { client in
      let r = try await post(client, "/v1/completions", #"{"model":"tiny","prompt":"abc","max_tokens":6,"temperature":0}"#)
      #expect(r.status == .ok)
      let body = try json(r.body)
      let choice = (body["choices"] as! [[String: Any]])[0]
      #expect(body["object"] as? String == "text_completion" && choice["text"] as? String == expected)
      #expect(choice["finish_reason"] as? String == "length")
      #expect(body["usage"] as? [String: Int] == ["prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9])
      // Token ids as the prompt, and several prompts.
      let ids = try server.tokenizer.encode("abc")
      let byIDs = try json(try await post(client, "/v1/completions", #"{"prompt":\#(ids),"max_tokens":6,"temperature":0}"#).body)
      #expect((byIDs["choices"] as! [[String: Any]])[0]["text"] as? String == expected)
      let two = try json(try await post(client, "/v1/completions", #"{"prompt":["abc","ab"],"max_tokens":2,"n":2}"#).body)
      #expect((two["choices"] as! [[String: Any]]).map { $0["index"] as! Int } == [0, 1, 2, 3])
      #expect(two["usage"] as? [String: Int] == ["prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13], "each prompt once")
    }
  }

  @Test func theSameSeedGivesTheSameTextAlsoUnderConcurrentRequests() async throws {
    try await Self.app(try Self.server()).test(.router) { client in
      let request = #"{"prompt":"abc","max_tokens":8,"temperature":1,"seed":42}"#
      let first = try json(try await post(client, "/v1/completions", request).body)
      let text = (first["choices"] as! [[String: Any]])[0]["text"] as! String
      let texts = try await withThrowingTaskGroup(of: String.self) { group in
        for _ in 0..<4 {
          group.addTask {
            let body = try json(try await post(client, "/v1/completions", request).body)
            return (body["choices"] as! [[String: Any]])[0]["text"] as! String
          }
        }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      #expect(texts == Array(repeating: text, count: 4))
    }
  }

  @Test func chatStreamsAsOpenAIClientsExpect() async throws {
    try await Self.app(try Self.server(chat: true)).test(.router) { client in
      let messages = #""messages":[{"role":"user","content":"abc"}],"max_tokens":5,"temperature":0"#
      let whole = try json(try await post(client, "/v1/chat/completions", "{\(messages)}").body)
      let reply = ((whole["choices"] as! [[String: Any]])[0]["message"] as! [String: Any])["content"] as! String
      #expect(whole["object"] as? String == "chat.completion")
      let r = try await post(client, "/v1/chat/completions", #"{\#(messages),"stream":true,"stream_options":{"include_usage":true}}"#)
      #expect(r.headers[.contentType] == "text/event-stream")
      let events = String(buffer: r.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }
      #expect(events.allSatisfy { $0.hasPrefix("data: ") } && events.last == "data: [DONE]")
      let chunks = try events.dropLast().map { try JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as! [String: Any] }
      #expect(Set(chunks.map { $0["id"] as! String }).count == 1)
      #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
      let deltas = chunks.dropLast().map { ($0["choices"] as! [[String: Any]])[0] }
      #expect((deltas.first!["delta"] as! [String: Any])["role"] as? String == "assistant")
      #expect(deltas.compactMap { ($0["delta"] as! [String: Any])["content"] as? String }.joined() == reply)
      #expect(deltas.last!["finish_reason"] as? String != nil && deltas.dropLast().allSatisfy { $0["finish_reason"] is NSNull })
      let usage = chunks.last!
      #expect((usage["choices"] as! [Any]).isEmpty && (usage["usage"] as! [String: Int])["prompt_tokens"]! > 0)
    }
  }

  @Test func stopStringsNeverReachTheClient() async throws {
    let server = try Self.server()
    var rng = RandomGenerator(seed: 1)
    let greedy = try server.model.generateText(prompt: try server.tokenizer.encode("abc").map(Int32.init), tokenizer: server.tokenizer,
                                               maxNewTokens: 12, sampling: SamplingOptions(temperature: 0), rng: &rng).text
    let stop = String(greedy.dropFirst(3).prefix(2))
    let cut = String(greedy[..<greedy.range(of: stop)!.lowerBound])
    try await Self.app(server).test(.router) { client in
      for stream in [false, true] {
        let r = try await post(client, "/v1/completions",
                               #"{"prompt":"abc","max_tokens":12,"temperature":0,"stop":["\#(stop)"],"stream":\#(stream)}"#)
        let text: String
        if stream {
          let events = String(buffer: r.body).components(separatedBy: "\n\n").filter { $0.hasPrefix("data: {") }
          text = try events.map { e in
            ((try JSONSerialization.jsonObject(with: Data(e.dropFirst(6).utf8)) as! [String: Any])["choices"] as! [[String: Any]])[0]["text"] as! String
          }.joined()
        } else {
          text = (try json(r.body)["choices"] as! [[String: Any]])[0]["text"] as! String
        }
        #expect(text == cut, "stream \(stream): \(text.debugDescription) vs \(cut.debugDescription) (greedy \(greedy.debugDescription))")
      }
    }
    var filter = StopFilter(stops: ["o w"])
    #expect(filter.feed("Hel") + filter.feed("lo ") + filter.feed("wor") + filter.finish() == "Hell" && filter.stopped)
  }

  @Test func errorsHaveTheOpenAIShape() async throws {
    try await Self.app(try Self.server()).test(.router) { client in
      func error(_ r: TestResponse) throws -> (Int, String) {
        let e = try json(r.body)["error"] as! [String: Any]
        return (e["code"] as! Int, e["type"] as! String)
      }
      var r = try await post(client, "/v1/completions", "{oops")
      let badJSON = try error(r)
      #expect(r.status == .badRequest && badJSON == (400, "invalid_request_error"))
      r = try await post(client, "/v1/chat/completions", #"{"messages":[{"role":"user","content":"a"}]}"#)
      #expect(r.status == .badRequest && String(buffer: r.body).contains("no chat template"))
      r = try await post(client, "/v1/completions", #"{"prompt":"\#(String(repeating: "a", count: 40))"}"#)
      let tooLong = try error(r)
      #expect(r.status == .badRequest && tooLong == (400, "exceed_context_size_error"))
      r = try await post(client, "/v1/completions", #"{"prompt":[9999]}"#)
      #expect(r.status == .badRequest && String(buffer: r.body).contains("outside the model's vocabulary"))
      r = try await post(client, "/v1/completions", #"{"prompt":"a","temperature":-1}"#)
      #expect(r.status == .badRequest)
      r = try await client.execute(uri: "/v1/nothing", method: .get)
      let unknown = try error(r)
      #expect(r.status == .notFound && unknown == (404, "not_found_error"))
      // A body that does not decode names the field; all were "not valid JSON for this endpoint:
      // The operation could not be completed", and an empty list of prompts answered no choices.
      func message(_ r: TestResponse) throws -> String { (try json(r.body)["error"] as! [String: Any])["message"] as! String }
      for (body, expected) in [
        ("{oops", "the request body is not JSON"),
        ("[1]", "the request body must be a JSON object"),
        (#"{"prompt":[]}"#, "'prompt' is an empty list"),
        (#"{"prompt":"a","max_tokens":"5"}"#, "'max_tokens' must be an integer"),
        (#"{"prompt":"a","stream":"yes"}"#, "'stream' must be true or false"),
        (#"{"prompt":"a","seed":1.5}"#, "'seed' must be an integer"),
      ] {
        r = try await post(client, "/v1/completions", body)
        let said = try message(r)
        #expect(r.status == .badRequest && said == expected, "\(body)")
      }
      r = try await post(client, "/v1/chat/completions", #"{"messages":[{"content":"a"}]}"#)
      #expect(try message(r) == "'messages[0].role' is required")
      r = try await post(client, "/v1/chat/completions", #"{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#)
      #expect(try message(r) == "content parts of type 'image_url' are not supported: this model reads text")
    }
  }

  @Test func seedsAndContentPartsAsClientsSendThem() async throws {
    let server = try Self.server(chat: true)
    let end = server.chat!.end
    try await Self.app(server).test(.router) { client in
      func text(_ r: TestResponse) throws -> String {
        let choice = (try json(r.body)["choices"] as! [[String: Any]])[0]
        return choice["text"] as? String ?? (choice["message"] as! [String: Any])["content"] as! String
      }
      // llama.cpp's clients send seed -1 for a random seed (it was a 400); other negative seeds are seeds.
      let random = try await post(client, "/v1/completions", #"{"prompt":"abc","seed":-1,"max_tokens":4}"#)
      #expect(random.status == .ok)
      let seeded = try await post(client, "/v1/completions", #"{"prompt":"abc","seed":-7,"max_tokens":8}"#)
      #expect(try text(seeded) == text(try await post(client, "/v1/completions", #"{"prompt":"abc","seed":-7,"max_tokens":8}"#)))
      // Chat's newer max_completion_tokens was read as nothing: the answer ran to the context (the
      // end marker is kept out, so only the limit can end it).
      let newer = try json(try await post(client, "/v1/chat/completions",
        #"{"messages":[{"role":"user","content":"abc"}],"max_completion_tokens":3,"logit_bias":{"\#(end)":-100}}"#).body)
      #expect((newer["usage"] as? [String: Int])?["completion_tokens"] == 3, "\(newer)")
      let both = try await post(client, "/v1/chat/completions", #"{"messages":[{"role":"user","content":"abc"}],"max_tokens":2,"max_completion_tokens":3}"#)
      #expect(both.status == .badRequest)
      // openai-python may send content as a list of text parts: the same prompt as the string.
      let parts = #"{"messages":[{"role":"user","content":[{"type":"text","text":"ab"},{"type":"text","text":"c"}]}],"max_tokens":6,"temperature":0}"#
      let string = #"{"messages":[{"role":"user","content":"abc"}],"max_tokens":6,"temperature":0}"#
      let fromParts = try await post(client, "/v1/chat/completions", parts)
      let (replyToParts, replyToString) = (try text(fromParts), try text(try await post(client, "/v1/chat/completions", string)))
      #expect(fromParts.status == .ok && replyToParts == replyToString && !replyToParts.isEmpty)
    }
  }

  @Test func apiKeys() async throws {
    var options = ServerOptions()
    options.apiKeys = ["secret"]
    try await Self.app(try Self.server(), options: options).test(.router) { client in
      #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
      let denied = try await client.execute(uri: "/v1/models", method: .get)
      #expect(denied.status == .unauthorized && String(buffer: denied.body).contains("authentication_error"))
      #expect(try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer wrong"]).status == .unauthorized)
      #expect(try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer secret"]).status == .ok)
      #expect(try await client.execute(uri: "/v1/models", method: .get, headers: [HTTPField.Name("X-Api-Key")!: "secret"]).status == .ok)
    }
    #expect(equalInConstantTime(Array("ab".utf8), Array("ab".utf8)) && !equalInConstantTime(Array("ab".utf8), Array("abc".utf8)))
    // An empty key (an unset variable) never opens the API, whichever header carries it.
    options.apiKeys = [""]
    try await Self.app(try Self.server(), options: options).test(.router) { client in
      let none = try await client.execute(uri: "/v1/models", method: .get)
      #expect(none.status == .unauthorized)
      #expect(try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer "]).status == .unauthorized)
      #expect(try await client.execute(uri: "/v1/models", method: .get, headers: [HTTPField.Name("X-Api-Key")!: ""]).status == .unauthorized)
    }
    // A key file written on Windows gives the same keys.
    #expect(ServerOptions.apiKeys(inKeyFile: "# ours\r\n  alpha \r\n\r\nbeta\n#gamma\n") == ["alpha", "beta"])
  }

  @Test func anAddressThatCannotBeListenedOnIsSaidInWords() async throws {
    // Another program listens on a port the system picked.
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let listening = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
        bind(socket, address, length) == 0 && listen(socket, 1) == 0 && getsockname(socket, address, &length) == 0
      }
    }
    try #require(listening)
    await #expect {
      try await serve(Router(), host: "127.0.0.1", port: Int(UInt16(bigEndian: address.sin_port)), stopOnSignals: false) { _ in }
    } throws: { error in
      "\(error)" == "the port is in use (another server listens on it): stop it or choose another port"
    }
    await #expect {
      try await serve(Router(), host: "no-such-host.invalid", port: 0, stopOnSignals: false) { _ in }
    } throws: { error in
      "\(error)" == "no host is named no-such-host.invalid"
    }
  }

  @Test func logprobsAndLogitBias() async throws {
    let server = try Self.server(chat: true)
    // The first token's log probability, from the model's logits after the prompt.
    var decoder = server.model.makeDecoder(precision: .float32)
    let logits = decoder.append(try server.tokenizer.encode("abc").map(Int32.init))
    let peak = logits.max()!
    let logTotal = Float(log(logits.reduce(0.0) { $0 + exp(Double($1 - peak)) })) + peak
    let greedy = logits.indices.max { logits[$0] < logits[$1] }!
    try await Self.app(server).test(.router) { client in
      let body = try json(try await post(client, "/v1/completions", #"{"prompt":"abc","max_tokens":4,"temperature":0,"logprobs":3}"#).body)
      let choice = (body["choices"] as! [[String: Any]])[0]
      let lp = choice["logprobs"] as! [String: Any]
      let tokens = lp["tokens"] as! [String], values = lp["token_logprobs"] as! [Double], top = lp["top_logprobs"] as! [[String: Double]]
      #expect(tokens.joined() == choice["text"] as! String && tokens.count == 4 && top.allSatisfy { $0.count <= 3 })
      #expect(abs(values[0] - Double(logits[greedy] - logTotal)) < 1e-5, "\(values[0])")
      // Greedy: each token is its own most likely alternative.
      #expect(zip(values, top).allSatisfy { abs($0 - $1.values.max()!) < 1e-6 })
      #expect(lp["text_offset"] as? [Int] == [0, 1, 2, 3])
      // A bias of -100 on the greedy token makes another one come first.
      let biased = try json(try await post(client, "/v1/completions",
                                             #"{"prompt":"abc","max_tokens":1,"temperature":0,"logit_bias":{"\#(greedy)":-100}}"#).body)
      let first = (biased["choices"] as! [[String: Any]])[0]["text"] as! String
      #expect(first != (try server.tokenizer.decode([greedy])) && !first.isEmpty)
      // Chat's shape: content entries with bytes and alternatives.
      let chat = try json(try await post(client, "/v1/chat/completions", #"{"messages":[{"role":"user","content":"ab"}],"max_tokens":3,"logprobs":true,"top_logprobs":2,"seed":3}"#).body)
      let content = ((chat["choices"] as! [[String: Any]])[0]["logprobs"] as! [String: Any])["content"] as! [[String: Any]]
      #expect(content.allSatisfy { ($0["top_logprobs"] as! [Any]).count == 2 && ($0["bytes"] as! [Int]).count > 0 })
      // Streamed, each chunk carries the tokens of its text, offsets counted over the whole text:
      // together the same as the whole answer's.
      let streamed = try await post(client, "/v1/completions", #"{"prompt":"abc","max_tokens":4,"temperature":0,"logprobs":3,"stream":true}"#)
      let chunks = String(buffer: streamed.body).components(separatedBy: "\n\n").filter { $0.hasPrefix("data: {") }.map {
        ((try! JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as! [String: Any])["choices"] as! [[String: Any]])[0]
      }
      let pieces = chunks.filter { !($0["text"] as! String).isEmpty }
      #expect(pieces.count == 4 && pieces.allSatisfy { ($0["logprobs"] as! [String: Any])["tokens"] as? [String] == [$0["text"] as! String] })
      #expect(pieces.flatMap { ($0["logprobs"] as! [String: Any])["text_offset"] as! [Int] } == [0, 1, 2, 3])
      #expect(pieces.flatMap { ($0["logprobs"] as! [String: Any])["token_logprobs"] as! [Double] } == values)
      for bad in [#""logprobs":9"#, #""logit_bias":{"99999":1}"#, #""logprobs":true"#, #""logit_bias":{"1":500}"#] {
        let r = try await post(client, "/v1/completions", #"{"prompt":"a",\#(bad)}"#)
        #expect(r.status == .badRequest, "\(bad)")
      }
    }
  }

  @Test func penaltiesAsOpenAIDefinesThem() async throws {
    // frequency_penalty and presence_penalty were read as nothing; the text was that of no penalty.
    let server = try Self.server()
    func greedy(_ penalties: (frequency: Float, presence: Float), repeat: (penalty: Float, lastN: Int) = (1, 0),
                tokens: Int) throws -> String {
      var decoder = server.model.makeDecoder(precision: .float32)
      let prompt = try server.tokenizer.encode("abc")
      var logits = decoder.append(prompt.map(Int32.init))
      var sampled: [Int: Int] = [:], out: [Int] = []
      for _ in 0..<tokens {
        for id in Set((prompt + out).suffix(`repeat`.lastN)) {
          logits[id] = logits[id] > 0 ? logits[id] / `repeat`.penalty : logits[id] * `repeat`.penalty
        }
        for (id, times) in sampled { logits[id] -= Float(times) * penalties.frequency + penalties.presence }
        let token = logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!
        sampled[token, default: 0] += 1
        out.append(token)
        logits = decoder.append([Int32(token)])
      }
      return try server.tokenizer.decode(out)
    }
    let (expected, plain) = (try greedy((0.7, 1.3), tokens: 12), try greedy((0, 0), tokens: 12))
    let repeated = try greedy((0, 0), repeat: (1.8, 4), tokens: 12)
    #expect(expected != plain && repeated != plain)
    try await Self.app(server).test(.router) { client in
      let body = try json(try await post(client, "/v1/completions",
        #"{"prompt":"abc","max_tokens":12,"temperature":0,"frequency_penalty":0.7,"presence_penalty":1.3}"#).body)
      #expect((body["choices"] as! [[String: Any]])[0]["text"] as? String == expected)
      // llama.cpp's repeat penalty over the last 4 tokens, the prompt's included.
      let repeatBody = try json(try await post(client, "/v1/completions",
        #"{"prompt":"abc","max_tokens":12,"temperature":0,"repeat_penalty":1.8,"repeat_last_n":4}"#).body)
      #expect((repeatBody["choices"] as! [[String: Any]])[0]["text"] as? String == repeated)
      // llama.cpp's min_p: 1 keeps only the most likely token, whatever the temperature.
      let minP = try json(try await post(client, "/v1/completions", #"{"prompt":"abc","max_tokens":12,"temperature":1.5,"min_p":1}"#).body)
      #expect((minP["choices"] as! [[String: Any]])[0]["text"] as? String == plain)
      // Out of range, and what the server does not do, is a 400 rather than an answer without it.
      for (field, message) in [
        (#""frequency_penalty":2.5"#, "'frequency_penalty' must be in [-2, 2], got 2.5"),
        (#""min_p":2"#, "min-p must be in [0, 1], got 2.0"),
        (#""repeat_penalty":0"#, "'repeat_penalty' must be positive (1: off), got 0.0"),
        (#""echo":true"#, "'echo' is not supported"),
        (#""suffix":"x""#, "'suffix' is not supported"),
        (#""best_of":3"#, "'best_of' above 'n' is not supported"),
        (#""tools":[{"type":"function","function":{"name":"f"}}]"#, "'tools' are not supported: the model has no tool calling"),
        (#""response_format":{"type":"json_object"}"#, "'response_format' json_object is not supported: only text"),
      ] {
        let r = try await post(client, "/v1/completions", #"{"prompt":"a",\#(field)}"#)
        let said = (try json(r.body)["error"] as? [String: Any])?["message"] as? String
        #expect(r.status == .badRequest && said == message, "\(field)")
      }
      // Their defaults are accepted, as clients send them.
      let defaults = #"{"prompt":"a","max_tokens":1,"echo":false,"best_of":1,"tools":[],"response_format":{"type":"text"}}"#
      #expect(try await post(client, "/v1/completions", defaults).status == .ok)
    }
  }

  @Test func aFullQueueIsA503WithRetryAfter() async throws {
    var options = ServerOptions()
    options.maxWaiting = 0
    try await Self.app(try Self.server(slots: 1), options: options).test(.router) { client in
      let statuses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
        for _ in 0..<24 {
          group.addTask {
            let r = try await post(client, "/v1/completions", #"{"prompt":"abc","max_tokens":28}"#)
            return (r.status, r.headers[.retryAfter])
          }
        }
        return try await group.reduce(into: []) { $0.append($1) }
      }
      #expect(statuses.contains { $0.0 == .ok }, "one request has the slot")
      #expect(statuses.contains { $0.0 == .serviceUnavailable && $0.1 == "1" }, "\(statuses.map(\.0.code))")
      #expect(statuses.allSatisfy { $0.0 == .ok || $0.0 == .serviceUnavailable })
    }
  }

  @Test func admissionChecksAndCountsInOneStep() async throws {
    let server = try Self.server(slots: 1)
    // 64 requests arriving at once for 3 places: exactly 3 get one (the check and the count used
    // to be two steps, and requests arriving together could all pass the check).
    let tickets = Mutex<[AdmissionTicket?]>([])
    DispatchQueue.concurrentPerform(iterations: 64) { _ in
      let ticket = server.admit(limit: 3)
      tickets.withLock { $0.append(ticket) }
    }
    #expect(tickets.withLock { $0.compactMap { $0 }.count } == 3)
    #expect(server.scheduler.admittedCount == 3)
    tickets.withLock { $0 = [] }
    #expect(server.scheduler.admittedCount == 0)
    // Every answered request gives its place back, streams included.
    try await Self.app(server).test(.router) { client in
      _ = try await post(client, "/v1/completions", #"{"prompt":"abc","max_tokens":4}"#)
      _ = try await post(client, "/v1/completions", #"{"prompt":"abc","max_tokens":4,"stream":true}"#)
      _ = try await post(client, "/v1/completions", #"{"prompt":"abc","max_tokens":4,"n":0}"#)  // a 400
    }
    #expect(server.scheduler.admittedCount == 0)
  }

  @Test func choicesDecodeSideBySideWithEachItsOwnSeed() async throws {
    try await Self.app(try Self.server(slots: 4)).test(.router) { client in
      func texts(_ body: String) async throws -> [String] {
        let choices = try json(try await post(client, "/v1/completions", body).body)["choices"] as! [[String: Any]]
        return choices.map { $0["text"] as! String }
      }
      let together = try await texts(#"{"prompt":"abc","max_tokens":12,"n":6,"seed":5,"temperature":1}"#)
      var alone: [String] = []
      for k in 0..<6 { alone += try await texts(#"{"prompt":"abc","max_tokens":12,"seed":\#(5 + k),"temperature":1}"#) }
      #expect(together == alone)
      #expect(Set(alone).count > 1, "the seeds give different texts: \(alone)")
      // Streamed, the choices decode side by side too, their chunks interleaved (they were streamed
      // one after another, n times as long), the same texts.
      let long = try await texts(#"{"prompt":"abc","max_tokens":28,"n":4,"seed":5,"temperature":1}"#)
      let streamed = try await post(client, "/v1/completions", #"{"prompt":"abc","max_tokens":28,"n":4,"seed":5,"temperature":1,"stream":true}"#)
      let chunks = String(buffer: streamed.body).components(separatedBy: "\n\n").filter { $0.hasPrefix("data: {") }.map {
        ((try! JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as! [String: Any])["choices"] as! [[String: Any]])[0]
      }
      let byChoice = (0..<4).map { k in chunks.filter { $0["index"] as? Int == k }.map { $0["text"] as! String }.joined() }
      #expect(byChoice == long)
      let order = chunks.map { $0["index"] as! Int }
      // All four are queued together, so they take their slots in the same step.
      #expect(Set(order.prefix(4)) == [0, 1, 2, 3], "\(order)")
    }
  }

  @Test func aBigramModelIsServedToo() async throws {
    let tokenizer = try CharTokenizer(corpus: Self.corpus)
    let server = ModelServer(model: try Bigram(vocabSize: tokenizer.vocabSize), tokenizer: tokenizer, chat: nil, modelID: "b")
    try await Self.app(server).test(.router) { client in
      let body = try json(try await post(client, "/v1/completions", #"{"prompt":"ab","max_tokens":5,"seed":1}"#).body)
      #expect(body["usage"] as? [String: Int] == ["prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7])
    }
  }

  @Test func metricsAndSlots() async throws {
    try await Self.app(try Self.server()).test(.router) { client in
      _ = try await post(client, "/v1/completions", #"{"prompt":"abc","max_tokens":4,"temperature":0}"#)
      _ = try await post(client, "/v1/completions", #"{"prompt":"ab","max_tokens":3,"temperature":0}"#)
      let text = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
      func value(_ name: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
      }
      #expect(value("swiftgpt_requests_total") == 2 && value("swiftgpt_prompt_tokens_total") == 5, "\(text)")
      #expect(value("swiftgpt_tokens_predicted_total") == 7 && value("swiftgpt_requests_processing") == 0)
      #expect(value("swiftgpt_requests_deferred") == 0 && (value("swiftgpt_predicted_tokens_seconds") ?? 0) > 0)
      let slots = try JSONSerialization.jsonObject(with: Data(buffer: try await client.execute(uri: "/slots", method: .get).body))
      #expect((slots as? [[String: Any]])?.map { $0["id"] as! Int } == [0, 1, 2, 3])
      #expect((slots as? [[String: Any]])?.allSatisfy { $0["n_ctx"] as? Int == 32 && $0["is_processing"] as? Bool == false } == true)
    }
  }

  @Test func bodyLimitAndCORS() async throws {
    var options = ServerOptions()
    (options.maxBodyBytes, options.corsOrigin) = (200, "http://localhost:3000")
    try await Self.app(try Self.server(), options: options).test(.router) { client in
      let big = try await post(client, "/v1/completions", #"{"prompt":"\#(String(repeating: "a", count: 300))"}"#)
      let error = try json(big.body)["error"] as! [String: Any]
      #expect(big.status == .contentTooLarge && error["code"] as? Int == 413, "\(String(buffer: big.body))")
      let r = try await client.execute(uri: "/v1/models", method: .get, headers: [.origin: "http://localhost:3000"])
      #expect(r.headers[.accessControlAllowOrigin] == "http://localhost:3000")
    }
    // Without --cors no page elsewhere may call it.
    try await Self.app(try Self.server()).test(.router) { client in
      let r = try await client.execute(uri: "/v1/models", method: .get, headers: [.origin: "http://evil.example"])
      #expect(r.headers[.accessControlAllowOrigin] == nil)
    }
  }

  @Test func tokenizeAndDetokenize() async throws {
    let gpt2 = try Encoding.named("gpt2")
    let model = try GPT(config: GPTConfig(vocabSize: 50257, blockSize: 8, nLayer: 1, nHead: 1, nEmbd: 8))
    let server = ModelServer(model: model, tokenizer: gpt2, chat: nil, modelID: "g")
    try await Self.app(server).test(.router) { client in
      let ids = try json(try await post(client, "/tokenize", #"{"content":"안녕 world"}"#).body)["tokens"] as! [Int]
      #expect(ids == gpt2.encodeOrdinary("안녕 world"))
      // A piece that is not valid UTF-8 alone (half of 안) comes as its bytes.
      let pieces = try json(try await post(client, "/tokenize", #"{"content":"안 a","with_pieces":true}"#).body)["tokens"] as! [[String: Any]]
      let expected = gpt2.encodeOrdinary("안 a").map { id in
        let bytes = gpt2.tokenBytes(id)!
        return String(validating: bytes, as: UTF8.self) ?? bytes.map { String(format: "\\x%02X", $0) }.joined()
      }
      #expect(pieces.map { $0["piece"] as! String } == expected && expected.last == " a" && expected.first!.hasPrefix("\\x"))
      #expect(pieces.map { $0["bytes"] as! [Int] } == gpt2.encodeOrdinary("안 a").map { gpt2.tokenBytes($0)!.map(Int.init) })
      let text = try json(try await post(client, "/detokenize", #"{"tokens":\#(ids)}"#).body)["content"] as! String
      #expect(text == "안녕 world")
      // Another tokenizer, and grapheme segments: 안 and 녕 are one segment each, whatever the tokens.
      let cl100k = try json(try await post(client, "/tokenize", #"{"content":"안녕 world","tokenizer":"cl100k_base","with_segments":true}"#).body)
      #expect(cl100k["tokens"] as? [Int] == (try Encoding.named("cl100k_base")).encodeOrdinary("안녕 world"))
      let segments = cl100k["segments"] as! [[String: Any]]
      #expect(segments.map { $0["text"] as! String }.joined() == "안녕 world" && cl100k["count"] as? Int == (cl100k["tokens"] as! [Int]).count)
      #expect(segments.flatMap { $0["ids"] as! [Int] } == cl100k["tokens"] as! [Int])
      let unknown = try await post(client, "/tokenize", #"{"content":"a","tokenizer":"nope"}"#)
      #expect(unknown.status == .badRequest && String(buffer: unknown.body).contains("unknown tokenizer 'nope'"))
    }
  }

  @Test func healthIs503WhileTheModelLoads() async throws {
    let served = ServedModel()
    try await Application(router: makeRouter(served)).test(.router) { client in
      for path in ["/health", "/v1/models", "/props"] {
        let loading = try await client.execute(uri: path, method: .get)
        #expect(loading.status == .serviceUnavailable && loading.headers[.retryAfter] == "1", "\(path)")
        #expect(String(buffer: loading.body).contains(#""message":"Loading model""#))
      }
      // The pages are there at once.
      #expect(try await client.execute(uri: "/", method: .get).status == .ok)
      served.set(try Self.server())
      #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
    }
  }

  @Test func propsTellThePlaygroundWhatTheServerHas() async throws {
    try await Self.app(try Self.server(chat: true, slots: 3)).test(.router) { client in
      let props = try json(try await client.execute(uri: "/props", method: .get).body)
      #expect(props["model"] as? String == "tiny" && props["n_ctx"] as? Int == 32 && props["total_slots"] as? Int == 3)
      #expect(props["chat_template"] as? String == "chatml" && props["dashboard"] as? Bool == false)
      #expect(props["tokenizers"] as? [String] == ["model"] + Encoding.names)
    }
    try await Self.app(try Self.server()).test(.router) { client in
      let props = try json(try await client.execute(uri: "/props", method: .get).body)
      #expect(props["chat_template"] == nil)
    }
  }

  @Test func theContextLimitBoundsPromptsAndCompletions() async throws {
    let tokenizer = try CharTokenizer(corpus: Self.corpus)
    let model = try GPT(config: GPTConfig(vocabSize: tokenizer.vocabSize, blockSize: 32, nLayer: 1, nHead: 1, nEmbd: 8), seed: 1)
    let server = ModelServer(model: model, tokenizer: tokenizer, chat: nil, modelID: "c", context: 8)
    try await Self.app(server).test(.router) { client in
      let long = try await post(client, "/v1/completions", #"{"prompt":"abcdefgh"}"#)
      #expect(long.status == .badRequest && String(buffer: long.body).contains("context is 8"))
      let body = try json(try await post(client, "/v1/completions", #"{"prompt":"abc","max_tokens":100,"temperature":0}"#).body)
      #expect((body["usage"] as! [String: Int])["completion_tokens"] == 5)
    }
  }

  @Test func aContextBeyondTheModelsPositionsIsAnError() throws {
    // `serve --ctx 100000` on a model of 32 positions served with 32, saying nothing.
    let tiny = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/gpt2-tiny").path
    #expect { try ModelServer(folder: ModelDirectory(tiny), context: 33) } throws: { error in
      "\(error)" == "unsupported: a context of 33 tokens: gpt2-tiny has 32 positions"
    }
    // Slots whose caches cannot fit in memory are refused before anything is allocated (they were
    // reserved, and filling them under load would end in the system's out-of-memory kill).
    #expect { try ModelServer(folder: ModelDirectory(tiny), slots: 100_000_000, context: 16) } throws: { error in
      "\(error)".hasPrefix("unsupported: serving 100000000 slots of 16 tokens needs at least ")
        && "\(error)".hasSuffix("; lower --parallel or --ctx")
    }
  }

  @Test func chatMessagesAreTokenizedWithTheModelsMarkers() async throws {
    let server = try Self.server(chat: true)
    let markers = server.chat!
    try await Self.app(server).test(.router) { client in
      let body = #"{"messages":[{"role":"user","content":"ab"}],"with_segments":true,"with_pieces":true}"#
      let answer = try json(try await post(client, "/tokenize", body).body)
      let ids = (answer["tokens"] as! [[String: Any]]).map { $0["id"] as! Int }
      let char = { (text: String) in try server.tokenizer.encode(text) }
      let (start, end) = (Int(markers.start), Int(markers.end))
      #expect(ids == [start] + (try char("user\nab")) + [end] + (try char("\n")) + [start] + (try char("assistant\n")))
      #expect((answer["tokens"] as! [[String: Any]]).first?["piece"] as? String == "<|im_start|>")
      let segments = answer["segments"] as! [[String: Any]]
      #expect(segments.map { $0["text"] as! String }.joined() == "<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\n")
      #expect(segments.flatMap { $0["ids"] as! [Int] } == ids)
      // Another tokenizer reads the markers as text.
      let gpt2 = try json(try await post(client, "/tokenize", body.replacingOccurrences(of: "{\"messages", with: "{\"tokenizer\":\"gpt2\",\"messages")).body)
      let gpt2IDs = (gpt2["tokens"] as! [[String: Any]]).map { $0["id"] as! Int }
      #expect(gpt2IDs == (try Encoding.named("gpt2")).encodeOrdinary("<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\n"))
      let neither = try await post(client, "/tokenize", #"{"tokenizer":"gpt2"}"#)
      #expect(neither.status == .badRequest && String(buffer: neither.body).contains("either 'content' or 'messages'"))
      // The ids detokenize back to the text (the markers were "not in the vocabulary").
      let back = try await post(client, "/detokenize", #"{"tokens":\#(ids)}"#)
      let text = try json(back.body)["content"] as? String
      #expect(back.status == .ok && text == "<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\n")
      // Chat asks for what it lacks plainly (top_logprobs alone returned no log probabilities).
      for (request, message) in [(#"{"messages":[]}"#, "'messages' is empty"),
                                 (#"{"messages":[{"role":"user","content":"a"}],"top_logprobs":2}"#, "'top_logprobs' needs 'logprobs': true")] {
        let r = try await post(client, "/v1/chat/completions", request)
        let said = (try json(r.body)["error"] as? [String: Any])?["message"] as? String
        #expect(r.status == .badRequest && said == message, "\(request)")
      }
    }
  }

  @Test func thePlaygroundIsServedWithoutTheKeyAndNothingElse() async throws {
    var options = ServerOptions()
    options.apiKeys = ["secret"]
    try await Self.app(try Self.server(), options: options).test(.router) { client in
      for (path, type) in [("/", "text/html"), ("/chat", "text/html"), ("/assets/style.css", "text/css"),
                           ("/assets/tokenizer.js", "text/javascript"), ("/assets/common.js", "text/javascript")] {
        let page = try await client.execute(uri: path, method: .get)
        #expect(page.status == .ok && page.headers[.contentType]?.hasPrefix(type) == true, "\(path)")
      }
      #expect(String(buffer: try await client.execute(uri: "/", method: .get).body).contains("/assets/tokenizer.js"))
      // Only the files compiled in: no traversal, no dashboard without a run.
      for path in ["/assets/../Package.swift", "/assets/%2e%2e%2fPackage.swift", "/assets/nope.js", "/dashboard"] {
        #expect(try await client.execute(uri: path, method: .get).status == .notFound, "\(path)")
      }
      // The API still needs the key.
      #expect(try await client.execute(uri: "/props", method: .get).status == .unauthorized)
    }
  }

  @Test func theDashboardSendsTheRunThenEachChange() async throws {
    let first = LogRow(step: 0, loss: .nan, learningRate: 1e-3, trainLoss: 4, valLoss: 4.5, tokensPerSecond: 0, elapsed: 0)
    let dashboard = TrainingDashboard(title: "run", info: ["model": "tiny"], rows: [first])
    let app = Application(router: makeDashboardRouter(dashboard))
    try await app.test(.router) { client in
      let redirect = try await client.execute(uri: "/", method: .get)
      #expect(redirect.status == .seeOther && redirect.headers[.location] == "/dashboard")
      #expect(try await client.execute(uri: "/dashboard", method: .get).status == .ok)
      dashboard.record(LogRow(step: 1, loss: 3.5, learningRate: 1e-3, trainLoss: nil, valLoss: nil, tokensPerSecond: 100, elapsed: 1,
                              gradNorm: 0.75))
      dashboard.recordSample("안녕", step: 1)
      dashboard.recordCheckpoint("run/latest", step: 1)
      dashboard.finish()
      let state = try json(try await client.execute(uri: "/dashboard/state", method: .get).body)
      let rows = state["rows"] as! [[String: Any]]
      // Step 0 has no step loss (NaN is left out of the JSON).
      #expect(rows.count == 2 && rows[0]["loss"] == nil && rows[0]["val_loss"] as? Double == 4.5)
      #expect(rows[1]["grad_norm"] as? Double == 0.75 && rows[1]["tokens_per_sec"] as? Double == 100)
      #expect((state["samples"] as! [[String: Any]])[0]["text"] as? String == "안녕" && state["finished"] as? Bool == true)
      #expect((state["checkpoints"] as! [[String: Any]])[0]["path"] as? String == "run/latest")
    }
    // serve --run: the API, the playground and the dashboard together.
    var options = ServerOptions()
    options.dashboard = dashboard
    try await Self.app(try Self.server(), options: options).test(.router) { client in
      #expect(try await client.execute(uri: "/dashboard", method: .get).status == .ok)
      #expect(try await client.execute(uri: "/assets/dashboard.js", method: .get).status == .ok)
      let props = try json(try await client.execute(uri: "/props", method: .get).body)
      #expect(props["dashboard"] as? Bool == true)
    }
    // A page that connects gets the state first, then each change as it happens.
    let stream = dashboard.subscribe()
    dashboard.record(LogRow(step: 2, loss: 3, learningRate: 1e-3, trainLoss: nil, valLoss: nil, tokensPerSecond: 100, elapsed: 2))
    var events: [[String: Any]] = []
    for await event in stream {
      events.append(try JSONSerialization.jsonObject(with: event) as! [String: Any])
      if events.count == 2 { break }
    }
    #expect(events[0]["type"] as? String == "snapshot" && (events[0]["rows"] as! [Any]).count == 2)
    #expect(events[1]["type"] as? String == "row" && (events[1]["value"] as! [String: Any])["step"] as? Int == 2)
  }

  @Test func aClientThatDisconnectsFreesItsSlotWithinAStep() async throws {
    // A model slow enough to stop mid-answer (1,000 tokens take seconds: with 4 × 256 they took
    // about one, and on a machine busy with the other tests the first event once came after
    // the last token); a real server, and a client that closes its socket after the first event.
    let tokenizer = try CharTokenizer(corpus: Self.corpus)
    let model = try GPT(config: GPTConfig(vocabSize: tokenizer.vocabSize, blockSize: 1024, nLayer: 8, nHead: 8, nEmbd: 512), seed: 3)
    let server = ModelServer(model: model, tokenizer: tokenizer, chat: nil, modelID: "slow", slots: 2)
    try await Self.app(server).test(.live) { client in
      let port = try #require(client.port)
      let body = #"{"prompt":"abc","max_tokens":1000,"stream":true,"temperature":1,"seed":1}"#
      let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      address.sin_port = in_port_t(UInt16(port).bigEndian)
      address.sin_addr.s_addr = inet_addr("127.0.0.1")
      let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
      }
      #expect(connected == 0)
      let request = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
      _ = request.withCString { send(descriptor, $0, strlen($0), 0) }
      var received = [UInt8](repeating: 0, count: 4096)
      var text = ""
      while !text.contains("data: {") {
        let count = recv(descriptor, &received, received.count, 0)
        guard count > 0 else { break }
        text += String(decoding: received[..<count], as: UTF8.self)
      }
      #expect(server.slots.busy.count == 1)
      close(descriptor)
      // The generation stops after its current token, and the slot is free again.
      let deadline = ContinuousClock.now + .seconds(5)
      while !server.slots.busy.isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
      #expect(server.slots.busy.isEmpty)
      let metrics = String(buffer: ByteBuffer(bytes: server.metrics.emitToBuffer()))
      let predicted = metrics.split(separator: "\n").first { $0.hasPrefix("swiftgpt_tokens_predicted_total ") }
      #expect(predicted.flatMap { Double($0.split(separator: " ")[1]) }.map { $0 < 1000 } == true, "\(predicted ?? "")")
    }
  }
}
