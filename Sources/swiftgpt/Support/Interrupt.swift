#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Ctrl-C handling for long runs: the first SIGINT sets a flag the loop polls (so it can save a
/// checkpoint and exit cleanly); a second one kills the process as usual.
enum Interrupt {
  private static let flag = Atomic<Bool>(false)

  static var requested: Bool { flag.load(ordering: .relaxed) }

  static func install() {
    // A parent may have started us with SIGINT blocked (the mask is inherited); unblock it.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    signal(SIGINT) { _ in
      Interrupt.flag.store(true, ordering: .relaxed)
      signal(SIGINT, SIG_DFL)
    }
  }
}
