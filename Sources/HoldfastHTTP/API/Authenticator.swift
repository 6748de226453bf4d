import Crypto
import Foundation
import HoldfastCore
import Hummingbird
import HummingbirdBcrypt
import NIOPosix
import Synchronization

/// Signs people in and out, and recognises the tokens it handed out.
public final class Authenticator: Sendable {
    public struct Configuration: Sendable {
        /// How long a sign-in lasts.
        public var tokenLifetime: TimeInterval = 12 * 3600
        /// bcrypt cost for new hashes; 12 takes ~0.25 s here, which is the point.
        public var bcryptCost: UInt8 = 12
        public var throttle = LoginThrottle.Limits()

        public init() {}
    }

    /// A completed sign-in: the bearer token (shown to the client once) and who it is.
    public struct SignIn: Sendable {
        public var token: String
        public var user: User
        public var expiresAt: Date
    }

    let configuration: Configuration
    let repositories: Repositories
    let now: @Sendable () -> Date
    private let throttle: Mutex<LoginThrottle>
    /// Verified against when the e-mail is unknown, so a wrong e-mail takes as long as a
    /// wrong password and response times do not reveal which accounts exist.
    private let decoyHash: String
    /// Recently recognised tokens, by digest: most requests of a client come in bursts, and two
    /// store reads per request are most of an API call's cost. An entry lives `recognitionTTL`
    /// at most, so a token deleted by another server (or a user changed) is noticed that late at
    /// the latest; a sign-out here drops it at once.
    private let recognised = Mutex<[String: (user: User, tokenExpiresAt: Date, until: Date)]>([:])
    static let recognitionTTL: TimeInterval = 2
    private static let retryAfter = HTTPFields.Element.Name("Retry-After")!
    static let recognitionCapacity = 10_000

    public init(configuration: Configuration, repositories: Repositories, now: @escaping @Sendable () -> Date) {
        self.configuration = configuration
        self.repositories = repositories
        self.now = now
        self.throttle = Mutex(LoginThrottle(limits: configuration.throttle))
        self.decoyHash = Bcrypt.hash(UUID().uuidString, cost: configuration.bcryptCost)
    }

    /// Hashes a new password off the request threads (bcrypt is slow by design).
    public func hash(password: String) async throws -> String {
        let cost = self.configuration.bcryptCost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    /// Checks an e-mail and password and opens a sign-in.
    /// - Throws: `429 too_many_attempts` with `Retry-After` while this address must wait (see
    ///   ``LoginThrottle``), `unauthenticated` on a mismatch.
    public func signIn(email: String, password: String, address: String) async throws -> SignIn {
        let account = email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let now = self.now()
        let attempt: LoginThrottle.Attempt
        switch self.throttle.withLock({ $0.admit(account: account, address: address, now: now) }) {
        case .proceed(let admitted):
            attempt = admitted
        case .wait(let until):
            let seconds = max(1, Int(until.timeIntervalSince(now).rounded(.up)))
            throw APIError(
                .tooManyRequests, code: "too_many_attempts",
                message: "Too many failed sign-ins from here; try again in \(seconds) seconds.",
                headers: [Self.retryAfter: "\(seconds)"])
        }
        let credentials = try await self.repositories.users.credentials(email: account)
        let hash = credentials?.passwordHash ?? self.decoyHash
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
        guard matches, let user = credentials?.user else {
            let answered = self.now()
            self.throttle.withLock { $0.failed(attempt, now: answered) }
            throw CoreError(.unauthenticated, code: "invalid_credentials", message: "The e-mail or password is wrong.")
        }
        self.throttle.withLock { $0.succeeded(attempt) }
        let token = Self.newToken()
        let expiresAt = now.addingTimeInterval(self.configuration.tokenLifetime)
        try await self.repositories.accessTokens.create(
            AccessToken(digest: Self.digest(of: token), userID: user.id, createdAt: now, expiresAt: expiresAt)
        )
        return SignIn(token: token, user: user, expiresAt: expiresAt)
    }

    /// The user a bearer token belongs to, or `nil` when it is unknown or expired.
    public func user(forToken token: String) async throws -> (user: User, digest: String)? {
        guard token.count <= 128 else { return nil }
        let digest = Self.digest(of: token)
        let now = self.now()
        if let entry = self.recognised.withLock({ $0[digest] }), now < entry.until, now < entry.tokenExpiresAt {
            return (entry.user, digest)
        }
        guard let stored = try await self.repositories.accessTokens.find(digest: digest), stored.isValid(at: now),
            let user = try await self.repositories.users.find(id: stored.userID)
        else { return nil }
        self.recognised.withLock { cache in
            if cache.count >= Self.recognitionCapacity { cache.removeAll(keepingCapacity: true) }
            cache[digest] = (user, stored.expiresAt, now.addingTimeInterval(Self.recognitionTTL))
        }
        return (user, digest)
    }

    /// Ends one sign-in.
    public func signOut(digest: String) async throws {
        _ = self.recognised.withLock { $0.removeValue(forKey: digest) }
        try await self.repositories.accessTokens.delete(digest: digest)
    }

    /// 32 random bytes, base64url: unguessable, and safe in a header and a cookie.
    public static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func digest(of token: String) -> String {
        let hex = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in SHA256.hash(data: Data(token.utf8)) {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
