import ArgumentParser
import Foundation
import Tokenizers

/// `swiftgpt tokenizer …`: train, encode, decode and inspect tokenizers.
struct TokenizerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tokenizer",
    abstract: "Train, run and inspect tokenizers (minbpe BPE, tiktoken encodings, HF tokenizer.json pipelines, char).",
    subcommands: [TrainTokenizer.self, Encode.self, Decode.self, Show.self])
}

/// Which tokenizer a command uses: a built-in encoding or a file.
struct TokenizerOptions: ParsableArguments {
  @Option(help: "Built-in encoding: gpt2, r50k_base or cl100k_base.")
  var encoding: String?

  @Option(help: """
    Tokenizer: NAME.model (minbpe), tokenizer.json (HF) or a folder holding one, NAME.json (char), \
    NAME.tiktoken (ranks).
    """)
  var tokenizer: String?

  @Option(help: "Split pattern for a .tiktoken file: gpt2, gpt4, none or regex:PATTERN.")
  var pattern = PatternArgument(.cl100k)

  func validate() throws {
    if encoding != nil && tokenizer != nil {
      throw ValidationError("give either --encoding or --tokenizer, not both")
    }
  }

  func load() throws -> any Tokenizer {
    try loadTokenizer(tokenizer ?? encoding ?? "cl100k_base", pattern: pattern.pattern)
  }
}

/// How special-token text in the input is treated.
struct SpecialOptions: ParsableArguments {
  @Flag(help: "Encode special-token text (e.g. <|endoftext|>) as the special token.")
  var allowSpecial = false

  @Flag(help: "Encode special-token text as ordinary text.")
  var specialAsText = false

  func validate() throws {
    if allowSpecial && specialAsText {
      throw ValidationError("give either --allow-special or --special-as-text, not both")
    }
  }

  func encode(_ text: String, with tokenizer: any Tokenizer) throws -> [Int] {
    guard let bpe = tokenizer as? any BytePairTokenizer else { return try tokenizer.encode(text) }
    if allowSpecial { return try bpe.encode(text, allowedSpecial: .all) }
    if specialAsText { return try bpe.encodeOrdinary(text) }
    return try bpe.encode(text)
  }
}

/// Where the text comes from: `--text`, or standard input.
struct TextInput: ParsableArguments {
  @Option(help: "The text (default: read standard input).")
  var text: String?

  func read() throws -> String { try text ?? Terminal.readStandardInput() }
}

struct Encode: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Encode text to token ids.",
    discussion: "Without --ids, prints one 'id<TAB>token' line per token.")

  @OptionGroup var source: TokenizerOptions
  @OptionGroup var special: SpecialOptions
  @OptionGroup var input: TextInput

  @Flag(help: "Print exactly one JSON array of ids.")
  var ids = false

  @Flag(help: "Add each token's span in the text: 'id<TAB>token<TAB>characters<TAB>bytes', spans as start..<end (characters are Unicode scalars, as Python and HF count them).")
  var offsets = false

  func validate() throws {
    if ids && offsets { throw ValidationError("give either --ids or --offsets, not both") }
  }

  func run() throws {
    let tokenizer = try source.load()
    let text = try input.read()
    let encoded = try special.encode(text, with: tokenizer)
    if ids {
      Terminal.write("[" + encoded.map(String.init).joined(separator: ", ") + "]\n")
      return
    }
    // HF tokenizers show their own token strings (`##ab`, `Ġthe`); others show the bytes.
    let pipeline = tokenizer as? PipelineTokenizer
    var spans: (characters: [Range<Int>], bytes: [Range<Int>])?
    if offsets {
      if let pipeline {
        let encoding = try pipeline.encoding(of: text)
        spans = (encoding.offsets, encoding.byteOffsets)
      } else if let bpe = tokenizer as? any BytePairTokenizer {
        spans = bpe.offsets(of: encoded, in: text)
      } else {
        throw CLIError("--offsets needs a byte-pair or HF pipeline tokenizer; this one is \(type(of: tokenizer))")
      }
    }
    Terminal.write(encoded.enumerated().map { k, id in
      let token = pipeline?.token(id).map { displayToken(Array($0.utf8)) } ?? displayToken(tokenizer.tokenBytes(id) ?? [])
      guard let spans else { return "\(id)\t\(token)\n" }
      return "\(id)\t\(token)\t\(spans.characters[k])\t\(spans.bytes[k])\n"
    }.joined())
  }
}

struct Decode: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Decode a JSON array of token ids to text.")

  @OptionGroup var source: TokenizerOptions

  @Option(help: "The ids as a JSON array (default: read standard input).")
  var ids: String?

  func run() throws {
    let tokenizer = try source.load()
    let json = try ids ?? Terminal.readStandardInput()
    guard let values = try? JSONDecoder().decode([Int].self, from: Data(json.utf8)) else {
      throw CLIError("expected a JSON array of integer token ids, like [15496, 11, 995]")
    }
    let text = try tokenizer.decode(values)
    Terminal.write(Terminal.stdoutIsTTY ? text + "\n" : text)
  }
}

/// A token for people: its text with whitespace and control characters escaped; bytes that
/// are not valid UTF-8 on their own (a piece of a multi-byte character) as `\xNN`.
func displayToken(_ bytes: [UInt8]) -> String {
  var out = ""
  var i = 0
  while i < bytes.count {
    var decoder = UTF8()
    var iterator = bytes[i...].makeIterator()
    let length: Int
    switch decoder.decode(&iterator) {
    case .scalarValue(let scalar):
      length = String(scalar).utf8.count
      switch scalar {
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if scalar.properties.generalCategory == .control {
          out += String(format: "\\u%04x", scalar.value)
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    case .emptyInput, .error:
      length = 1
      out += String(format: "\\x%02X", bytes[i])
    }
    i += length
  }
  return out
}
