import ArgumentParser
import Tokenizers

/// `--pattern`: a split pattern by name (gpt2, gpt4, none; any case), or `regex:PATTERN` for a
/// custom one. An unknown name is an error: it was taken as a regex and matched nothing.
struct PatternArgument: ExpressibleByArgument {
  let pattern: SplitPattern

  init(_ pattern: SplitPattern) { self.pattern = pattern }

  init?(argument: String) {
    switch argument.lowercased() {
    case "gpt2", "r50k", "r50k_base": pattern = .gpt2
    case "gpt4", "cl100k", "cl100k_base": pattern = .cl100k
    case "none": pattern = .none
    default:
      guard argument.hasPrefix("regex:"), let custom = try? SplitPattern(parsing: String(argument.dropFirst(6))) else { return nil }
      pattern = custom
    }
  }

  static var allValueStrings: [String] { ["gpt2", "gpt4", "none", "regex:PATTERN"] }
  var defaultValueDescription: String {
    switch pattern {
    case .gpt2: "gpt2"
    case .cl100k: "gpt4"
    case .none: "none"
    case .regex(let source): "regex:" + source
    }
  }
}
