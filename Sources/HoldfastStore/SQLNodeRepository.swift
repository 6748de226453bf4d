import Foundation
import HoldfastCore
import SQLKit

/// Nodes as rows of `nodes`; every lease is reckoned by the database's clock (`now`), never by
/// the node's, so one node's wrong clock cannot evict another or keep itself alive.
public struct SQLNodeRepository: NodeRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// The database's clock in milliseconds since 1970, in the dialect at hand.
    private var now: String {
        self.database.isSQLite
            ? "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
            : "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    }

    public func register(_ registration: NodeRegistration, lease: Duration) async throws -> Node {
        let milliseconds = Self.milliseconds(lease)
        return try await self.database.withTransaction { sql in
            if !self.database.isSQLite {
                // Two processes claiming one name wait for each other here.
                try await sql.raw("SELECT pg_advisory_xact_lock(7206002, hashtext(\(bind: registration.name)))").run()
            }
            if let row = try await Self.select(sql, now: self.now).where("name", .equal, registration.name).first() {
                let held = try Self.node(row)
                let identity = try row.decode(column: "identity", as: String.self)
                if held.state != .down, identity != registration.identity {
                    throw CoreError.conflict(
                        "node_name_taken",
                        "Another server is running as node '\(registration.name)' (at \(held.url), lease until "
                            + "\(held.leaseExpiresAt.formatted(.iso8601))). Start this one with another --node NAME, or stop "
                            + "that one: its name is free once its lease lapses.")
                }
                try await sql.raw(
                    """
                    UPDATE nodes SET url = \(bind: registration.url), instance = \(bind: registration.instance),
                    identity = \(bind: registration.identity),
                    started_at = \(unsafeRaw: self.now), last_seen_at = \(unsafeRaw: self.now), lease_expires_at = \(unsafeRaw: self.now) + \(bind: milliseconds)
                    WHERE name = \(bind: registration.name)
                    """
                ).run()
            } else {
                try await sql.raw(
                    """
                    INSERT INTO nodes (name, url, identity, instance, draining, started_at, last_seen_at, lease_expires_at)
                    VALUES (\(bind: registration.name), \(bind: registration.url), \(bind: registration.identity),
                    \(bind: registration.instance), \(bind: false),
                    \(unsafeRaw: self.now), \(unsafeRaw: self.now), \(unsafeRaw: self.now) + \(bind: milliseconds))
                    """
                ).run()
            }
            guard let row = try await Self.select(sql, now: self.now).where("name", .equal, registration.name).first() else {
                throw StoreError(code: "node_missing", message: "The node '\(registration.name)' vanished while it registered.")
            }
            return try Self.node(row)
        }
    }

    public func renew(_ registration: NodeRegistration, lease: Duration) async throws -> Node? {
        try await self.database.withTransaction { sql in
            try await sql.raw(
                """
                UPDATE nodes SET last_seen_at = \(unsafeRaw: self.now), lease_expires_at = \(unsafeRaw: self.now) + \(bind: Self.milliseconds(lease)),
                url = \(bind: registration.url)
                WHERE name = \(bind: registration.name) AND instance = \(bind: registration.instance)
                """
            ).run()
            return try await Self.select(sql, now: self.now).where("name", .equal, registration.name)
                .where("instance", .equal, registration.instance).first().map(Self.node)
        }
    }

    public func release(_ registration: NodeRegistration) async throws {
        try await self.database.withTransaction { sql in
            try await sql.raw(
                """
                UPDATE nodes SET lease_expires_at = \(unsafeRaw: self.now)
                WHERE name = \(bind: registration.name) AND instance = \(bind: registration.instance)
                """
            ).run()
        }
    }

    public func list() async throws -> [Node] {
        try await self.database.withConnection { sql in
            try await Self.select(sql, now: self.now).orderBy("name").all().map(Self.node)
        }
    }

    public func setDraining(_ name: String, _ draining: Bool) async throws -> Node? {
        try await self.database.withTransaction { sql in
            try await sql.update("nodes").set("draining", to: SQLBind(draining)).where("name", .equal, name).run()
            return try await Self.select(sql, now: self.now).where("name", .equal, name).first().map(Self.node)
        }
    }

    public func claimDuty(_ duty: String, for registration: NodeRegistration, lease: Duration) async throws -> Bool {
        try await self.database.withTransaction { sql in
            // Insert, or take over a lapsed lease or one whose process is no longer its node's (the
            // node restarted: the old process is gone), or extend our own; a live lease of another
            // running process is left alone (the WHERE of the upsert).
            try await sql.raw(
                """
                INSERT INTO duties (name, node, instance, lease_expires_at)
                VALUES (\(bind: duty), \(bind: registration.name), \(bind: registration.instance),
                \(unsafeRaw: self.now) + \(bind: Self.milliseconds(lease)))
                ON CONFLICT (name) DO UPDATE SET node = excluded.node, instance = excluded.instance,
                lease_expires_at = excluded.lease_expires_at
                WHERE duties.instance = excluded.instance OR duties.lease_expires_at <= \(unsafeRaw: self.now)
                OR NOT EXISTS (SELECT 1 FROM nodes WHERE nodes.name = duties.node AND nodes.instance = duties.instance)
                """
            ).run()
            let holder = try await sql.select().column("instance").from("duties").where("name", .equal, duty).first()
            return try holder?.decode(column: "instance", as: String.self) == registration.instance
        }
    }

    public func releaseDuty(_ duty: String, for registration: NodeRegistration) async throws {
        try await self.database.withTransaction { sql in
            try await sql.raw(
                """
                UPDATE duties SET lease_expires_at = \(unsafeRaw: self.now)
                WHERE name = \(bind: duty) AND instance = \(bind: registration.instance)
                """
            ).run()
        }
    }

    public func dutyHolders() async throws -> [String: String] {
        try await self.database.withConnection { sql in
            let rows = try await sql.select().columns("name", "node").from("duties")
                .where(SQLRaw("lease_expires_at > \(self.now)")).all()
            return Dictionary(
                try rows.map { (try $0.decode(column: "name", as: String.self), try $0.decode(column: "node", as: String.self)) },
                uniquingKeysWith: { first, _ in first })
        }
    }

    private static func select(_ sql: any SQLDatabase, now: String) -> SQLSelectBuilder {
        sql.select().columns("name", "url", "identity", "instance", "draining", "started_at", "last_seen_at", "lease_expires_at")
            .column(SQLRaw("(lease_expires_at > \(now))"), as: "alive")
            .from("nodes")
    }

    private static func node(_ row: any SQLRow) throws -> Node {
        let alive = try row.decode(column: "alive", as: Bool.self)
        let draining = try row.decode(column: "draining", as: Bool.self)
        return Node(
            name: try row.decode(column: "name", as: String.self),
            url: try row.decode(column: "url", as: String.self),
            state: !alive ? .down : draining ? .draining : .up,
            startedAt: Date(millisecondsSince1970: try row.decode(column: "started_at", as: Int64.self)),
            lastSeenAt: Date(millisecondsSince1970: try row.decode(column: "last_seen_at", as: Int64.self)),
            leaseExpiresAt: Date(millisecondsSince1970: try row.decode(column: "lease_expires_at", as: Int64.self)))
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
