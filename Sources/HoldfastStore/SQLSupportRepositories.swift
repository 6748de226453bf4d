import Foundation
import HoldfastCore
import SQLKit

/// Tickets and their threads in SQL.
///
/// Every write is one transaction with the outbox rows that report it (``SQLOutboxRepository/insert(_:_:)``),
/// so a crash loses the change and its mails together or neither.
///
/// Numbers come from the one-row counter `support_counters.ticket_number`, bumped with `UPDATE … RETURNING`
/// inside `create`'s transaction. The same statement works in both dialects: PostgreSQL's row lock makes
/// concurrent creates wait for each other's commit (SQLite has a single writer anyway); a create that rolls back
/// gives its number back, so there are no gaps; and the counter never goes down, so a number is never reused.
/// A sequence would leave gaps on rollback, and `MAX(number) + 1` would need a dialect-specific lock.
public struct SQLTicketRepository: TicketRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func create(
        _ ticket: Ticket, replies: [TicketReply], outbox: @Sendable (Ticket) throws -> [OutboxMessage]
    ) async throws -> Ticket {
        try await self.database.withTransaction { sql in
            guard try await sql.select().column("id").from("tickets").where("id", .equal, ticket.id.description).first() == nil
            else {
                throw CoreError.conflict("ticket_exists", "A ticket with id \(ticket.id) exists.")
            }
            var stored = ticket
            stored.number = try await Self.nextNumber(sql)
            let messages = try outbox(stored)
            let row = try Self.row(stored)
            try await sql.insert(into: "tickets").columns(["id", "number"] + row.map(\.column))
                .values([SQLBind(stored.id.description), SQLBind(stored.number)] + row.map(\.value))
                .run()
            try await Self.append(replies, sql)
            try await SQLOutboxRepository.insert(messages, sql)
            return stored
        }
    }

    public func find(id: Ticket.ID) async throws -> Ticket? {
        try await self.database.withConnection { sql in
            try await Self.query(sql).where("id", .equal, id.description).first().map(Self.ticket)
        }
    }

    public func find(number: Int) async throws -> Ticket? {
        try await self.database.withConnection { sql in
            try await Self.query(sql).where("number", .equal, number).first().map(Self.ticket)
        }
    }

    public func list(requesterID: User.ID, limit: Int, offset: Int) async throws -> [Ticket] {
        try await self.database.withConnection { sql in
            try await Self.query(sql).where("requester_id", .equal, requesterID.description)
                .orderBy("created_at", .descending).orderBy("number", .descending)
                .limit(max(limit, 0)).offset(max(offset, 0))
                .all().map(Self.ticket)
        }
    }

    public func queue(tenantIDs: Set<Tenant.ID>?, limit: Int, offset: Int) async throws -> [Ticket] {
        if let tenantIDs, tenantIDs.isEmpty { return [] }
        return try await self.database.withConnection { sql in
            // The statuses are literals, not parameters, so both planners can use the partial queue indexes.
            let withTeam = TicketStatus.allCases.filter(\.isWithTeam).map { SQLLiteral.string($0.rawValue) as any SQLExpression }
            var query = Self.query(sql).where(SQLColumn("status"), .in, SQLGroupExpression(withTeam))
            if let tenantIDs {
                query = query.where("tenant_id", .in, tenantIDs.map(\.description).sorted())
            }
            // TicketQueue.precedes, and the column order of the `tickets_queue` indexes.
            return
                try await query
                .orderBy(SQLBinaryExpression(SQLColumn("first_responded_at"), .isNot, SQLLiteral.null))
                .orderBy(SQLBinaryExpression(SQLColumn("first_response_due_at"), .is, SQLLiteral.null))
                .orderBy("first_response_due_at").orderBy("number")
                .limit(max(limit, 0)).offset(max(offset, 0))
                .all().map(Self.ticket)
        }
    }

    public func save(_ ticket: Ticket, replies: [TicketReply], outbox: [OutboxMessage]) async throws {
        let row = try Self.row(ticket)
        try await self.database.withTransaction { sql in
            // Compare and set in one statement: of two saves from the same revision, PostgreSQL makes the
            // second wait for the first's commit and then finds no row at the old revision.
            var update = sql.update("tickets")
            for (column, value) in row {
                update = update.set(column, to: value)
            }
            let updated = try await update.where("id", .equal, ticket.id.description)
                .where("revision", .equal, ticket.revision - 1)
                .returning("id").first()
            guard updated != nil else {
                guard
                    let stored = try await sql.select().column("number").from("tickets").where("id", .equal, ticket.id.description)
                        .first()
                else {
                    throw CoreError.notFound("There is no ticket #\(ticket.number).")
                }
                let number = try stored.decode(column: "number", as: Int.self)
                throw CoreError.conflict(
                    "ticket_changed", "Ticket #\(number) was changed by someone else meanwhile; reload it and try again.")
            }
            try await Self.append(replies, sql)
            try await SQLOutboxRepository.insert(outbox, sql)
        }
    }

    public func replies(of ticketID: Ticket.ID) async throws -> [TicketReply] {
        try await self.database.withConnection { sql in
            try await sql.select()
                .columns("id", "ticket_id", "author_id", "side", "visibility", "body", "channel", "created_at")
                .from("ticket_replies").where("ticket_id", .equal, ticketID.description).orderBy("seq")
                .all()
                .map { row in
                    TicketReply(
                        id: try row.decode(column: "id", as: String.self).asIdentifier(),
                        ticketID: try row.decode(column: "ticket_id", as: String.self).asIdentifier(),
                        authorID: try row.decode(column: "author_id", as: String.self).asIdentifier(),
                        side: try row.decodeValue(column: "side", as: TicketSide.self),
                        visibility: try row.decodeValue(column: "visibility", as: ReplyVisibility.self),
                        body: try row.decode(column: "body", as: String.self),
                        channel: try row.decodeValue(column: "channel", as: TicketChannel.self),
                        createdAt: try row.decodeDate(column: "created_at")
                    )
                }
        }
    }

    /// Takes the next ticket number; the counter row stays locked until the transaction ends.
    private static func nextNumber(_ sql: any SQLDatabase) async throws -> Int {
        let row = try await sql.update("support_counters")
            .set("value", to: SQLBinaryExpression(SQLColumn("value"), .add, SQLLiteral.numeric("1")))
            .where("name", .equal, "ticket_number")
            .returning("value").first()
        guard let row else {
            throw StoreError(code: "corrupt_schema", message: "The ticket number counter is missing; run `holdfast migrate`.")
        }
        return try row.decode(column: "value", as: Int.self)
    }

    private static func append(_ replies: [TicketReply], _ sql: any SQLDatabase) async throws {
        guard !replies.isEmpty else { return }
        var insert = sql.insert(into: "ticket_replies")
            .columns("id", "ticket_id", "author_id", "side", "visibility", "body", "channel", "created_at")
        for reply in replies {
            insert = insert.values(
                SQLBind(reply.id.description), SQLBind(reply.ticketID.description), SQLBind(reply.authorID.description),
                SQLBind(reply.side.rawValue), SQLBind(reply.visibility.rawValue), SQLBind(reply.body),
                SQLBind(reply.channel.rawValue), SQLBind(reply.createdAt.millisecondsSince1970)
            )
        }
        try await insert.run()
    }

    /// The stored columns of a ticket other than `id` and `number` (which never change), for insert and update.
    private static func row(_ ticket: Ticket) throws -> [(column: String, value: SQLBind)] {
        let pauses = ticket.pauses.map { [$0.lowerBound.millisecondsSince1970, $0.upperBound.millisecondsSince1970] }
        let warnings = ticket.breachWarningsSent.map(\.rawValue).sorted()
        return [
            ("tenant_id", SQLBind(ticket.tenantID.description)),
            ("requester_id", SQLBind(ticket.requesterID.description)),
            ("kind", SQLBind(ticket.kind.rawValue)),
            ("channel", SQLBind(ticket.channel.rawValue)),
            ("status", SQLBind(ticket.status.rawValue)),
            ("priority", SQLBind(ticket.priority.rawValue)),
            ("subject", SQLBind(ticket.subject)),
            ("description", SQLBind(ticket.description)),
            ("occurred_at", SQLBind(ticket.occurredAt.millisecondsSince1970)),
            ("what_happened", SQLBind(ticket.whatHappened)),
            ("session_id", SQLBind(ticket.sessionID?.description)),
            ("created_at", SQLBind(ticket.createdAt.millisecondsSince1970)),
            ("updated_at", SQLBind(ticket.updatedAt.millisecondsSince1970)),
            ("first_response_target_minutes", SQLBind(ticket.firstResponseTargetMinutes)),
            ("first_response_due_at", SQLBind(ticket.firstResponseDueAt?.millisecondsSince1970)),
            ("first_responded_at", SQLBind(ticket.firstRespondedAt?.millisecondsSince1970)),
            ("first_response_business_minutes", SQLBind(ticket.firstResponseBusinessMinutes)),
            ("pauses", SQLBind(try jsonText(pauses))),
            ("paused_since", SQLBind(ticket.pausedSince?.millisecondsSince1970)),
            ("assignee_id", SQLBind(ticket.assigneeID?.description)),
            ("breach_warnings_sent", SQLBind(try jsonText(warnings))),
            ("revision", SQLBind(ticket.revision)),
            ("reply_token", SQLBind(ticket.replyToken)),
            ("unverified", SQLBind(ticket.unverified ? 1 : 0)),
        ]
    }

    private static func query(_ sql: any SQLDatabase) -> SQLSelectBuilder {
        sql.select().column(SQLLiteral.all).from("tickets")
    }

    private static func ticket(_ row: any SQLRow) throws -> Ticket {
        var ticket = Ticket(
            id: try row.decode(column: "id", as: String.self).asIdentifier(),
            number: try row.decode(column: "number", as: Int.self),
            tenantID: try row.decode(column: "tenant_id", as: String.self).asIdentifier(),
            requesterID: try row.decode(column: "requester_id", as: String.self).asIdentifier(),
            kind: try row.decodeValue(column: "kind", as: TicketKind.self),
            channel: try row.decodeValue(column: "channel", as: TicketChannel.self),
            status: try row.decodeValue(column: "status", as: TicketStatus.self),
            priority: try row.decodeValue(column: "priority", as: TicketPriority.self),
            subject: try row.decode(column: "subject", as: String.self),
            description: try row.decode(column: "description", as: String.self),
            occurredAt: try row.decodeDate(column: "occurred_at"),
            whatHappened: try row.decode(column: "what_happened", as: String.self),
            sessionID: try row.decode(column: "session_id", as: String?.self)?.asIdentifier(),
            createdAt: try row.decodeDate(column: "created_at"),
            firstResponseTargetMinutes: try row.decode(column: "first_response_target_minutes", as: Int?.self),
            firstResponseDueAt: try row.decodeOptionalDate(column: "first_response_due_at"),
            assigneeID: try row.decode(column: "assignee_id", as: String?.self)?.asIdentifier()
        )
        ticket.updatedAt = try row.decodeDate(column: "updated_at")
        ticket.firstRespondedAt = try row.decodeOptionalDate(column: "first_responded_at")
        ticket.firstResponseBusinessMinutes = try row.decode(column: "first_response_business_minutes", as: Int?.self)
        ticket.pauses = try decodeJSON([[Int64]].self, from: row.decode(column: "pauses", as: String.self)).map { pair in
            guard pair.count == 2, pair[0] <= pair[1] else {
                throw StoreError(code: "corrupt_row", message: "Ticket #\(ticket.number) has a malformed pause \(pair).")
            }
            return Date(millisecondsSince1970: pair[0])..<Date(millisecondsSince1970: pair[1])
        }
        ticket.pausedSince = try row.decodeOptionalDate(column: "paused_since")
        ticket.breachWarningsSent = Set(
            try decodeJSON([String].self, from: row.decode(column: "breach_warnings_sent", as: String.self)).map { text in
                guard let warning = BreachWarning(rawValue: text) else {
                    throw StoreError(code: "corrupt_row", message: "Ticket #\(ticket.number) has the unknown breach warning '\(text)'.")
                }
                return warning
            })
        ticket.revision = try row.decode(column: "revision", as: Int.self)
        // NULL only if written by an older server after the migration: such a ticket takes no mail.
        ticket.replyToken = try row.decode(column: "reply_token", as: String?.self) ?? ""
        ticket.unverified = try row.decode(column: "unverified", as: Int.self) != 0
        return ticket
    }
}

/// Suggestions, their voters and subscribers in SQL.
///
/// A vote locks the suggestion's row (`SELECT … FOR UPDATE` in PostgreSQL; SQLite has one writer), so two votes
/// at once are counted one after the other, and the primary key of `suggestion_votes` keeps one vote per user
/// even against a writer that forgets the lock.
public struct SQLSuggestionRepository: SuggestionRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func create(_ suggestion: Suggestion, audience: SuggestionAudience) async throws {
        try await self.database.withTransaction { sql in
            guard try await Self.query(sql).where("id", .equal, suggestion.id.description).first() == nil else {
                throw CoreError.conflict("suggestion_exists", "A suggestion with id \(suggestion.id) exists.")
            }
            let row = Self.row(suggestion)
            try await sql.insert(into: "suggestions").columns(["id"] + row.map(\.column))
                .values([SQLBind(suggestion.id.description)] + row.map(\.value))
                .run()
            try await Self.insert(audience, of: suggestion.id, sql)
        }
    }

    public func find(id: Suggestion.ID) async throws -> Suggestion? {
        try await self.database.withConnection { sql in
            try await Self.query(sql).where("id", .equal, id.description).first().map(Self.suggestion)
        }
    }

    public func audience(of id: Suggestion.ID) async throws -> SuggestionAudience {
        try await self.database.withConnection { sql in try await Self.audience(of: id, sql) }
    }

    public func list(tenantID: Tenant.ID?, limit: Int, offset: Int) async throws -> [Suggestion] {
        try await self.database.withConnection { sql in
            try await Self.query(sql)
                .where("merged_into", .is, SQLLiteral.null)
                .where(group: { board in
                    let serviceWide = board.where("tenant_id", .is, SQLLiteral.null)
                    return tenantID.map { serviceWide.orWhere("tenant_id", .equal, $0.description) } ?? serviceWide
                })
                .orderBy("votes", .descending).orderBy("created_at").orderBy("id")
                .limit(max(limit, 0)).offset(max(offset, 0))
                .all().map(Self.suggestion)
        }
    }

    public func vote(suggestionID: Suggestion.ID, userID: User.ID, at now: Date) async throws -> (Suggestion, counted: Bool) {
        let result = try await self.database.withTransaction { sql in
            guard
                var suggestion = try await Self.query(sql).where("id", .equal, suggestionID.description).for(.update).first()
                    .map(Self.suggestion)
            else {
                throw CoreError.notFound("There is no suggestion \(suggestionID).")
            }
            var audience = try await Self.audience(of: suggestionID, sql)
            let before = audience
            guard try suggestion.vote(by: userID, audience: &audience, at: now) else {
                return Vote(suggestion: suggestion, counted: false)
            }
            try await Self.insert(
                SuggestionAudience(
                    voters: audience.voters.subtracting(before.voters), subscribers: audience.subscribers.subtracting(before.subscribers)),
                of: suggestionID, sql)
            try await Self.update(suggestion, sql)
            return Vote(suggestion: suggestion, counted: true)
        }
        return (result.suggestion, result.counted)
    }

    public func save(_ changes: [(Suggestion, SuggestionAudience)], outbox: [OutboxMessage]) async throws {
        let changes = changes.map { Change(suggestion: $0.0, audience: $0.1) }
        try await self.database.withTransaction { sql in
            for change in changes {
                guard try await Self.query(sql).where("id", .equal, change.suggestion.id.description).for(.update).first() != nil else {
                    throw CoreError.notFound("There is no suggestion \(change.suggestion.id).")
                }
            }
            try await SQLOutboxRepository.insert(outbox, sql)
            for change in changes {
                try await Self.update(change.suggestion, sql)
                for table in ["suggestion_votes", "suggestion_subscribers"] {
                    try await sql.delete(from: table).where("suggestion_id", .equal, change.suggestion.id.description).run()
                }
                try await Self.insert(change.audience, of: change.suggestion.id, sql)
            }
        }
    }

    private struct Vote: Sendable {
        var suggestion: Suggestion
        var counted: Bool
    }

    private struct Change: Sendable {
        var suggestion: Suggestion
        var audience: SuggestionAudience
    }

    private static func audience(of id: Suggestion.ID, _ sql: any SQLDatabase) async throws -> SuggestionAudience {
        func users(_ table: String) async throws -> Set<User.ID> {
            Set(
                try await sql.select().column("user_id").from(table).where("suggestion_id", .equal, id.description).all()
                    .map { try $0.decode(column: "user_id", as: String.self).asIdentifier() })
        }
        return SuggestionAudience(voters: try await users("suggestion_votes"), subscribers: try await users("suggestion_subscribers"))
    }

    /// Adds voters and subscribers (none of them stored yet), a few hundred rows per statement so that a large
    /// audience stays under SQLite's limit of bound parameters.
    private static func insert(_ audience: SuggestionAudience, of id: Suggestion.ID, _ sql: any SQLDatabase) async throws {
        for (table, users) in [("suggestion_votes", audience.voters), ("suggestion_subscribers", audience.subscribers)] {
            let users = users.map(\.description).sorted()
            for start in stride(from: 0, to: users.count, by: 500) {
                var insert = sql.insert(into: table).columns("suggestion_id", "user_id")
                for user in users[start..<min(start + 500, users.count)] {
                    insert = insert.values(SQLBind(id.description), SQLBind(user))
                }
                try await insert.run()
            }
        }
    }

    private static func update(_ suggestion: Suggestion, _ sql: any SQLDatabase) async throws {
        var update = sql.update("suggestions")
        for (column, value) in Self.row(suggestion) {
            update = update.set(column, to: value)
        }
        try await update.where("id", .equal, suggestion.id.description).run()
    }

    /// The stored columns of a suggestion other than `id`.
    private static func row(_ suggestion: Suggestion) -> [(column: String, value: SQLBind)] {
        [
            ("tenant_id", SQLBind(suggestion.tenantID?.description)),
            ("author_id", SQLBind(suggestion.authorID.description)),
            ("title", SQLBind(suggestion.title)),
            ("body", SQLBind(suggestion.body)),
            ("status", SQLBind(suggestion.status.rawValue)),
            ("votes", SQLBind(suggestion.votes)),
            ("merged_into", SQLBind(suggestion.mergedInto?.description)),
            ("created_at", SQLBind(suggestion.createdAt.millisecondsSince1970)),
            ("updated_at", SQLBind(suggestion.updatedAt.millisecondsSince1970)),
        ]
    }

    private static func query(_ sql: any SQLDatabase) -> SQLSelectBuilder {
        sql.select().column(SQLLiteral.all).from("suggestions")
    }

    private static func suggestion(_ row: any SQLRow) throws -> Suggestion {
        var suggestion = Suggestion(
            id: try row.decode(column: "id", as: String.self).asIdentifier(),
            tenantID: try row.decode(column: "tenant_id", as: String?.self)?.asIdentifier(),
            authorID: try row.decode(column: "author_id", as: String.self).asIdentifier(),
            title: try row.decode(column: "title", as: String.self),
            body: try row.decode(column: "body", as: String.self),
            status: try row.decodeValue(column: "status", as: SuggestionStatus.self),
            votes: try row.decode(column: "votes", as: Int.self),
            mergedInto: try row.decode(column: "merged_into", as: String?.self)?.asIdentifier(),
            createdAt: try row.decodeDate(column: "created_at")
        )
        suggestion.updatedAt = try row.decodeDate(column: "updated_at")
        return suggestion
    }
}

/// The transactional outbox in SQL.
///
/// Ticket and suggestion changes write their rows with ``insert(_:_:)`` inside their own transaction; the mailer
/// reads them with ``due(at:limit:)``, which only looks at the partial index of rows still to deliver.
public struct SQLOutboxRepository: OutboxRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func enqueue(_ messages: [OutboxMessage]) async throws {
        try await self.database.withTransaction { sql in try await Self.insert(messages, sql) }
    }

    public func due(at now: Date, limit: Int) async throws -> [OutboxMessage] {
        try await self.database.withConnection { sql in
            try await Self.query(sql)
                .where("sent_at", .is, SQLLiteral.null).where("failed_at", .is, SQLLiteral.null)
                .where("next_attempt_at", .lessThanOrEqual, now.millisecondsSince1970)
                .orderBy("created_at").orderBy("seq")
                .limit(max(limit, 0))
                .all().map(Self.message)
        }
    }

    public func markSent(id: OutboxMessage.ID, at now: Date) async throws {
        try await self.update(id) { $0.set("sent_at", to: SQLBind(now.millisecondsSince1970)) }
    }

    public func markFailed(id: OutboxMessage.ID, error: String, nextAttemptAt: Date?, at now: Date) async throws {
        try await self.update(id) { update in
            let retry =
                nextAttemptAt.map { update.set("next_attempt_at", to: SQLBind($0.millisecondsSince1970)) }
                ?? update.set("failed_at", to: SQLBind(now.millisecondsSince1970))
            return retry.set("last_error", to: SQLBind(error))
        }
    }

    public func find(id: OutboxMessage.ID) async throws -> OutboxMessage? {
        try await self.database.withConnection { sql in
            try await Self.query(sql).where("id", .equal, id.description).first().map(Self.message)
        }
    }

    /// Records one more attempt and `change`, in one statement.
    private func update(_ id: OutboxMessage.ID, _ change: (SQLUpdateBuilder) -> SQLUpdateBuilder) async throws {
        let updated = try await self.database.withConnection { sql in
            let attempt = sql.update("outbox")
                .set("attempts", to: SQLBinaryExpression(SQLColumn("attempts"), .add, SQLLiteral.numeric("1")))
            return try await change(attempt).where("id", .equal, id.description).returning("id").first() != nil
        }
        guard updated else { throw CoreError.notFound("There is no outbox message \(id).") }
    }

    /// Writes `messages` with the caller's transaction; an id already stored is a conflict.
    static func insert(_ messages: [OutboxMessage], _ sql: any SQLDatabase) async throws {
        guard !messages.isEmpty else { return }
        if let taken = try await sql.select().column("id").from("outbox").where("id", .in, messages.map(\.id.description)).first() {
            let id = try taken.decode(column: "id", as: String.self)
            throw CoreError.conflict("outbox_message_exists", "An outbox message with id \(id) exists.")
        }
        var insert = sql.insert(into: "outbox").columns(
            "id", "kind", "to_address", "to_name", "subject", "body", "created_at", "attempts", "next_attempt_at", "sent_at",
            "last_error", "failed_at")
        for message in messages {
            insert = insert.values(
                SQLBind(message.id.description), SQLBind(message.kind.rawValue), SQLBind(message.to.address), SQLBind(message.to.name),
                SQLBind(message.subject), SQLBind(message.body), SQLBind(message.createdAt.millisecondsSince1970),
                SQLBind(message.attempts), SQLBind(message.nextAttemptAt.millisecondsSince1970),
                SQLBind(message.sentAt?.millisecondsSince1970), SQLBind(message.lastError),
                SQLBind(message.failedAt?.millisecondsSince1970)
            )
        }
        try await insert.run()
    }

    private static func query(_ sql: any SQLDatabase) -> SQLSelectBuilder {
        sql.select().column(SQLLiteral.all).from("outbox")
    }

    private static func message(_ row: any SQLRow) throws -> OutboxMessage {
        var message = OutboxMessage(
            id: try row.decode(column: "id", as: String.self).asIdentifier(),
            kind: OutboxKind(rawValue: try row.decode(column: "kind", as: String.self)),
            to: MailAddress(
                address: try row.decode(column: "to_address", as: String.self), name: try row.decode(column: "to_name", as: String?.self)),
            subject: try row.decode(column: "subject", as: String.self),
            body: try row.decode(column: "body", as: String.self),
            createdAt: try row.decodeDate(column: "created_at")
        )
        message.attempts = try row.decode(column: "attempts", as: Int.self)
        message.nextAttemptAt = try row.decodeDate(column: "next_attempt_at")
        message.sentAt = try row.decodeOptionalDate(column: "sent_at")
        message.lastError = try row.decode(column: "last_error", as: String?.self)
        message.failedAt = try row.decodeOptionalDate(column: "failed_at")
        return message
    }
}

extension SQLRow {
    /// Reads a time stored as milliseconds since 1970.
    func decodeDate(column: String) throws -> Date {
        Date(millisecondsSince1970: try self.decode(column: column, as: Int64.self))
    }

    func decodeOptionalDate(column: String) throws -> Date? {
        try self.decode(column: column, as: Int64?.self).map(Date.init(millisecondsSince1970:))
    }

    /// Reads a wire-string enum, failing loudly on a value this version does not know.
    func decodeValue<Value: RawRepresentable>(column: String, as type: Value.Type) throws -> Value where Value.RawValue == String {
        let text = try self.decode(column: column, as: String.self)
        guard let value = Value(rawValue: text) else {
            throw StoreError(code: "corrupt_row", message: "The stored \(column) '\(text)' is not a known \(Value.self).")
        }
        return value
    }
}

/// One encoder and decoder for the JSON columns: their options never change after this, and
/// making one per row was a tenth of a ticket list's cost.
private let columnEncoder = JSONEncoder()
private let columnDecoder = JSONDecoder()

func jsonText(_ value: some Encodable) throws -> String {
    String(decoding: try columnEncoder.encode(value), as: UTF8.self)
}

func decodeJSON<Value: Decodable>(_ type: Value.Type, from text: String) throws -> Value {
    // Most tickets were never paused nor warned about: their JSON columns hold an empty list.
    if text == "[]", let empty = [Any]() as? Value {
        return empty
    }
    do {
        return try columnDecoder.decode(type, from: Data(text.utf8))
    } catch {
        throw StoreError(code: "corrupt_row", message: "A stored JSON column cannot be read as \(Value.self).", cause: error)
    }
}
