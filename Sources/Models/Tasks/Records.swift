import FileSupport
import Foundation

/// One row of a data file: field name → value, and the line it came from.
public struct Record {
  public let fields: [String: Any]
  public let line: Int
}

/// Reads the rows of a JSONL file (one object per line, or one array: a chat), a JSON file (an
/// array of objects, as KLUE ships them) or a TSV file with a header row. Every bad line is an
/// error naming `path:line`.
public func readRecords(_ path: String) throws(ModelError) -> [Record] {
  guard let data = FileManager.default.contents(atPath: path) else {
    throw .file(.unreadable(path: path, reason: unreadableReason(path)))
  }
  guard let text = String(data: data, encoding: .utf8) else { throw .file(.malformed(path: path, line: 0, reason: "not UTF-8 text")) }
  var records: [Record] = []
  if path.hasSuffix(".tsv") || path.hasSuffix(".txt") {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
    guard let header = lines.first, !header.isEmpty else { throw .file(.malformed(path: path, line: 1, reason: "missing the header row")) }
    let names = header.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
    for (k, line) in lines.enumerated().dropFirst() where !line.isEmpty {
      let values = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
      guard values.count == names.count else {
        throw .file(.malformed(path: path, line: k + 1, reason: "\(values.count) tab-separated fields, the header has \(names.count)"))
      }
      records.append(Record(fields: Dictionary(uniqueKeysWithValues: zip(names, values.map { $0 as Any })), line: k + 1))
    }
  } else if path.hasSuffix(".json") {
    guard let array = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else {
      throw .file(.malformed(path: path, line: 0, reason: "expected a JSON array of objects"))
    }
    records = array.enumerated().map { Record(fields: $1, line: $0 + 1) }
  } else {
    for (k, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      if line.allSatisfy(\.isWhitespace) { continue }
      switch try? JSONSerialization.jsonObject(with: Data(line.utf8)) {
      case let object as [String: Any]: records.append(Record(fields: object, line: k + 1))
      case let messages as [Any]: records.append(Record(fields: ["messages": messages], line: k + 1))
      default: throw .file(.malformed(path: path, line: k + 1, reason: "not a JSON object"))
      }
    }
  }
  guard !records.isEmpty else { throw .file(.malformed(path: path, line: 0, reason: "no records")) }
  return records
}

extension Record {
  /// The first of `names` present, as text (numbers are written out); nested keys use dots
  /// (`labels.real-label`).
  func text(_ names: [String]) -> String? {
    for name in names {
      var value: Any? = fields
      for part in name.split(separator: ".") { value = (value as? [String: Any])?[String(part)] }
      switch value {
      case let s as String: return s
      case let n as NSNumber: return n.stringValue
      default: continue
      }
    }
    return nil
  }

  /// Like `text`, but missing is an error naming the accepted field names.
  func required(_ names: [String], in path: String) throws(ModelError) -> String {
    guard let value = text(names) else {
      throw .file(.malformed(path: path, line: line, reason: "missing field \(names.map { "'\($0)'" }.joined(separator: " or "))"))
    }
    return value
  }
}
