import Foundation
import HoldfastCore
import HoldfastHTTP
import HoldfastStore

/// Account chores shared by `serve` (first start) and `holdfast admin`.
public struct Accounts: Sendable {
    public let repositories: Repositories
    public let authenticator: Authenticator
    let now: @Sendable () -> Date

    /// The operator account made on the first start, shown once on the console.
    public struct FirstOperator: Sendable {
        public var email: String
        public var password: String
    }

    static let operationsTenantSlug = "operations"
    static let firstOperatorEmail = "admin@holdfast.local"

    /// Creates a tenant from command-line or API input.
    public func createTenant(name: String, slug: String, timeZone: String?) async throws -> Tenant {
        let tenant = try Tenant.validated(name: name, slug: slug, timeZone: timeZone, createdAt: self.now())
        try await self.repositories.tenants.create(tenant)
        return tenant
    }

    /// Creates a user in the tenant `slug`, with a bcrypt hash of the password.
    public func createUser(tenantSlug: String, _ newUser: NewUser) async throws -> User {
        guard let tenant = try await self.repositories.tenants.find(slug: tenantSlug) else {
            throw CoreError.notFound("There is no tenant '\(tenantSlug)'; create it first with 'holdfast admin create-tenant'.")
        }
        let user = try newUser.validated(tenantID: tenant.id, createdAt: self.now())
        try await self.repositories.users.create(user, passwordHash: try await self.authenticator.hash(password: newUser.password))
        return user
    }

    /// Makes sure someone can sign in to a new installation: when no operator exists, creates
    /// the `operations` tenant and an operator with a generated password.
    /// - Returns: the new credentials, or `nil` when an operator already existed.
    public func ensureOperator() async throws -> FirstOperator? {
        guard try await self.repositories.users.count(role: .operator) == 0 else { return nil }
        if try await self.repositories.tenants.find(slug: Self.operationsTenantSlug) == nil {
            _ = try await self.createTenant(name: "Holdfast Operations", slug: Self.operationsTenantSlug, timeZone: "UTC")
        }
        let password = Self.generatePassword()
        let user = try await self.createUser(
            tenantSlug: Self.operationsTenantSlug,
            NewUser(email: Self.firstOperatorEmail, name: "Operator", password: password, role: Role.operator.rawValue)
        )
        try await self.repositories.audit.append(
            AuditEvent(
                at: self.now(), tenantID: user.tenantID, actorID: nil, actor: AuditEvent.service, action: .userCreated, target: user.email,
                detail: "role: operator (first start: no operator existed)", from: "local"))
        return FirstOperator(email: Self.firstOperatorEmail, password: password)
    }

    /// The unprivileged identity `user`'s sessions run as; `nil` when the server is not root, which
    /// cannot switch users: the host then refuses to launch sessions (`account_required`).
    public func unixAccount(for user: User) async throws -> UnixAccount? {
        guard getuid() == 0 else { return nil }
        let uid = try await self.repositories.users.unixUID(for: user.id, firstUID: Self.firstSessionUID)
        return UnixAccount(uid: uid, gid: uid)
    }

    /// Far above the uids Debian gives people and system services (1000–59999, 100–999).
    static let firstSessionUID: UInt32 = 200_000

    /// 20 characters from an alphabet without look-alikes (~115 bits).
    static func generatePassword() -> String {
        let alphabet = Array("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<20).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}
