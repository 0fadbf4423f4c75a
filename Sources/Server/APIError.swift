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
    var buffer = ByteBuffer()
    buffer.writeBytes(try jsonEncoder.encode(ErrorBody(error: .init(message: message, type: type, code: Int(status.code)))))
    var headers: HTTPFields = [.contentType: "application/json"]
    if let retryAfter { headers[.retryAfter] = String(retryAfter) }
    return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
  }
}

/// `{"error": {"message", "type", "code"}}`.
private struct ErrorBody: Encodable {
  struct Detail: Encodable {
    var message: String
    var type: String
    var code: Int
  }
  var error: Detail
}
