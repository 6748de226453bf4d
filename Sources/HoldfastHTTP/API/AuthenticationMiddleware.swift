import Foundation
import HoldfastCore
import Hummingbird
import Logging

/// Finds the signed-in user from `Authorization: Bearer` or the session cookie.
///
/// It never rejects: routes decide whether they need a user (`context.requireUser()`), so
/// public pages and the login route pass through. A present but invalid bearer token is
/// rejected at once, though: a script with a stale token should hear so, not be treated
/// as anonymous.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    static let cookieName = "holdfast_session"

    let authenticator: Authenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization] {
            guard header.lowercased().hasPrefix("bearer "),
                let found = try await self.authenticator.user(
                    forToken: String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces))
            else {
                throw APIError(.unauthorized, code: "invalid_token", message: "The bearer token is unknown or expired; sign in again.")
            }
            context.user = found.user
            context.tokenDigest = found.digest
        } else if let cookie = request.cookies[Self.cookieName],
            let found = try await self.authenticator.user(forToken: cookie.value)
        {
            context.user = found.user
            context.tokenDigest = found.digest
        }
        if let user = context.user {
            context.logger[metadataKey: "user.id"] = "\(user.id)"
        }
        return try await next(request, context)
    }
}
