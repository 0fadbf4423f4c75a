import Foundation

/// Sizes that are checked against this machine's memory before anything is allocated.
public enum MemoryLimit {
  /// Physical memory, in bytes.
  public static var physical: Double { Double(ProcessInfo.processInfo.physicalMemory) }

  /// `bytes` as the errors print it, e.g. "25.3 GB".
  public static func gigabytes(_ bytes: Double) -> String { String(format: "%.3g GB", bytes / 1e9) }

  /// The one-line refusal of `what`, which needs `bytes`, when that exceeds physical memory
  /// (nil when it fits); it names `knobs`, the options that lower it.
  public static func refusal(_ what: String, needs bytes: Double, lower knobs: String) -> String? {
    guard bytes > physical else { return nil }
    return "\(what) needs at least \(gigabytes(bytes)) of memory, more than this machine's \(gigabytes(physical)); lower \(knobs)"
  }
}
