import ArgumentParser
import Foundation
import Tokenizers

/// The tiktokenizer view in a terminal: each token on a coloured background (or in brackets),
/// then the counts.
struct Show: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show how text splits into tokens, with the token count.")

  @OptionGroup var source: TokenizerOptions
  @OptionGroup var special: SpecialOptions
  @OptionGroup var input: TextInput

  @Flag(help: "Bracket tokens instead of colouring them (the default when stdout is not a terminal).")
  var plain = false

  @Flag(help: "Also print the token ids.")
  var ids = false

  /// Background colours (256-colour palette), pale enough to read black text on.
  static let palette = [153, 194, 223, 217, 189, 158, 230, 225]

  func run() throws {
    let tokenizer = try source.load()
    let text = try input.read()
    let encoded = try special.encode(text, with: tokenizer)
    let colour = !plain && Terminal.stdoutIsTTY && Terminal.colorAllowed
    var out = ""
    for (k, id) in encoded.enumerated() {
      var piece = displayToken(tokenizer.tokenBytes(id) ?? [])
      piece = piece.replacingOccurrences(of: "\\n", with: "\\n\n")
      if colour {
        out += "\u{1B}[30;48;5;\(Show.palette[k % Show.palette.count])m\(piece)\u{1B}[0m"
      } else {
        out += "[\(piece)]"
      }
    }
    out += "\n"
    if ids { out += "[" + encoded.map(String.init).joined(separator: ", ") + "]\n" }
    let characters = text.unicodeScalars.count
    let bytes = text.utf8.count
    let perToken = encoded.isEmpty ? 0 : Double(bytes) / Double(encoded.count)
    out += "tokens: \(encoded.count)  characters: \(characters)  bytes: \(bytes)  "
      + "bytes/token: \((perToken * 100).rounded() / 100)\n"
    Terminal.write(out)
  }
}
