import Foundation
import Hummingbird
import Training

/// A training run as the dashboard shows it: the log rows (loss, evaluations, learning rate,
/// gradient norm, tokens/s), generated samples and checkpoints. `train --dashboard` records
/// them as the run goes and every open page gets them at once (server-sent events);
/// `serve --run` shows a finished run from its log.
public final class TrainingDashboard: Sendable {
  /// What a page is sent: the whole state first, then each change.
  struct State: Encodable {
    var type = "snapshot"
    var title: String
    var info: [String: String]
    var rows: [LogRow] = []
    var samples: [Sample] = []
    var checkpoints: [Checkpoint] = []
    var finished = false
  }
  struct Sample: Encodable { var step: Int; var text: String }
  struct Checkpoint: Encodable { var step: Int; var path: String }
  /// One change, as `{"type": …}` JSON.
  private struct Change<Value: Encodable>: Encodable {
    var type: String
    var value: Value
  }

  private let state: Locked<State>
  private let subscribers = Locked<[UUID: AsyncStream<Data>.Continuation]>([:])

  /// A dashboard titled `title`, with `info` (model, data, options) shown beside the curves.
  public init(title: String, info: [String: String] = [:], rows: [LogRow] = []) {
    state = Locked(State(title: title, info: info, rows: rows))
  }

  /// Adds a log row (a step, or an evaluation).
  public func record(_ row: LogRow) { change(Change(type: "row", value: row)) { $0.rows.append(row) } }

  /// Adds text the model generated at `step`.
  public func recordSample(_ text: String, step: Int) {
    let sample = Sample(step: step, text: text)
    change(Change(type: "sample", value: sample)) { $0.samples.append(sample) }
  }

  /// Adds a checkpoint written at `step`.
  public func recordCheckpoint(_ path: String, step: Int) {
    let checkpoint = Checkpoint(step: step, path: path)
    change(Change(type: "checkpoint", value: checkpoint)) { $0.checkpoints.append(checkpoint) }
  }

  /// Marks the run finished.
  public func finish() { change(Change(type: "finished", value: true)) { $0.finished = true } }

  /// The whole state, as JSON.
  func snapshot() throws -> Data { try jsonEncoder.encode(state.value) }

  /// The snapshot, then every change, until the page goes away.
  func subscribe() -> AsyncStream<Data> {
    let id = UUID()
    let (stream, continuation) = AsyncStream<Data>.makeStream()
    continuation.onTermination = { [subscribers] _ in subscribers.update { $0[id] = nil } }
    // Under the state's lock, so no change falls between the snapshot and the subscription.
    state.read { current in
      continuation.yield((try? jsonEncoder.encode(current)) ?? Data())
      subscribers.update { $0[id] = continuation }
    }
    return stream
  }

  private func change<Value: Encodable>(_ event: Change<Value>, _ apply: @Sendable (inout State) -> Void) {
    guard let data = try? jsonEncoder.encode(event) else { return }
    state.update { current in
      apply(&current)
      for continuation in subscribers.value.values { continuation.yield(data) }
    }
  }
}

/// `/dashboard` (the page), `/dashboard/state` (JSON) and `/dashboard/events` (server-sent
/// events: the state, then each change).
func addDashboard(_ dashboard: TrainingDashboard, to router: Router<BasicRequestContext>) {
  addPages(["/dashboard": "dashboard.html"], to: router)
  router.get("dashboard/state") { _, _ in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try dashboard.snapshot())))
  }
  router.get("dashboard/events") { _, _ in
    let events = dashboard.subscribe()
    return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: ResponseBody { writer in
      for await event in events { try await writer.write(serverSentEvent(event)) }
      try await writer.finish(nil)
    })
  }
}

/// The router of `train --dashboard`: the dashboard, `/health`, `/props` (no model) and `/`
/// leading to the dashboard.
public func makeDashboardRouter(_ dashboard: TrainingDashboard) -> Router<BasicRequestContext> {
  let router = Router()
  router.add(middleware: OpenAIErrorMiddleware())
  router.get("health") { _, _ in ["status": "ok"] }
  router.get("props") { _, _ in ["dashboard": true] }
  router.get("/") { _, _ in Response(status: .seeOther, headers: [.location: "/dashboard"]) }
  addDashboard(dashboard, to: router)
  addAssets(to: router)
  return router
}
