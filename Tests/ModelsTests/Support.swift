import Foundation

/// Tests/Fixtures in this checkout.
let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// max |a - b| / max |b|: the relative error of a whole tensor.
func relativeError(_ a: [Float], _ b: [Float]) -> Float {
  precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
  let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
  let scale = b.map { abs($0) }.max() ?? 0
  return scale == 0 ? diff : diff / scale
}

/// A fresh empty temporary directory.
func temporaryDirectory() -> String {
  let path = NSTemporaryDirectory() + "swiftgpt-tests-" + UUID().uuidString
  try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}
