import Foundation
import Hummingbird
import Logging

/// Runs `router` on `host:port` (port 0: any free port); `onRunning` gets the URL it listens on.
/// With `stopOnSignals`, SIGINT and SIGTERM stop it gracefully; without, it runs until the
/// process ends (a training run handles the signals itself).
public func serve(_ router: Router<BasicRequestContext>, host: String, port: Int, stopOnSignals: Bool = true,
                  onRunning: @escaping @Sendable (String) -> Void) async throws {
  var logger = Logger(label: "swiftgpt.serve")
  logger.logLevel = .warning
  let app = Application(
    router: router,
    configuration: .init(address: .hostname(host, port: port), serverName: "swiftgpt"),
    onServerRunning: { channel in
      onRunning("http://\(host):\(channel.localAddress?.port ?? port)")
    },
    logger: logger)
  try await app.runService(gracefulShutdownSignals: stopOnSignals ? [.sigterm, .sigint] : [])
}
