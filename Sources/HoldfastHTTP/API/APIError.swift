import Foundation
import HoldfastCore
import Hummingbird
import Logging

/// An error as clients see it: a status and `{"error":{"code","message"}}`.
///
/// This is the only place that knows HTTP statuses; the core throws `CoreError` and
/// `ErrorMiddleware` translates.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(ErrorBody(error: .init(code: self.code, message: self.message)))
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: self.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// The JSON shape of every error response.
struct ErrorBody: Encodable {
    struct Detail: Encodable {
        var code: String
        var message: String
    }

    var error: Detail
}

extension APIError {
    /// Maps any error a route or middleware threw to what the client is told.
    ///
    /// Errors we did not expect become a 500 with a message that reveals nothing; the
    /// details go to the log with the request id, so an operator can find them.
    init(from error: any Error) {
        switch error {
        case let error as APIError:
            self = error
        case let error as CoreError:
            self.init(Self.status(of: error.kind), code: error.code, message: error.message)
        case let error as CalendarError:
            self.init(.unprocessableContent, code: error.code, message: error.message)
        case let error as HTTPError:
            self.init(error.status, code: Self.code(of: error.status), message: error.body ?? Self.message(of: error.status))
        default:
            self.init(
                .internalServerError, code: "internal",
                message: "Something went wrong on the server; it has been logged. Try again, and report it if it persists.")
        }
    }

    private static func status(of kind: CoreError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .invalidInput: return .unprocessableContent
        case .notFound: return .notFound
        case .conflict: return .conflict
        case .forbidden: return .forbidden
        case .unauthenticated: return .unauthorized
        case .rateLimited: return .tooManyRequests
        case .tooLarge: return .contentTooLarge
        case .unavailable: return .serviceUnavailable
        }
    }

    private static func code(of status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: return "not_found"
        case .methodNotAllowed: return "method_not_allowed"
        case .contentTooLarge: return "body_too_large"
        case .badRequest: return "bad_request"
        case .unsupportedMediaType: return "unsupported_media_type"
        case .unauthorized: return "unauthenticated"
        case .forbidden: return "forbidden"
        default: return status.code < 500 ? "bad_request" : "internal"
        }
    }

    private static func message(of status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: return "There is nothing at this address; see /openapi.yaml for the API."
        case .methodNotAllowed: return "This address does not accept that method; see /openapi.yaml."
        case .contentTooLarge: return "The request body is too large."
        default: return status.reasonPhrase
        }
    }
}

/// Turns every error into the JSON error shape, and logs the ones that are our fault.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let apiError = APIError(from: error)
            if apiError.status.code >= 500 {
                context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            }
            return try apiError.response(from: request, context: context)
        }
    }
}
