import Foundation

/// A signed-in browser or API client. Only the SHA-256 digest of the bearer token is
/// stored, so a copy of the database does not let anyone sign in.
public struct AccessToken: Sendable, Codable, Hashable {
    /// Hex SHA-256 of the token the client holds.
    public var digest: String
    public var userID: User.ID
    public var createdAt: Date
    public var expiresAt: Date

    public init(digest: String, userID: User.ID, createdAt: Date, expiresAt: Date) {
        self.digest = digest
        self.userID = userID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    /// Whether the token may still be used at `now`.
    public func isValid(at now: Date) -> Bool {
        now < self.expiresAt
    }
}
