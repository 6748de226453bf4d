import Foundation
import HoldfastCore
import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// What a request carries through the middleware chain to its route.
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var remoteAddress: SocketAddress?
    public let webSocket: WebSocketHandlerReference<Self>
    /// The connection, so the terminal gateway can watch its raw traffic (pongs included).
    let channel: any Channel
    /// The signed-in user, set by `AuthenticationMiddleware` when the request has a valid token.
    public var user: User?
    /// The token the user signed in with (its digest), so logout can end exactly this sign-in.
    var tokenDigest: String?
    /// Whether the user came from the sign-in cookie rather than an `Authorization` header: a
    /// browser sends the cookie to us whichever site made the request, so what it may do is narrower.
    var signedInByCookie = false
    /// The node that forwarded this request for `user` (`NodeCredential`), if one did.
    var forwardedBy: String?
    /// Who sent the request: the peer, or behind a trusted proxy the client it names
    /// (`ClientAddressMiddleware`); `nil` in-process.
    var client: IPAddress?

    /// Request bodies are small JSON documents; a cap keeps a client from filling memory.
    public var maxUploadSize: Int { 64 * 1024 }

    /// Dates go out as ISO 8601 with milliseconds: a session's `lostAt` is a precise instant,
    /// and whole seconds would misstate it by up to a second.
    public var responseEncoder: JSONEncoder { .api }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.webSocket = .init()
        self.channel = source.channel
    }

    /// The signed-in user, or a 401 telling the client to sign in.
    public func requireUser() throws -> User {
        guard let user = self.user else {
            throw APIError(
                .unauthorized, code: "unauthenticated",
                message: "Sign in first: POST /api/v1/auth/login, then send the token as 'Authorization: Bearer TOKEN'.")
        }
        return user
    }

    /// The client's address as a throttle key; in-process tests have none.
    var clientAddress: String {
        self.client?.description ?? "local"
    }
}

extension AppRequestContext {
    /// The `:id` path parameter as an id of `Tag`; anything else is reported as not found (an id
    /// that cannot exist names nothing).
    func identifier<Tag>(_ tag: Tag.Type, noun: String) throws -> Identifier<Tag> {
        let text = self.parameters.get("id") ?? ""
        guard let id = Identifier<Tag>(text) else {
            throw CoreError.notFound("There is no \(noun) \(text.prefix(80)).")
        }
        return id
    }
}

extension Request {
    /// `?limit=&offset=` of a list: 50 and 0 by default, limit 1 to 200.
    func page() throws -> (limit: Int, offset: Int) {
        let query = self.uri.queryParameters
        let limit = query.get("limit").flatMap { Int($0) } ?? 50
        let offset = query.get("offset").flatMap { Int($0) } ?? 0
        guard (1...200).contains(limit), offset >= 0 else {
            throw CoreError.invalidInput("invalid_page", "limit must be 1 to 200 and offset 0 or more.")
        }
        return (limit, offset)
    }
}
