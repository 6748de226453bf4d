import Foundation
import HoldfastCore
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
            // A server never runs on a schema a newer version wrote: it would misread it.
            if let newest = done.max(), let known = Self.migrations.last?.version, newest > known {
                throw StoreError(
                    code: "schema_too_new",
                    message: "The database's schema is at version \(newest); this server knows versions up to \(known). Run a "
                        + "Holdfast release that knows schema version \(newest) (the newer one that upgraded this database).")
            }
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
        Migration(version: 5, name: "support desk") { database in
            // Ticket numbers come from this one-row counter, bumped with UPDATE … RETURNING in the creating
            // transaction (see SQLTicketRepository.create).
            try await database.create(table: "support_counters")
                .column("name", type: .text, .primaryKey(autoIncrement: false))
                .column("value", type: .bigint, .notNull)
                .run()
            try await database.insert(into: "support_counters").columns("name", "value")
                .values(SQLBind("ticket_number"), SQLBind(0)).run()
            try await database.create(table: "tickets")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("number", type: .bigint, .notNull, .unique)
                .column("tenant_id", type: .text, .notNull, .references("tenants", "id"))
                .column("requester_id", type: .text, .notNull, .references("users", "id"))
                .column("kind", type: .text, .notNull)
                .column("channel", type: .text, .notNull)
                .column("status", type: .text, .notNull)
                .column("priority", type: .text, .notNull)
                .column("subject", type: .text, .notNull)
                .column("description", type: .text, .notNull)
                .column("occurred_at", type: .bigint, .notNull)
                .column("what_happened", type: .text, .notNull)
                // No foreign key: the ticket keeps the id even if the session's rows are purged one day.
                .column("session_id", type: .text)
                .column("created_at", type: .bigint, .notNull)
                .column("updated_at", type: .bigint, .notNull)
                .column("first_response_target_minutes", type: .bigint)
                .column("first_response_due_at", type: .bigint)
                .column("first_responded_at", type: .bigint)
                .column("first_response_business_minutes", type: .bigint)
                // JSON: [[from, to]] in milliseconds; and the sorted list of breach warnings sent.
                .column("pauses", type: .text, .notNull)
                .column("paused_since", type: .bigint)
                .column("assignee_id", type: .text, .references("users", "id"))
                .column("breach_warnings_sent", type: .text, .notNull)
                .column("revision", type: .bigint, .notNull)
                .run()
            // The agent queue: only `new` and `open` tickets, in TicketQueue.precedes order, so a page is read
            // off the index without sorting; one index for a tenant's queue, one for every tenant's.
            let queueOrder = "(first_responded_at IS NOT NULL), (first_response_due_at IS NULL), first_response_due_at, number"
            let inQueue = "WHERE status IN ('new', 'open')"
            try await database.raw(
                "CREATE INDEX tickets_queue_tenant ON tickets (tenant_id, \(unsafeRaw: queueOrder)) \(unsafeRaw: inQueue)"
            )
            .run()
            try await database.raw("CREATE INDEX tickets_queue ON tickets (\(unsafeRaw: queueOrder)) \(unsafeRaw: inQueue)").run()
            try await database.create(index: "tickets_requester").on("tickets").column("requester_id").column("created_at")
                .column("number").run()
            try await database.create(table: "ticket_replies")
                // The insertion order, which is the thread's order.
                .column("seq", type: .bigint, .primaryKey(autoIncrement: true))
                .column("id", type: .text, .notNull, .unique)
                .column("ticket_id", type: .text, .notNull, .references("tickets", "id"))
                .column("author_id", type: .text, .notNull, .references("users", "id"))
                .column("side", type: .text, .notNull)
                .column("visibility", type: .text, .notNull)
                .column("body", type: .text, .notNull)
                .column("channel", type: .text, .notNull)
                .column("created_at", type: .bigint, .notNull)
                .run()
            try await database.create(index: "ticket_replies_ticket").on("ticket_replies").column("ticket_id").column("seq").run()
            try await database.create(table: "suggestions")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                // NULL: the service-wide board.
                .column("tenant_id", type: .text, .references("tenants", "id"))
                .column("author_id", type: .text, .notNull, .references("users", "id"))
                .column("title", type: .text, .notNull)
                .column("body", type: .text, .notNull)
                .column("status", type: .text, .notNull)
                .column("votes", type: .bigint, .notNull)
                .column("merged_into", type: .text, .references("suggestions", "id"))
                .column("created_at", type: .bigint, .notNull)
                .column("updated_at", type: .bigint, .notNull)
                .run()
            try await database.create(index: "suggestions_board").on("suggestions").column("tenant_id").column("votes").run()
            // One row per vote: the primary key is the "one vote per user" rule.
            for table in ["suggestion_votes", "suggestion_subscribers"] {
                try await database.create(table: table)
                    .column("suggestion_id", type: .text, .notNull, .references("suggestions", "id"))
                    .column("user_id", type: .text, .notNull, .references("users", "id"))
                    .primaryKey("suggestion_id", "user_id")
                    .run()
            }
            try await database.create(table: "outbox")
                // The insertion order, which breaks ties between rows written in the same millisecond.
                .column("seq", type: .bigint, .primaryKey(autoIncrement: true))
                .column("id", type: .text, .notNull, .unique)
                .column("kind", type: .text, .notNull)
                .column("to_address", type: .text, .notNull)
                .column("to_name", type: .text)
                .column("subject", type: .text, .notNull)
                .column("body", type: .text, .notNull)
                .column("created_at", type: .bigint, .notNull)
                .column("attempts", type: .bigint, .notNull)
                .column("next_attempt_at", type: .bigint, .notNull)
                .column("sent_at", type: .bigint)
                .column("last_error", type: .text)
                .column("failed_at", type: .bigint)
                .run()
            // Only the rows still to deliver: the mailer's poll stays cheap however many mails were sent.
            try await database.raw("CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL").run()
        },
        Migration(version: 6, name: "settings") { database in
            try await database.create(table: "settings")
                .column("key", type: .text, .primaryKey(autoIncrement: false))
                .column("value", type: .text, .notNull)
                .column("updated_at", type: .bigint, .notNull)
                .run()
        },
        Migration(version: 7, name: "status page and continuity") { database in
            try await database.create(table: "incidents")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("created_at", type: .bigint, .notNull)
                .column("resolved_at", type: .bigint)
                .column("body", type: .text, .notNull)
                .run()
            try await database.create(table: "maintenance_windows")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("starts_at", type: .bigint, .notNull)
                .column("ends_at", type: .bigint, .notNull)
                .column("state", type: .text, .notNull)
                .column("body", type: .text, .notNull)
                .run()
            try await database.create(index: "maintenance_windows_ends").on("maintenance_windows").column("ends_at").run()
            // One row per scope (a tenant id, or '' for the whole service) and UTC hour.
            try await database.create(table: "usage_hours")
                .column("scope", type: .text, .notNull)
                .column("hour_start", type: .bigint, .notNull)
                .column("sum", type: .bigint, .notNull)
                .column("minutes", type: .bigint, .notNull)
                .primaryKey("scope", "hour_start")
                .run()
            try await database.create(table: "tenant_troubleshooters")
                .column("tenant_id", type: .text, .primaryKey(autoIncrement: false), .references("tenants", "id"))
                .column("body", type: .text, .notNull)
                .column("updated_at", type: .bigint, .notNull)
                .run()
            try await database.create(table: "continuity_plans")
                .column("tenant_id", type: .text, .notNull, .references("tenants", "id"))
                .column("kind", type: .text, .notNull)
                .column("version", type: .bigint, .notNull)
                .column("digest", type: .text, .notNull)
                .column("generated_at", type: .bigint, .notNull)
                .column("body", type: .text, .notNull)
                .primaryKey("tenant_id", "kind", "version")
                .run()
            try await database.create(table: "drills")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("tenant_id", type: .text, .notNull, .references("tenants", "id"))
                .column("started_at", type: .bigint, .notNull)
                .column("body", type: .text, .notNull)
                .run()
            try await database.create(index: "drills_tenant").on("drills").column("tenant_id").column("started_at").run()
        },
        Migration(version: 8, name: "sessions by user, newest first") { database in
            // A user's sessions are always read newest first, and the support form reads only the
            // newest few: with created_at in the index those come off it in order, without a sort.
            try await database.create(index: "sessions_user_created").on("sessions").column("user_id").column("created_at").run()
            try await database.drop(index: "sessions_user_id").run()
        },
        Migration(version: 9, name: "tenant network and limits") { database in
            // `network` is NetworkAccess's raw value and `limits` JSON of SessionLimits, stored like
            // `retention`; NULL is the standard setting.
            try await database.alter(table: "tenants").column("network", type: .text).run()
            try await database.alter(table: "tenants").column("limits", type: .text).run()
        },
        Migration(version: 10, name: "ticket reply tokens") { database in
            // A mail joins a ticket only with its reply token (Ticket.replyToken). Tickets filed before
            // get one now; a reply to one of their old `[#N]` mails files a new, unverified ticket.
            try await database.alter(table: "tickets").column("reply_token", type: .text).run()
            try await database.alter(table: "tickets").column("unverified", type: .bigint, .notNull, .default(0)).run()
            for row in try await database.select().column("id").from("tickets").all() {
                try await database.update("tickets").set("reply_token", to: ReplyToken.make())
                    .where("id", .equal, try row.decode(column: "id", as: String.self)).run()
            }
        },
        Migration(version: 11, name: "audit log") { database in
            // `seq` orders events of the same millisecond as they were appended. No foreign keys:
            // an event outlives the user or tenant it names.
            try await database.create(table: "audit_events")
                .column("seq", type: .bigint, .primaryKey(autoIncrement: true))
                .column("id", type: .text, .notNull, .unique)
                .column("at", type: .bigint, .notNull)
                .column("tenant_id", type: .text)
                .column("actor_id", type: .text)
                .column("actor", type: .text, .notNull)
                .column("action", type: .text, .notNull)
                .column("target", type: .text, .notNull)
                .column("detail", type: .text, .notNull)
                .column("from_address", type: .text, .notNull)
                .run()
            try await database.create(index: "audit_events_tenant_at").on("audit_events").column("tenant_id").column("at").run()
            try await database.create(index: "audit_events_at").on("audit_events").column("at").run()
            // Append-only, in the database itself: no code path, ours or an operator's psql, rewrites history.
            if database.dialect.name == "sqlite" {
                for operation in ["UPDATE", "DELETE"] {
                    try await database.raw(
                        """
                        CREATE TRIGGER audit_events_no_\(unsafeRaw: operation.lowercased()) BEFORE \(unsafeRaw: operation) ON audit_events
                        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
                        """
                    ).run()
                }
            } else {
                try await database.raw(
                    """
                    CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$
                    """
                ).run()
                try await database.raw(
                    """
                    CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
                    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
                    """
                ).run()
            }
        },
        Migration(version: 12, name: "session revisions") { database in
            // Sessions are saved with compare and set, like tickets (Session.revision).
            try await database.alter(table: "sessions").column("revision", type: .bigint, .notNull, .default(0)).run()
        },
        Migration(version: 13, name: "nodes") { database in
            // Many hosts on one store: each node holds a lease on its name, each session records
            // the node it runs on (NULL: started before nodes existed, on the only host there was).
            try await database.create(table: "nodes")
                .column("name", type: .text, .primaryKey(autoIncrement: false))
                .column("url", type: .text, .notNull)
                .column("identity", type: .text, .notNull)
                .column("instance", type: .text, .notNull)
                .column("draining", type: .custom(SQLRaw("BOOLEAN")), .notNull, .default(false))
                .column("started_at", type: .bigint, .notNull)
                .column("last_seen_at", type: .bigint, .notNull)
                .column("lease_expires_at", type: .bigint, .notNull)
                .run()
            try await database.alter(table: "sessions").column("node", type: .text).run()
        },
        Migration(version: 14, name: "once-only duties") { database in
            // One row per duty that must run on one node at a time, with its holder's lease.
            try await database.create(table: "duties")
                .column("name", type: .text, .primaryKey(autoIncrement: false))
                .column("node", type: .text, .notNull)
                .column("instance", type: .text, .notNull)
                .column("lease_expires_at", type: .bigint, .notNull)
                .run()
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
