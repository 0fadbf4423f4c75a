#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// How many threads the tensor kernels use (default: every core of the machine).
///
/// Work is handed out in many small chunks from a shared counter, and the calling thread takes
/// chunks too, so when another process holds a core the running threads simply do more of the
/// chunks: nothing waits at a barrier for a thread that was descheduled.
public enum Parallel {
  nonisolated(unsafe) private static var configuredThreads = defaultThreads()

  /// The number of threads kernels may use; at least 1.
  public static var threads: Int {
    get { configuredThreads }
    set { configuredThreads = max(1, newValue) }
  }

  private static func defaultThreads() -> Int {
    if let text = getenvString("SWIFTGPT_THREADS"), let value = Int(text), value > 0 { return value }
    return max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
  }

  /// Runs `body(i)` for every `i` in `0..<count`, on up to `threads` threads.
  @inlinable
  public static func forEach(_ count: Int, threads: Int = Parallel.threads, _ body: (Int) -> Void) {
    let workers = min(threads, count)
    if workers <= 1 {
      for i in 0..<count { body(i) }
      return
    }
    withoutActuallyEscaping(body) { body in
      let task = UncheckedSendable(body)
      let next = Atomic<Int>(0)
      DispatchQueue.concurrentPerform(iterations: workers) { _ in
        while true {
          let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
          if i >= count { break }
          task.value(i)
        }
      }
    }
  }
}

/// Wraps a value that the caller promises is safe to share across the worker threads of one
/// `Parallel.forEach` call (raw pointers into disjoint regions, read-only closures).
public struct UncheckedSendable<Value>: @unchecked Sendable {
  public let value: Value
  @inlinable public init(_ value: Value) { self.value = value }
}

private func getenvString(_ name: String) -> String? {
  guard let raw = getenv(name) else { return nil }
  return String(cString: raw)
}

extension Parallel {
  /// Runs `body` over contiguous slices of `0..<rows`, split across threads when the work
  /// (`rows · costPerRow`, roughly in flops) is large enough to pay for it.
  @inlinable
  public static func forRows(_ rows: Int, costPerRow: Int, _ body: (Range<Int>) -> Void) {
    let chunks = rows * costPerRow < 1 << 17 ? 1 : min(rows, 8 * threads)
    if chunks <= 1 { body(0..<rows); return }
    forEach(chunks) { c in body((rows * c / chunks)..<(rows * (c + 1) / chunks)) }
  }
}
