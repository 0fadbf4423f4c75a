import Foundation
import Hummingbird
import Logging

/// Runs the API of `server` on `host:port` (port 0: any free port) until SIGINT or SIGTERM,
/// which stop it gracefully; `onRunning` gets the URL it listens on.
public func serve(_ server: ModelServer, host: String, port: Int, options: ServerOptions = ServerOptions(),
                  onRunning: @escaping @Sendable (String) -> Void) async throws {
  var logger = Logger(label: "swiftgpt.serve")
  logger.logLevel = .warning
  let app = Application(
    router: makeRouter(server, options: options),
    configuration: .init(address: .hostname(host, port: port), serverName: "swiftgpt"),
    onServerRunning: { channel in
      onRunning("http://\(host):\(channel.localAddress?.port ?? port)")
    },
    logger: logger)
  try await app.runService()
}
