import FileSupport
import Foundation

/// How instruction data becomes model input.
///
/// Two tokens are added to the model's vocabulary for instruction tuning: `<|im_start|>` (id V)
/// and `<|im_end|>` (id V+1), ChatML's markers. Every response ends with `<|im_end|>`, and
/// generation stops there.
/// - `alpaca`: Stanford Alpaca's prompt (with or without input), then `output<|im_end|>`.
/// - `koalpaca`: KoAlpaca v1.0's bilingual prompt, then `output<|im_end|>`.
/// - `chat`: ChatML, one turn per message: `<|im_start|>{role}\n{content}<|im_end|>\n`; a reply
///   is prompted with `<|im_start|>assistant\n`.
///
/// Loss is computed only on response tokens: the output (alpaca) or every assistant message's
/// content, each with its `<|im_end|>`.
public enum InstructionTemplate: String, CaseIterable, Codable, Sendable {
  case alpaca, koalpaca, chat

  public static let startToken = "<|im_start|>"
  public static let endToken = "<|im_end|>"

  /// The prompt before the response to `instruction` (and `input`, which may be empty).
  public func prompt(instruction: String, input: String) -> String {
    switch (self, input.isEmpty) {
    case (.koalpaca, false):
      return "Below is an instruction that describes a task, paired with an input that provides further context.\n"
        + "아래는 작업을 설명하는 명령어와 추가적 맥락을 제공하는 입력이 짝을 이루는 예제입니다.\n\n"
        + "Write a response that appropriately completes the request.\n요청을 적절히 완료하는 응답을 작성하세요.\n\n"
        + "### Instruction(명령어):\n\(instruction)\n\n### Input(입력):\n\(input)\n\n### Response(응답):"
    case (.koalpaca, true):
      return "Below is an instruction that describes a task.\n아래는 작업을 설명하는 명령어입니다.\n\n"
        + "Write a response that appropriately completes the request.\n명령어에 따른 요청을 적절히 완료하는 응답을 작성하세요.\n\n"
        + "### Instruction(명령어):\n\(instruction)\n\n### Response(응답):"
    case (_, false):
      return "Below is an instruction that describes a task, paired with an input that provides further context. "
        + "Write a response that appropriately completes the request.\n\n"
        + "### Instruction:\n\(instruction)\n\n### Input:\n\(input)\n\n### Response:"
    case (_, true):
      return "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
        + "### Instruction:\n\(instruction)\n\n### Response:"
    }
  }
}

/// A piece of an instruction example: text, or one of the added marker tokens; `trained` marks
/// the pieces the loss is computed on.
public enum InstructionPiece: Sendable, Equatable {
  case text(String, trained: Bool)
  case start
  case end(trained: Bool)
}

/// A chat message.
public struct ChatMessage: Sendable, Equatable {
  public var role: String
  public var content: String
  public init(role: String, content: String) {
    self.role = role
    self.content = content
  }
}

extension InstructionTemplate {
  /// The pieces of one Alpaca record (instruction / input / output).
  /// (With `chat`, the instruction and input become one user message.)
  public func pieces(instruction: String, input: String, output: String) -> [InstructionPiece] {
    if self == .chat {
      return pieces(chat: [ChatMessage(role: "user", content: input.isEmpty ? instruction : instruction + "\n\n" + input),
                           ChatMessage(role: "assistant", content: output)])
    }
    return [.text(prompt(instruction: instruction, input: input) + "\n", trained: false),
            .text(output, trained: true), .end(trained: true)]
  }

  /// The pieces of a conversation in ChatML; assistant turns are trained.
  public func pieces(chat messages: [ChatMessage]) -> [InstructionPiece] {
    messages.flatMap { m -> [InstructionPiece] in
      let trained = m.role == "assistant"
      return [.start, .text(m.role + "\n", trained: false), .text(m.content, trained: trained), .end(trained: trained),
              .text("\n", trained: false)]
    }
  }

  /// The pieces that prompt a reply after `history` (whose last message is the user's):
  /// ChatML's assistant header, or the Alpaca prompt for the last user message.
  public func replyPrompt(history: [ChatMessage]) -> [InstructionPiece] {
    guard self != .chat else { return pieces(chat: history) + [.start, .text("assistant\n", trained: false)] }
    // Alpaca-style models see earlier turns as plain text before the current instruction.
    let earlier = history.dropLast().map { "\($0.role): \($0.content)\n" }.joined()
    return [.text(earlier + prompt(instruction: history.last?.content ?? "", input: "") + "\n", trained: false)]
  }
}

/// The ids of the two added markers.
public struct InstructionTokens: Codable, Sendable, Equatable {
  public var start: Int32
  public var end: Int32
  public var template: InstructionTemplate

  /// Ids and targets for `pieces`, cut to `maxLength` tokens: a target is the next token where
  /// that token is trained, -100 elsewhere.
  public func encode(_ pieces: [InstructionPiece], maxLength: Int, encode: (String) throws -> [Int]) rethrows
    -> (ids: [Int32], targets: [Int32])
  {
    var ids: [Int32] = []
    var trained: [Bool] = []
    for piece in pieces {
      switch piece {
      case .text(let text, let isTrained):
        let tokens = try encode(text).map(Int32.init)
        ids += tokens
        trained += repeatElement(isTrained, count: tokens.count)
      case .start:
        ids.append(start)
        trained.append(false)
      case .end(let isTrained):
        ids.append(end)
        trained.append(isTrained)
      }
    }
    ids = Array(ids.prefix(maxLength))
    let targets = ids.indices.map { t in t + 1 < ids.count && trained[t + 1] ? ids[t + 1] : -100 }
    return (ids, targets)
  }

  /// Writes `sft.json` (template and marker ids) into a model folder.
  public func save(to folder: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeAtomically(try encoder.encode(self), to: folder + "/sft.json")
  }

  /// Reads `sft.json` from a model folder, or nil if it has none.
  public init?(folder: String) throws {
    try fileAccess(ModelError.file) { () throws(FileError) in try requireFolder(folder, holding: "a model") }
    guard let data = FileManager.default.contents(atPath: folder + "/sft.json") else { return nil }
    do {
      self = try JSONDecoder().decode(InstructionTokens.self, from: data)
    } catch {
      throw ModelError.file(.corrupt(path: folder + "/sft.json", reason: "expected start, end and template"))
    }
  }

  public init(start: Int32, end: Int32, template: InstructionTemplate) {
    (self.start, self.end, self.template) = (start, end, template)
  }
}

/// Instruction data read from JSONL: Alpaca records (instruction / input / output) or chats
/// (a line that is an array of {role, content}, or {"messages": [...]}).
public struct InstructionDataset: Sendable {
  public var examples: [[InstructionPiece]]
  /// The template the examples use: `chat` when every record is a chat, else the one asked for.
  public var template: InstructionTemplate

  public init(reading path: String, template: InstructionTemplate) throws(ModelError) {
    var examples: [[InstructionPiece]] = []
    var chats = 0
    for record in try readRecords(path) {
      if let messages = record.fields["messages"] as? [Any] {
        var chat: [ChatMessage] = []
        for case let m as [String: Any] in messages {
          guard let role = m["role"] as? String, let content = m["content"] as? String else {
            throw .file(.malformed(path: path, line: record.line, reason: "a message needs string 'role' and 'content'"))
          }
          guard ["system", "user", "assistant"].contains(role) else {
            throw .file(.malformed(path: path, line: record.line, reason: "unknown role '\(role)' (system, user or assistant)"))
          }
          chat.append(ChatMessage(role: role, content: content))
        }
        guard chat.contains(where: { $0.role == "assistant" }) else {
          throw .file(.malformed(path: path, line: record.line, reason: "the chat has no assistant message to learn from"))
        }
        examples.append(InstructionTemplate.chat.pieces(chat: chat))
        chats += 1
      } else {
        let instruction = try record.required(["instruction", "prompt", "question"], in: path)
        let output = try record.required(["output", "response", "answer", "completion"], in: path)
        examples.append(template.pieces(instruction: instruction, input: record.text(["input", "context"]) ?? "", output: output))
      }
    }
    self.examples = examples
    self.template = examples.count == chats ? .chat : template
  }
}
