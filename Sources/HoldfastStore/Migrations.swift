import Foundation
import SQLKit

/// One step of the schema, applied once and recorded in `schema_migrations`.
struct Migration: Sendable {
    let version: Int
    let name: String
    let apply: @Sendable (any SQLDatabase) async throws -> Void
}

extension Database {
    /// Brings the schema up to date; safe to call from several processes at once.
    ///
    /// All steps run in one transaction, so a failure leaves the schema as it was. On
    /// PostgreSQL an advisory lock makes concurrent starters wait for each other; on SQLite
    /// `BEGIN IMMEDIATE` does the same.
    /// - Returns: the versions applied by this call.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await self.withTransaction { database in
            if !self.isSQLite {
                try await database.raw("SELECT pg_advisory_xact_lock(7206001)").run()
            }
            try await database.create(table: "schema_migrations")
                .ifNotExists()
                .column("version", type: .bigint, .primaryKey(autoIncrement: false))
                .column("name", type: .text, .notNull)
                .column("applied_at", type: .bigint, .notNull)
                .run()
            let done = Set(
                try await database.select().column("version").from("schema_migrations")
                    .all().map { try $0.decode(column: "version", as: Int.self) }
            )
            var applied: [Int] = []
            for migration in Self.migrations where !done.contains(migration.version) {
                try await migration.apply(database)
                try await database.insert(into: "schema_migrations")
                    .columns("version", "name", "applied_at")
                    .values(SQLBind(migration.version), SQLBind(migration.name), SQLBind(Date().millisecondsSince1970))
                    .run()
                applied.append(migration.version)
            }
            return applied
        }
    }

    /// The schema, oldest step first. Never edit a step that has shipped: add one.
    static let migrations: [Migration] = [
        Migration(version: 1, name: "accounts") { database in
            try await database.create(table: "tenants")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("name", type: .text, .notNull)
                .column("slug", type: .text, .notNull, .unique)
                .column("time_zone", type: .text, .notNull)
                .column("grace_seconds", type: .bigint)
                .column("created_at", type: .bigint, .notNull)
                .run()
            try await database.create(table: "users")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("tenant_id", type: .text, .notNull, .references("tenants", "id"))
                .column("email", type: .text, .notNull, .unique)
                .column("name", type: .text, .notNull)
                .column("role", type: .text, .notNull)
                .column("password_hash", type: .text, .notNull)
                .column("created_at", type: .bigint, .notNull)
                .run()
            try await database.create(index: "users_tenant_id").on("users").column("tenant_id").run()
            try await database.create(table: "access_tokens")
                .column("digest", type: .text, .primaryKey(autoIncrement: false))
                .column("user_id", type: .text, .notNull, .references("users", "id"))
                .column("created_at", type: .bigint, .notNull)
                .column("expires_at", type: .bigint, .notNull)
                .run()
            try await database.create(index: "access_tokens_expires_at").on("access_tokens").column("expires_at").run()
        },
        Migration(version: 2, name: "sessions") { database in
            try await database.create(table: "sessions")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("tenant_id", type: .text, .notNull, .references("tenants", "id"))
                .column("user_id", type: .text, .notNull, .references("users", "id"))
                .column("kind", type: .text, .notNull)
                .column("state", type: .text, .notNull)
                .column("created_at", type: .bigint, .notNull)
                // The state machine's persisted fields as JSON; `state` is a column for queries.
                .column("machine", type: .text, .notNull)
                .run()
            try await database.create(index: "sessions_user_id").on("sessions").column("user_id").run()
            try await database.create(index: "sessions_tenant_state").on("sessions").column("tenant_id").column("state").run()
            try await database.create(table: "session_events")
                .column("id", type: .bigint, .primaryKey(autoIncrement: true))
                .column("session_id", type: .text, .notNull, .references("sessions", "id"))
                .column("at", type: .bigint, .notNull)
                .column("type", type: .text, .notNull)
                .column("detail", type: .text, .notNull)
                .run()
            try await database.create(index: "session_events_session_id").on("session_events").column("session_id").run()
            try await database.create(table: "attach_tickets")
                .column("digest", type: .text, .primaryKey(autoIncrement: false))
                .column("session_id", type: .text, .notNull, .references("sessions", "id"))
                .column("user_id", type: .text, .notNull, .references("users", "id"))
                .column("expires_at", type: .bigint, .notNull)
                .run()
        },
        Migration(version: 3, name: "unix accounts") { database in
            try await database.create(table: "unix_accounts")
                .column("user_id", type: .text, .primaryKey(autoIncrement: false), .references("users", "id"))
                .column("uid", type: .bigint, .notNull, .unique)
                .run()
        },
        Migration(version: 4, name: "tenant retention") { database in
            // JSON of RetentionPolicy; NULL is the standard policy.
            try await database.alter(table: "tenants").column("retention", type: .text).run()
        },
    ]
}

extension Date {
    /// Times are stored as integer milliseconds since 1970 in both dialects, so comparisons
    /// and ordering behave the same in SQLite and PostgreSQL.
    var millisecondsSince1970: Int64 {
        Int64((self.timeIntervalSince1970 * 1000).rounded())
    }

    init(millisecondsSince1970 milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
