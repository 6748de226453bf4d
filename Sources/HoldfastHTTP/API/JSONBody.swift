import Foundation
import HoldfastCore
import Hummingbird

extension Request {
    /// Reads a JSON body of at most `context.maxUploadSize` bytes into `T`.
    ///
    /// Requires `Content-Type: application/json`, which also keeps other sites from posting
    /// forms to the API with a visitor's cookie (a browser cannot send JSON cross-site
    /// without a CORS preflight, which we never grant). Decoding failures become a 400 that
    /// names the field at fault.
    func decodeJSON<T: Decodable>(as type: T.Type, context: AppRequestContext) async throws -> T {
        let contentType = self.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            throw APIError(
                .unsupportedMediaType, code: "unsupported_media_type",
                message: "Send the body as JSON with 'Content-Type: application/json'.")
        }
        var request = self
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: context.maxUploadSize)
        } catch {
            throw APIError(
                .contentTooLarge, code: "body_too_large", message: "The request body is larger than \(context.maxUploadSize / 1024) KiB.")
        }
        let decoder = JSONDecoder.api
        do {
            return try decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw APIError(.badRequest, code: "invalid_json", message: Self.describe(error))
        } catch let error as CalendarError {
            throw error  // well-formed JSON that breaks a calendar rule: a 422 naming the rule
        } catch let error as CoreError {
            throw error
        } catch {
            throw APIError(.badRequest, code: "invalid_json", message: "The body is not valid JSON.")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return "The field '\(field)' is missing."
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "The field '\(path(context.codingPath))' has the wrong type or is null."
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            return "The field '\(path(context.codingPath))' is not valid: \(context.debugDescription)"
        default:
            return "The body is not valid JSON."
        }
    }
}

extension JSONEncoder {
    /// The API's encoder: ISO 8601 dates in UTC with milliseconds (``APIDate``), as ``JSONWriter``
    /// writes them. One instance: its options never change, and encoding is thread-safe.
    static let api: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(APIDate.text(date))
        }
        return encoder
    }()
}

extension JSONDecoder {
    /// The API's decoder: ISO 8601 dates with or without fractional seconds.
    static var api: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = Date(apiText: text) {
                return date
            }
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "'\(text)' is not an ISO 8601 date-time such as 2026-11-26T14:05:00Z")
        }
        return decoder
    }
}

extension Date {
    /// An ISO 8601 instant as the API accepts it, with or without fractional seconds.
    init?(apiText text: String) {
        guard
            let date = (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
                ?? (try? Date(text, strategy: .iso8601))
        else { return nil }
        self = date
    }
}
