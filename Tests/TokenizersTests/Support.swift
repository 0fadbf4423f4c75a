import Foundation

/// `../shared` beside the checkout (or `$SWIFTGPT_SHARED`): reference data that tests read
/// and skip without.
let sharedDirectory: URL = {
  if let path = ProcessInfo.processInfo.environment["SWIFTGPT_SHARED"] { return URL(fileURLWithPath: path) }
  return URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("shared")
}()

let sharedAvailable = FileManager.default.fileExists(atPath: sharedDirectory.appendingPathComponent("vectors").path)

/// The repository's own `Tests/Fixtures` directory.
let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("Fixtures")

/// Decodes every line of a JSON-lines file.
func readJSONLines<T: Decodable>(_ url: URL, as type: T.Type) throws -> [T] {
  let text = try String(contentsOf: url, encoding: .utf8)
  return try text.split(separator: "\n").map { try JSONDecoder().decode(T.self, from: Data($0.utf8)) }
}

func sharedFile(_ relative: String) -> URL { sharedDirectory.appendingPathComponent(relative) }
