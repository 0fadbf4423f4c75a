#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// How many threads the tensor kernels use (default: every core of the machine).
///
/// Work is handed out in many small chunks. Each thread first takes the chunks of its own
/// contiguous share, in order, so consecutive kernels split the same way keep each thread on the
/// rows it wrote before (they are in its cache); a thread that has finished its share takes the
/// chunks left in the others'. The calling thread takes chunks too, so when another process
/// holds a core the running threads simply do more of the chunks: nothing waits at a barrier
/// for a thread that was descheduled. The helper threads are a persistent pool (`WorkerPool`),
/// so a kernel does not pay a thread wake-up.
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
  public static func forEach(_ count: Int, threads: Int = Parallel.threads, _ body: (Int) -> Void) {
    let workers = min(threads, count)
    if workers <= 1 || !WorkerPool.shared.run(count, workers: workers, body) {
      for i in 0..<count { body(i) }
    }
  }
}

/// Long-lived worker threads for `Parallel.forEach`. Between jobs a worker spins for a short
/// while (kernels come in quick succession: waking a sleeping thread costs tens of
/// microseconds, as much as a small GEMM), then sleeps on a semaphore.
///
/// One job runs at a time; a `forEach` issued while another runs (nested, or from a second
/// thread) runs serially on its caller.
final class WorkerPool: @unchecked Sendable {
  static let shared = WorkerPool()

  /// One `forEach` call. Participant w (the caller is 0, helpers 1, 2, … in the order they join)
  /// owns chunks `count·w/W ..< count·(w+1)/W` of `0..<count`; `finished` counts completed ones.
  final class Job: @unchecked Sendable {
    /// Read by workers only after claiming a chunk; cleared by the caller once all are finished.
    nonisolated(unsafe) var body: ((Int) -> Void)?
    let count: Int
    let helpers: Int
    let shares: [Share]
    let finished = Atomic<Int>(0)
    let joined = Atomic<Int>(0)

    /// One participant's run of chunks: the next unclaimed one, and the end.
    final class Share: Sendable {
      let next: Atomic<Int>
      let end: Int
      init(_ range: Range<Int>) {
        next = Atomic(range.lowerBound)
        end = range.upperBound
      }
    }

    init(body: @escaping (Int) -> Void, count: Int, helpers: Int) {
      (self.body, self.count, self.helpers) = (body, count, helpers)
      let w = helpers + 1
      shares = (0..<w).map { Share(count * $0 / w ..< count * ($0 + 1) / w) }
    }

    /// Claims and runs the chunks of participant `w`'s share, then those left in the others'.
    func work(_ w: Int) {
      for s in 0..<shares.count {
        let share = shares[(w + s) % shares.count]
        while true {
          let i = share.next.wrappingAdd(1, ordering: .relaxed).oldValue
          if i >= share.end { break }
          body!(i)
          finished.wrappingAdd(1, ordering: .releasing)
        }
      }
    }
  }

  private let generation = Atomic<Int>(0)
  private let current = Mutex<Job?>(nil)
  private let busy = Atomic<Bool>(false)
  private let sleepers = Atomic<Int>(0)
  private let wake = DispatchSemaphore(value: 0)
  private let started = Mutex(0)
  /// How long an idle worker spins before sleeping.
  private static let spinNanoseconds: UInt64 = 300_000

  /// Runs the job on the caller and up to `workers - 1` pool threads; false (nothing run) if
  /// another job is running.
  func run(_ count: Int, workers: Int, _ body: (Int) -> Void) -> Bool {
    guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
    defer { busy.store(false, ordering: .releasing) }
    startThreads(workers - 1)
    withoutActuallyEscaping(body) { body in
      let job = Job(body: body, count: count, helpers: workers - 1)
      current.withLock { $0 = job }
      generation.wrappingAdd(1, ordering: .releasing)
      let asleep = sleepers.exchange(0, ordering: .acquiringAndReleasing)
      for _ in 0..<asleep { wake.signal() }
      job.work(0)
      // Wait for chunks other threads claimed; if one of them was descheduled, give it the core.
      var spins = 0
      while job.finished.load(ordering: .acquiring) < count {
        spins += 1
        if spins > 1000 { sched_yield() }
      }
      current.withLock { $0 = nil }
      job.body = nil  // a late worker may still hold the job, never the closure
    }
    return true
  }

  private func startThreads(_ wanted: Int) {
    started.withLock { n in
      while n < wanted {
        n += 1
        DispatchQueue(label: "swiftgpt.worker.\(n)").async { self.workerLoop() }
      }
    }
  }

  private func workerLoop() {
    var seen = generation.load(ordering: .acquiring)
    while true {
      if generation.load(ordering: .acquiring) == seen {
        let start = monotonicNanoseconds()
        var spins = 0
        while generation.load(ordering: .acquiring) == seen {
          spins += 1
          if spins % 256 == 0 && monotonicNanoseconds() - start > Self.spinNanoseconds {
            sleepers.wrappingAdd(1, ordering: .acquiringAndReleasing)
            if generation.load(ordering: .acquiring) == seen { wake.wait() }
            spins = 0
          }
        }
      }
      seen = generation.load(ordering: .acquiring)
      guard let job = current.withLock({ $0 }) else { continue }
      let index = job.joined.wrappingAdd(1, ordering: .relaxed).oldValue
      if index < job.helpers { job.work(index + 1) }
    }
  }
}

private func monotonicNanoseconds() -> UInt64 {
  var t = timespec()
  clock_gettime(CLOCK_MONOTONIC, &t)
  return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
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
  /// The `forRows` cost of one element of a memory-bound elementwise op (a copy, an add): from
  /// about 32k elements (tens of microseconds) on, splitting beats a single thread.
  public static let memoryBoundCost = 4

  /// Runs `body` over contiguous slices of `0..<rows`, split across threads when the work
  /// (`rows · costPerRow`, roughly in flops) is large enough to pay for it.
  @inlinable
  public static func forRows(_ rows: Int, costPerRow: Int, _ body: (Range<Int>) -> Void) {
    let chunks = rows * costPerRow < 1 << 17 ? 1 : min(rows, 8 * threads)
    if chunks <= 1 { body(0..<rows); return }
    forEach(chunks) { c in body((rows * c / chunks)..<(rows * (c + 1) / chunks)) }
  }
}
