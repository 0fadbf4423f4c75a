#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Writing to the terminal: stderr messages, TTY detection, colours, a progress bar.
enum Terminal {
  static var stdinIsTTY: Bool { isatty(STDIN_FILENO) == 1 }
  static var stdoutIsTTY: Bool { isatty(STDOUT_FILENO) == 1 }
  static var stderrIsTTY: Bool { isatty(STDERR_FILENO) == 1 }
  static var colorAllowed: Bool { ProcessInfo.processInfo.environment["NO_COLOR"] == nil }

  static func error(_ message: String) {
    fflush(nil)  // flushes stdout (what `print` buffered)
    FileHandle.standardError.write(Data((message + "\n").utf8))
  }

  /// Writes `text` to stdout as is, after anything `print` buffered.
  static func write(_ text: String) {
    fflush(nil)  // flushes stdout (what `print` buffered)
    FileHandle.standardOutput.write(Data(text.utf8))
  }

  /// Everything on stdin, as UTF-8 text, every byte kept (a leading U+FEFF too, as tiktoken
  /// keeps it: `String(data:encoding:)` drops it).
  static func readStandardInput() throws -> String {
    let data = FileHandle.standardInput.readDataToEndOfFile()
    guard let text = String(validating: data, as: UTF8.self) else {
      throw CLIError("standard input is not valid UTF-8 text")
    }
    return text
  }

  static func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
  }
}

/// A one-line progress bar on stderr, redrawn at most ten times a second (only on a TTY).
struct ProgressBar {
  var total: Int
  /// Shown after the rate (a loss, say).
  var suffix = ""
  let label: String
  let unit: String
  private let start = Terminal.now()
  private var lastDraw = 0.0
  private let enabled = Terminal.stderrIsTTY

  init(total: Int, label: String, unit: String) {
    self.total = total
    self.label = label
    self.unit = unit
  }

  mutating func update(_ done: Int, force: Bool = false) {
    guard enabled else { return }
    let now = Terminal.now()
    guard force || now - lastDraw >= 0.1 else { return }
    lastDraw = now
    let elapsed = max(now - start, 1e-9)
    let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
    let width = 30
    let filled = Int(fraction * Double(width))
    let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
    let rate = Double(done) / elapsed
    let eta = rate > 0 && done < total ? String(format: " ETA %.1fs", Double(total - done) / rate) : ""
    let line = String(format: "\r%@ %@ %d/%d %.0f %@/s%@ %@\u{1B}[K", label, bar, done, total, rate, unit, eta, suffix)
    FileHandle.standardError.write(Data(line.utf8))
  }

  func finish() {
    guard enabled else { return }
    FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
  }
}

/// A user-facing error from the CLI layer (the library throws `TokenizerError`).
struct CLIError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
