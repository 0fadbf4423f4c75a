#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Ctrl-C (SIGINT) and SIGTERM (docker stop, Slurm, systemd) handling for long runs: the first
/// signal sets a flag the loop polls, so it can save and exit cleanly, and says so on stderr; a
/// second one ends the process at once, as usual.
enum Interrupt {
  private static let flag = Atomic<Bool>(false)

  static var requested: Bool { flag.load(ordering: .relaxed) }

  static func install() {
    // A parent may have started us with the signals blocked (the mask is inherited); unblock them.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    for signal in [SIGINT, SIGTERM] {
      Glibc.signal(signal) { received in
        Interrupt.flag.store(true, ordering: .relaxed)
        Glibc.signal(received, SIG_DFL)
        // write(2) is async-signal-safe; the text is static.
        let message: StaticString = "\nstopping: saving at the end of this step (signal again to quit without saving)\n"
        _ = write(STDERR_FILENO, message.utf8Start, message.utf8CodeUnitCount)
      }
    }
  }
}
