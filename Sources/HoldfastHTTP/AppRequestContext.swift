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
        switch self.remoteAddress {
        case .v4(let address): return address.host
        case .v6(let address): return address.host
        default: return "local"
        }
    }
}
