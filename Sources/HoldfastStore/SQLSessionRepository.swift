import Foundation
import HoldfastCore
import SQLKit

/// Sessions, their timelines and attach tickets in SQL.
public struct SQLSessionRepository: SessionRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func create(_ session: Session, events: [SessionEvent]) async throws {
        let machine = try Self.encode(session.machine)
        try await self.database.withTransaction { sql in
            try await sql.insert(into: "sessions")
                .columns("id", "tenant_id", "user_id", "kind", "state", "created_at", "machine", "revision", "node")
                .values(
                    SQLBind(session.id.description), SQLBind(session.tenantID.description), SQLBind(session.userID.description),
                    SQLBind(session.kind.rawValue), SQLBind(session.state.rawValue),
                    SQLBind(session.machine.createdAt.millisecondsSince1970), SQLBind(machine), SQLBind(session.revision),
                    SQLBind(session.node)
                )
                .run()
            try await Self.append(events, to: session.id, sql)
        }
    }

    public func save(_ session: Session, events: [SessionEvent]) async throws {
        let machine = try Self.encode(session.machine)
        try await self.database.withTransaction { sql in
            // Compare and set in one statement, as for tickets: of two saves from one revision,
            // the second finds no row at the old revision.
            let updated = try await sql.update("sessions")
                .set("state", to: SQLBind(session.state.rawValue))
                .set("machine", to: SQLBind(machine))
                .set("revision", to: SQLBind(session.revision))
                .set("node", to: SQLBind(session.node))
                .where("id", .equal, session.id.description)
                .where("revision", .equal, session.revision - 1)
                .returning("id").first()
            guard updated != nil else {
                let stored = try await sql.select().column("revision").from("sessions").where("id", .equal, session.id.description)
                    .first()
                guard let stored else { throw CoreError.notFound("There is no session \(session.id).") }
                throw CoreError.conflict(
                    "session_changed",
                    "Session \(session.id) is at revision \(try stored.decode(column: "revision", as: Int.self)) in the store, "
                        + "not \(session.revision - 1): another writer saved it meanwhile.")
            }
            try await Self.append(events, to: session.id, sql)
        }
    }

    public func find(id: Session.ID) async throws -> Session? {
        try await self.database.withConnection { sql in
            try await Self.query(sql).where("id", .equal, id.description).first().map(Self.session)
        }
    }

    public func list(userID: User.ID, includeClosed: Bool) async throws -> [Session] {
        try await self.database.withConnection { sql in
            var query = Self.query(sql).where("user_id", .equal, userID.description)
            if !includeClosed {
                query = query.where("state", .notEqual, SessionState.closed.rawValue)
            }
            return try await query.orderBy("created_at", .descending).all().map(Self.session)
        }
    }

    public func newest(userID: User.ID, limit: Int) async throws -> [Session] {
        try await self.database.withConnection { sql in
            try await Self.newest(sql, userID: userID, limit: limit).all().map(Self.session)
        }
    }

    /// The query behind ``newest(userID:limit:)``; the index `sessions_user_created` hands its rows
    /// over in order, so it reads `limit` rows and sorts none, however many sessions the user had.
    static func newest(_ sql: any SQLDatabase, userID: User.ID, limit: Int) -> SQLSelectBuilder {
        Self.query(sql).where("user_id", .equal, userID.description).orderBy("created_at", .descending).limit(limit)
    }

    public func listLive(tenantID: Tenant.ID) async throws -> [Session] {
        try await self.database.withConnection { sql in
            try await Self.query(sql).where("tenant_id", .equal, tenantID.description)
                .where("state", .notEqual, SessionState.closed.rawValue)
                .orderBy("created_at", .descending).all().map(Self.session)
        }
    }

    public func listLive() async throws -> [Session] {
        try await self.database.withConnection { sql in
            try await Self.query(sql).where("state", .notEqual, SessionState.closed.rawValue)
                .orderBy("created_at", .descending).all().map(Self.session)
        }
    }

    public func events(sessionID: Session.ID) async throws -> [SessionEvent] {
        try await self.database.withConnection { sql in
            try await sql.select().columns("at", "type", "detail").from("session_events")
                .where("session_id", .equal, sessionID.description).orderBy("id").all()
                .map { row in
                    let typeText = try row.decode(column: "type", as: String.self)
                    guard let type = SessionEventType(rawValue: typeText) else {
                        throw StoreError(code: "corrupt_row", message: "A stored session event has the unknown type '\(typeText)'.")
                    }
                    return SessionEvent(
                        at: Date(millisecondsSince1970: try row.decode(column: "at", as: Int64.self)),
                        type: type,
                        detail: try row.decode(column: "detail", as: String.self)
                    )
                }
        }
    }

    public func createTicket(_ ticket: AttachTicket) async throws {
        try await self.database.withConnection { sql in
            try await sql.insert(into: "attach_tickets")
                .columns("digest", "session_id", "user_id", "expires_at")
                .values(
                    SQLBind(ticket.digest), SQLBind(ticket.sessionID.description), SQLBind(ticket.userID.description),
                    SQLBind(ticket.expiresAt.millisecondsSince1970)
                )
                .run()
        }
    }

    public func redeemTicket(digest: String, now: Date) async throws -> AttachTicket? {
        try await self.database.withTransaction { sql in
            // Expired tickets of anyone go too; they can never be used.
            try await sql.delete(from: "attach_tickets").where("expires_at", .lessThanOrEqual, now.millisecondsSince1970).run()
            let row = try await sql.delete(from: "attach_tickets").where("digest", .equal, digest)
                .returning("digest", "session_id", "user_id", "expires_at").first()
            return try row.map { row in
                AttachTicket(
                    digest: try row.decode(column: "digest", as: String.self),
                    sessionID: try row.decode(column: "session_id", as: String.self).asIdentifier(),
                    userID: try row.decode(column: "user_id", as: String.self).asIdentifier(),
                    expiresAt: Date(millisecondsSince1970: try row.decode(column: "expires_at", as: Int64.self))
                )
            }
        }
    }

    private static func append(_ events: [SessionEvent], to id: Session.ID, _ sql: any SQLDatabase) async throws {
        guard !events.isEmpty else { return }
        var insert = sql.insert(into: "session_events").columns("session_id", "at", "type", "detail")
        for event in events {
            insert = insert.values(
                SQLBind(id.description), SQLBind(event.at.millisecondsSince1970), SQLBind(event.type.rawValue), SQLBind(event.detail)
            )
        }
        try await insert.run()
    }

    private static func query(_ sql: any SQLDatabase) -> SQLSelectBuilder {
        sql.select().columns("id", "tenant_id", "user_id", "kind", "machine", "revision", "node").from("sessions")
    }

    private static func session(_ row: any SQLRow) throws -> Session {
        let kindText = try row.decode(column: "kind", as: String.self)
        guard let kind = SessionKind(rawValue: kindText) else {
            throw StoreError(code: "corrupt_row", message: "A stored session has the unknown kind '\(kindText)'.")
        }
        return Session(
            id: try row.decode(column: "id", as: String.self).asIdentifier(),
            tenantID: try row.decode(column: "tenant_id", as: String.self).asIdentifier(),
            userID: try row.decode(column: "user_id", as: String.self).asIdentifier(),
            kind: kind,
            machine: try Self.decoder.decode(
                SessionStateMachine.PersistedState.self, from: Data(try row.decode(column: "machine", as: String.self).utf8)
            ),
            revision: try row.decode(column: "revision", as: Int.self),
            node: try row.decode(column: "node", as: String?.self)
        )
    }

    private static func encode(_ machine: SessionStateMachine.PersistedState) throws -> String {
        String(decoding: try Self.encoder.encode(machine), as: UTF8.self)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return decoder
    }()
}
