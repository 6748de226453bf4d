import Foundation
import HoldfastCore
import SQLKit

/// The audit log in SQL: rows are inserted and read, and triggers (migration 11) refuse any
/// `UPDATE` or `DELETE` of them, whoever asks.
public struct SQLAuditRepository: AuditRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func append(_ event: AuditEvent) async throws {
        try await self.database.withConnection { sql in
            try await sql.insert(into: "audit_events")
                .columns("id", "at", "tenant_id", "actor_id", "actor", "action", "target", "detail", "from_address")
                .values(
                    SQLBind(event.id.description), SQLBind(event.at.millisecondsSince1970), SQLBind(event.tenantID?.description),
                    SQLBind(event.actorID?.description), SQLBind(event.actor), SQLBind(event.action.rawValue), SQLBind(event.target),
                    SQLBind(event.detail), SQLBind(event.from)
                )
                .run()
        }
    }

    public func list(_ query: AuditQuery) async throws -> [AuditEvent] {
        try await self.database.withConnection { sql in
            var select = sql.select().column(SQLLiteral.all).from("audit_events")
            if let tenant = query.tenantID {
                select = select.where("tenant_id", .equal, tenant.description)
            }
            if let since = query.since {
                select = select.where("at", .greaterThanOrEqual, since.millisecondsSince1970)
            }
            if let until = query.until {
                select = select.where("at", .lessThan, until.millisecondsSince1970)
            }
            return try await select.orderBy("at", .descending).orderBy("seq", .descending)
                .limit(max(query.limit, 0)).offset(max(query.offset, 0))
                .all().map(Self.event)
        }
    }

    private static func event(_ row: any SQLRow) throws -> AuditEvent {
        let action = try row.decode(column: "action", as: String.self)
        guard let known = AuditAction(rawValue: action) else {
            throw StoreError(code: "corrupt_row", message: "An audit event has the unknown action '\(action)'.")
        }
        return AuditEvent(
            id: try row.decode(column: "id", as: String.self).asIdentifier(),
            at: try row.decodeDate(column: "at"),
            tenantID: try row.decode(column: "tenant_id", as: String?.self)?.asIdentifier(),
            actorID: try row.decode(column: "actor_id", as: String?.self)?.asIdentifier(),
            actor: try row.decode(column: "actor", as: String.self),
            action: known,
            target: try row.decode(column: "target", as: String.self),
            detail: try row.decode(column: "detail", as: String.self),
            from: try row.decode(column: "from_address", as: String.self)
        )
    }
}
