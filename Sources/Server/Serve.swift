import Foundation
import Hummingbird
import Logging
import NIOCore

/// Runs `router` on `host:port` (port 0: any free port); `onRunning` gets the URL it listens on.
/// With `stopOnSignals`, SIGINT and SIGTERM stop it gracefully; without, it runs until the
/// process ends (a training run handles the signals itself). An address it cannot listen on
/// throws a `ListenError`.
public func serve(_ router: Router<BasicRequestContext>, host: String, port: Int, stopOnSignals: Bool = true,
                  onRunning: @escaping @Sendable (String) -> Void) async throws {
  let running = Locked(false)
  var logger = Logger(label: "swiftgpt.serve")
  logger.logLevel = .warning
  let app = Application(
    router: router,
    configuration: .init(address: .hostname(host, port: port), serverName: "swiftgpt"),
    onServerRunning: { channel in
      running.update { $0 = true }
      onRunning("http://\(host):\(channel.localAddress?.port ?? port)")
    },
    logger: logger)
  do {
    try await app.runService(gracefulShutdownSignals: stopOnSignals ? [.sigterm, .sigint] : [])
  } catch where !running.value {
    throw ListenError(error, host: host) ?? error
  }
}

/// Why a server could not listen on its address, in words (NIO's errors name the system call);
/// also its `localizedDescription`, which error messages print.
public struct ListenError: LocalizedError, CustomStringConvertible {
  public let description: String
  public var errorDescription: String? { description }

  /// The reason of `error` from binding to `host`, if it is one of those.
  init?(_ error: any Error, host: String) {
    if error is SocketAddressError.UnknownHost {
      description = "no host is named \(host)"
      return
    }
    guard let error = error as? IOError else { return nil }
    switch error.errnoCode {
    case EADDRINUSE: description = "the port is in use (another server listens on it): stop it or choose another port"
    case EACCES: description = "permission denied (ports below 1024 need root)"
    case EADDRNOTAVAIL: description = "no network interface here has the address \(host)"
    default: description = String(cString: strerror(error.errnoCode))
    }
  }
}
