import Foundation

/// Stored tenants.
public protocol TenantRepository: Sendable {
    /// Stores a new tenant. Throws `conflict` (`slug_taken`) when the slug is in use.
    func create(_ tenant: Tenant) async throws
    func find(id: Tenant.ID) async throws -> Tenant?
    func find(slug: String) async throws -> Tenant?
    /// Every tenant, by slug.
    func list() async throws -> [Tenant]
    /// Saves a changed tenant (name, time zone, grace); the id and slug stay.
    func update(_ tenant: Tenant) async throws
}

/// Stored users and their password hashes.
public protocol UserRepository: Sendable {
    /// Stores a new user with its bcrypt hash. Throws `conflict` (`email_taken`) when the
    /// e-mail is in use anywhere on the service.
    func create(_ user: User, passwordHash: String) async throws
    func find(id: User.ID) async throws -> User?
    /// The user and password hash for a login, by normalised e-mail.
    func credentials(email: String) async throws -> (user: User, passwordHash: String)?
    /// A tenant's users, by e-mail.
    func list(tenantID: Tenant.ID) async throws -> [User]
    /// How many users hold `role`, service-wide (used to create the first operator once).
    func count(role: Role) async throws -> Int
    /// The user's own Unix uid for sandboxed sessions, allocated on first use from
    /// `firstUID` upwards and never reused, so two users never share file ownership.
    func unixUID(for userID: User.ID, firstUID: UInt32) async throws -> UInt32
}

/// Stored sign-ins.
public protocol AccessTokenRepository: Sendable {
    func create(_ token: AccessToken) async throws
    func find(digest: String) async throws -> AccessToken?
    func delete(digest: String) async throws
    /// Removes tokens that expired before `date`; returns how many.
    @discardableResult func deleteExpired(before date: Date) async throws -> Int
}
