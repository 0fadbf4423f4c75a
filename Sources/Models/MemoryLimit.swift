import Foundation

/// Sizes that are checked against this machine's memory before anything is allocated.
public enum MemoryLimit {
  /// Physical memory, in bytes.
  public static var physical: Double { Double(ProcessInfo.processInfo.physicalMemory) }

  /// `bytes` as the errors print it, e.g. "25.3 GB".
  public static func gigabytes(_ bytes: Double) -> String { String(format: "%.3g GB", bytes / 1e9) }
}
