import Foundation
import HoldfastCore
import SQLKit

/// Tenants in SQL.
public struct SQLTenantRepository: TenantRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func create(_ tenant: Tenant) async throws {
        try await self.database.withTransaction { sql in
            guard try await Self.query(sql).where("slug", .equal, tenant.slug).first() == nil else {
                throw CoreError.conflict("slug_taken", "The slug '\(tenant.slug)' is already taken; choose another.")
            }
            try await sql.insert(into: "tenants")
                .columns("id", "name", "slug", "time_zone", "grace_seconds", "retention", "network", "limits", "created_at")
                .values(
                    SQLBind(tenant.id.description), SQLBind(tenant.name), SQLBind(tenant.slug),
                    SQLBind(tenant.timeZone), SQLBind(tenant.graceSeconds), SQLBind(try Self.json(tenant.retention)),
                    SQLBind(tenant.network?.rawValue), SQLBind(try Self.json(tenant.limits)),
                    SQLBind(tenant.createdAt.millisecondsSince1970)
                )
                .run()
        }
    }

    public func find(id: Tenant.ID) async throws -> Tenant? {
        try await self.database.withConnection { sql in
            try await Self.query(sql).where("id", .equal, id.description).first().map(Self.tenant)
        }
    }

    public func find(slug: String) async throws -> Tenant? {
        try await self.database.withConnection { sql in
            try await Self.query(sql).where("slug", .equal, slug).first().map(Self.tenant)
        }
    }

    public func list() async throws -> [Tenant] {
        try await self.database.withConnection { sql in
            try await Self.query(sql).orderBy("slug").all().map(Self.tenant)
        }
    }

    public func update(_ tenant: Tenant) async throws {
        try await self.database.withConnection { sql in
            try await sql.update("tenants")
                .set("name", to: SQLBind(tenant.name))
                .set("time_zone", to: SQLBind(tenant.timeZone))
                .set("grace_seconds", to: SQLBind(tenant.graceSeconds))
                .set("retention", to: SQLBind(try Self.json(tenant.retention)))
                .set("network", to: SQLBind(tenant.network?.rawValue))
                .set("limits", to: SQLBind(try Self.json(tenant.limits)))
                .where("id", .equal, tenant.id.description)
                .run()
        }
    }

    private static func query(_ sql: any SQLDatabase) -> SQLSelectBuilder {
        sql.select().columns("id", "name", "slug", "time_zone", "grace_seconds", "retention", "network", "limits", "created_at")
            .from("tenants")
    }

    private static func json(_ value: (some Encodable)?) throws -> String? {
        try value.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
    }

    private static func tenant(_ row: any SQLRow) throws -> Tenant {
        Tenant(
            id: try row.decode(column: "id", as: String.self).asIdentifier(),
            name: try row.decode(column: "name", as: String.self),
            slug: try row.decode(column: "slug", as: String.self),
            timeZone: try row.decode(column: "time_zone", as: String.self),
            graceSeconds: try row.decode(column: "grace_seconds", as: Int?.self),
            retention: try row.decode(column: "retention", as: String?.self).map {
                try JSONDecoder().decode(RetentionPolicy.self, from: Data($0.utf8))
            },
            // An unknown word (written by a newer server) reads as the narrowest access rather than
            // making the tenant unreadable or its sessions more open than someone chose.
            network: try row.decode(column: "network", as: String?.self).map { NetworkAccess(rawValue: $0) ?? NetworkAccess.none },
            limits: try row.decode(column: "limits", as: String?.self).map {
                try JSONDecoder().decode(SessionLimits.self, from: Data($0.utf8))
            },
            createdAt: Date(millisecondsSince1970: try row.decode(column: "created_at", as: Int64.self))
        )
    }
}

/// Users and password hashes in SQL.
public struct SQLUserRepository: UserRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func create(_ user: User, passwordHash: String) async throws {
        try await self.database.withTransaction { sql in
            guard try await Self.query(sql).where("email", .equal, user.email).first() == nil else {
                throw CoreError.conflict("email_taken", "A user with the e-mail '\(user.email)' already exists.")
            }
            try await sql.insert(into: "users")
                .columns("id", "tenant_id", "email", "name", "role", "password_hash", "created_at")
                .values(
                    SQLBind(user.id.description), SQLBind(user.tenantID.description), SQLBind(user.email),
                    SQLBind(user.name), SQLBind(user.role.rawValue), SQLBind(passwordHash),
                    SQLBind(user.createdAt.millisecondsSince1970)
                )
                .run()
        }
    }

    public func find(id: User.ID) async throws -> User? {
        try await self.database.withConnection { sql in
            try await Self.query(sql).where("id", .equal, id.description).first().map(Self.user)
        }
    }

    public func credentials(email: String) async throws -> (user: User, passwordHash: String)? {
        let found = try await self.database.withConnection { sql in
            try await Self.query(sql).column("password_hash").where("email", .equal, email).first()
                .map { Credentials(user: try Self.user($0), passwordHash: try $0.decode(column: "password_hash", as: String.self)) }
        }
        return found.map { ($0.user, $0.passwordHash) }
    }

    public func list(tenantID: Tenant.ID) async throws -> [User] {
        try await self.database.withConnection { sql in
            try await Self.query(sql).where("tenant_id", .equal, tenantID.description).orderBy("email").all().map(Self.user)
        }
    }

    public func count(role: Role) async throws -> Int {
        try await self.database.withConnection { sql in
            try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("users")
                .where("role", .equal, role.rawValue).first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    public func unixUID(for userID: User.ID, firstUID: UInt32) async throws -> UInt32 {
        try await self.database.withTransaction { sql in
            if let row = try await sql.select().column("uid").from("unix_accounts").where("user_id", .equal, userID.description).first() {
                return UInt32(try row.decode(column: "uid", as: Int64.self))
            }
            if !self.database.isSQLite {
                // Serialise allocations on PostgreSQL; SQLite's BEGIN IMMEDIATE already does.
                try await sql.raw("LOCK TABLE unix_accounts IN EXCLUSIVE MODE").run()
            }
            let highest = try await sql.select().column(SQLFunction("MAX", args: SQLColumn("uid")), as: "m").from("unix_accounts")
                .first()?.decode(column: "m", as: Int64?.self)
            let uid = max(Int64(firstUID), (highest ?? 0) + 1)
            try await sql.insert(into: "unix_accounts").columns("user_id", "uid").values(SQLBind(userID.description), SQLBind(uid)).run()
            return UInt32(uid)
        }
    }

    private struct Credentials: Sendable {
        var user: User
        var passwordHash: String
    }

    private static func query(_ sql: any SQLDatabase) -> SQLSelectBuilder {
        sql.select().columns("id", "tenant_id", "email", "name", "role", "created_at").from("users")
    }

    private static func user(_ row: any SQLRow) throws -> User {
        let roleText = try row.decode(column: "role", as: String.self)
        guard let role = Role(rawValue: roleText) else {
            throw StoreError(code: "corrupt_row", message: "A stored user has the unknown role '\(roleText)'.")
        }
        return User(
            id: try row.decode(column: "id", as: String.self).asIdentifier(),
            tenantID: try row.decode(column: "tenant_id", as: String.self).asIdentifier(),
            email: try row.decode(column: "email", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            role: role,
            createdAt: Date(millisecondsSince1970: try row.decode(column: "created_at", as: Int64.self))
        )
    }
}

/// Sign-in tokens (their digests) in SQL.
public struct SQLAccessTokenRepository: AccessTokenRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func create(_ token: AccessToken) async throws {
        try await self.database.withConnection { sql in
            try await sql.insert(into: "access_tokens")
                .columns("digest", "user_id", "created_at", "expires_at")
                .values(
                    SQLBind(token.digest), SQLBind(token.userID.description),
                    SQLBind(token.createdAt.millisecondsSince1970), SQLBind(token.expiresAt.millisecondsSince1970)
                )
                .run()
        }
    }

    public func find(digest: String) async throws -> AccessToken? {
        try await self.database.withConnection { sql in
            try await sql.select().columns("digest", "user_id", "created_at", "expires_at").from("access_tokens")
                .where("digest", .equal, digest).first()
                .map { row in
                    AccessToken(
                        digest: try row.decode(column: "digest", as: String.self),
                        userID: try row.decode(column: "user_id", as: String.self).asIdentifier(),
                        createdAt: Date(millisecondsSince1970: try row.decode(column: "created_at", as: Int64.self)),
                        expiresAt: Date(millisecondsSince1970: try row.decode(column: "expires_at", as: Int64.self))
                    )
                }
        }
    }

    public func delete(digest: String) async throws {
        try await self.database.withConnection { sql in
            try await sql.delete(from: "access_tokens").where("digest", .equal, digest).run()
        }
    }

    public func deleteExpired(before date: Date) async throws -> Int {
        try await self.database.withTransaction { sql in
            let cutoff = date.millisecondsSince1970
            let count =
                try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("access_tokens")
                .where("expires_at", .lessThan, cutoff).first()?.decode(column: "n", as: Int.self) ?? 0
            try await sql.delete(from: "access_tokens").where("expires_at", .lessThan, cutoff).run()
            return count
        }
    }
}

extension Repositories {
    /// The SQL repositories over one database.
    public static func sql(_ database: Database) -> Repositories {
        Repositories(
            tenants: SQLTenantRepository(database: database),
            users: SQLUserRepository(database: database),
            accessTokens: SQLAccessTokenRepository(database: database),
            sessions: SQLSessionRepository(database: database),
            tickets: SQLTicketRepository(database: database),
            suggestions: SQLSuggestionRepository(database: database),
            outbox: SQLOutboxRepository(database: database),
            settings: SQLSettingsRepository(database: database),
            incidents: SQLIncidentRepository(database: database),
            maintenance: SQLMaintenanceRepository(database: database),
            usage: SQLUsageRepository(database: database),
            continuity: SQLContinuityRepository(database: database),
            audit: SQLAuditRepository(database: database),
            nodes: SQLNodeRepository(database: database)
        )
    }
}

extension String {
    /// Reads a stored id, failing loudly on a corrupt row rather than inventing one.
    func asIdentifier<Tag>() throws -> Identifier<Tag> {
        guard let id = Identifier<Tag>(self) else {
            throw StoreError(code: "corrupt_row", message: "A stored id '\(self)' is not a UUID.")
        }
        return id
    }
}
