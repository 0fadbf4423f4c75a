import Dispatch
import FileSupport
import Hummingbird
import Server

/// An HTTP server running beside the command (the API of `serve`, the dashboard of `train`).
final class WebServer: @unchecked Sendable {
  /// The address it listens on, e.g. http://127.0.0.1:8080.
  private(set) var url = ""
  private var error: (any Error)?
  private let stopped = DispatchSemaphore(value: 0)

  /// Starts `router` on `host:port` and returns once it listens, or throws why it cannot
  /// (a port in use, in `ListenError`'s words).
  init(_ router: Router<BasicRequestContext>, host: String, port: Int, stopOnSignals: Bool) throws {
    let listening = DispatchSemaphore(value: 0)
    // The router is handed to the server task and not used here again.
    nonisolated(unsafe) let router = router
    Task {
      do {
        try await serve(router, host: host, port: port, stopOnSignals: stopOnSignals) { url in
          self.url = url
          listening.signal()
        }
      } catch { self.error = error }
      listening.signal()
      stopped.signal()
    }
    listening.wait()
    if let error { throw CLIError("cannot serve on \(host):\(port): \(describe(error))") }
  }

  /// Returns when the server has stopped (SIGINT or SIGTERM with `stopOnSignals`).
  func wait() throws {
    stopped.wait()
    if let error { throw error }
  }
}
