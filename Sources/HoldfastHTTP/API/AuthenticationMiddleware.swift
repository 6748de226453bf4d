import Foundation
import HTTPTypes
import HoldfastCore
import Hummingbird
import Logging

/// Finds the signed-in user from `Authorization: Bearer` or the session cookie, and keeps other
/// sites from acting with the cookie.
///
/// It does not ask for a user: routes decide whether they need one (`context.requireUser()`),
/// so public pages and the login route pass through. A present but invalid bearer token is
/// rejected at once, though: a script with a stale token should hear so, not be treated
/// as anonymous.
///
/// Cross-site request forgery: a request that may change something (any method but GET, HEAD,
/// OPTIONS) is refused when its `Origin` names another site (`403 cross_origin`: a forged
/// sign-in included), and one that acts with the cookie must show it comes from our own pages —
/// our `Origin`, or `Sec-Fetch-Site: same-origin` (`403 origin_required`). A bearer token is
/// never sent by a browser on its own, so requests carrying one need neither.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let authenticator: Authenticator
    let cookie: SessionCookie
    let origins: OriginPolicy
    /// Checks the headers of requests other nodes forward; `nil` refuses every one.
    var nodeCredential: NodeCredential?
    var users: (any UserRepository)?
    var now: @Sendable () -> Date = { Date() }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let changes = !request.method.isSafe
        let verdict = changes ? self.origins.check(origin: request.headers[.origin], host: request.head.authority) : .absent
        if case .foreign(let origin) = verdict {
            context.logger.notice("cross-origin request refused", metadata: ["origin": "\(origin)"])
            throw APIError(
                .forbidden, code: "cross_origin", message: "A page of \(origin) may not make changes here; use this service's own pages.")
        }
        if let vouched = request.headers[HTTPField.Name(NodeCredential.header)!] {
            // Another node acting for a user it authenticated (never the user's own token).
            guard let credential = self.nodeCredential, let users = self.users,
                let (node, userID) = credential.verify(vouched, method: request.method.rawValue, path: request.uri.path, at: self.now()),
                let user = try await users.find(id: userID)
            else {
                context.logger.notice("a node-to-node request was refused (forged, altered, stale, or no cluster secret here)")
                throw APIError(
                    .unauthorized, code: "invalid_node_credential",
                    message: "The node-to-node credential is not valid here; nodes must share one --cluster-secret-file.")
            }
            context.user = user
            context.forwardedBy = node
        } else if let header = request.headers[.authorization] {
            guard header.lowercased().hasPrefix("bearer "),
                let found = try await self.authenticator.user(
                    forToken: String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces))
            else {
                throw APIError(.unauthorized, code: "invalid_token", message: "The bearer token is unknown or expired; sign in again.")
            }
            context.user = found.user
            context.tokenDigest = found.digest
        } else if let token = self.cookie.token(in: request),
            let found = try await self.authenticator.user(forToken: token)
        {
            context.user = found.user
            context.tokenDigest = found.digest
            context.signedInByCookie = true
            if changes,
                !self.origins.allowsCookieWrite(
                    verdict, fetchSite: request.headers.first { $0.name.canonicalName == "sec-fetch-site" }?.value)
            {
                throw APIError(
                    .forbidden, code: "origin_required",
                    message: "A change made with the sign-in cookie must come from this service's own pages (their Origin header); "
                        + "scripts send 'Authorization: Bearer TOKEN' instead.")
            }
        }
        if let user = context.user {
            context.logger[metadataKey: "user.id"] = "\(user.id)"
        }
        return try await next(request, context)
    }
}
