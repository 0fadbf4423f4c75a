import Foundation
import Hummingbird

/// An error in the OpenAI wire format, `{"error": {"message", "type", "code"}}` with the HTTP
/// status as `code` (as llama.cpp's server sends it), so the official clients raise the right
/// exception class.
public struct APIError: HTTPResponseError, Equatable {
  public let status: HTTPResponse.Status
  public let type: String
  public let message: String
  /// Seconds a client should wait before trying again (`Retry-After`, with 503).
  public var retryAfter: Int?

  public init(_ status: HTTPResponse.Status, _ type: String, _ message: String, retryAfter: Int? = nil) {
    (self.status, self.type, self.message, self.retryAfter) = (status, type, message, retryAfter)
  }

  static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "invalid_request_error", message) }
  static func contextExceeded(_ message: String) -> APIError { APIError(.badRequest, "exceed_context_size_error", message) }

  public func response(from request: Request, context: some RequestContext) throws -> Response {
    let body: [String: [String: AnyCodable]] = [
      "error": ["message": .string(message), "type": .string(type), "code": .int(Int(status.code))],
    ]
    var buffer = ByteBuffer()
    buffer.writeBytes(try jsonEncoder.encode(body))
    var headers: HTTPFields = [.contentType: "application/json"]
    if let retryAfter { headers[.retryAfter] = String(retryAfter) }
    return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
  }
}

/// A JSON scalar, for the few free-form objects of the API.
enum AnyCodable: Codable, Equatable {
  case string(String), int(Int), double(Double)

  func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    switch self {
    case .string(let s): try c.encode(s)
    case .int(let i): try c.encode(i)
    case .double(let d): try c.encode(d)
    }
  }

  init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if let i = try? c.decode(Int.self) { self = .int(i) } else if let d = try? c.decode(Double.self) { self = .double(d) } else {
      self = .string(try c.decode(String.self))
    }
  }
}
