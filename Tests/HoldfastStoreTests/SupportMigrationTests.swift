import Foundation
import HoldfastCore
import Logging
import SQLKit
import Testing

@testable import HoldfastStore

/// Migration 5 on a database that was in use before the support desk existed.
///
/// Serialized: a PostgreSQL store opens up to nine connections, and the test cluster takes 100 in all.
@Suite("Support desk migration", .serialized)
struct SupportMigrationTests {
    /// Brings `database` to the schema of `version` (plus the steps in `extra`), recorded as
    /// `migrate()` records it.
    func migrate(_ database: Database, through version: Int, extra: Set<Int> = []) async throws {
        try await database.withTransaction { sql in
            try await sql.create(table: "schema_migrations")
                .column("version", type: .bigint, .primaryKey(autoIncrement: false))
                .column("name", type: .text, .notNull)
                .column("applied_at", type: .bigint, .notNull)
                .run()
            for migration in Database.migrations where migration.version <= version || extra.contains(migration.version) {
                try await migration.apply(sql)
                try await sql.insert(into: "schema_migrations").columns("version", "name", "applied_at")
                    .values(SQLBind(migration.version), SQLBind(migration.name), SQLBind(Int64(0))).run()
            }
        }
    }

    @Test(arguments: StoreKind.sql)
    func aDatabaseFromBeforeTheSupportDeskMigratesAndKeepsItsData(kind: StoreKind) async throws {
        try await withEmptyDatabase(kind) { database in
            // The seed writes tenants as today's code does, so their later columns (step 9) are there too.
            try await self.migrate(database, through: 4, extra: [9])
            let old = Repositories.sql(database)
            let desk = try await SupportDesk.seed(old)
            await #expect(throws: (any Error).self) {
                _ = try await old.tickets.find(number: 1)
            }

            #expect(try await database.migrate() == [5, 6, 7, 8, 10, 11, 12, 13, 14])
            #expect(try await database.migrate() == [])

            let repositories = Repositories.sql(database)
            #expect(try await repositories.tenants.list().map(\.slug) == ["acme", "globex"])
            #expect(try await repositories.users.find(id: desk.cat.id) == desk.cat)
            let ticket = try await repositories.tickets.create(desk.ticket(by: desk.cat), replies: []) { _ in
                [desk.mail(to: desk.cat, "[#1] received")]
            }
            #expect(ticket.number == 1)
            #expect(try await repositories.tickets.queue(tenantIDs: nil, limit: 10, offset: 0) == [ticket])
            #expect(try await repositories.pendingMail().map(\.subject) == ["[#1] received"])
            let (idea, audience) = try Suggestion.validated(
                title: "Dark mode", body: "", tenantID: nil, authorID: desk.cat.id, at: SupportDesk.start)
            try await repositories.suggestions.create(idea, audience: audience)
            #expect(try await repositories.suggestions.vote(suggestionID: idea.id, userID: desk.col.id, at: SupportDesk.start).counted)
        }
    }

    @Test(arguments: StoreKind.sql)
    func theTablesEnforceTheRulesThemselves(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, database in
            let database = try #require(database)
            let desk = try await SupportDesk.seed(repositories)
            let idea = Suggestion(tenantID: nil, authorID: desk.cat.id, title: "Dark mode", body: "", createdAt: SupportDesk.start)
            try await repositories.suggestions.create(idea, audience: SuggestionAudience(voters: [desk.col.id]))
            // A second vote of one user, and a second ticket with a taken number, fail in the database itself.
            await #expect(throws: (any Error).self) {
                try await database.withConnection { sql in
                    try await sql.insert(into: "suggestion_votes").columns("suggestion_id", "user_id")
                        .values(SQLBind(idea.id.description), SQLBind(desk.col.id.description)).run()
                }
            }
            let first = try await repositories.tickets.create(desk.ticket(by: desk.cat), replies: []) { _ in [] }
            await #expect(throws: (any Error).self) {
                try await database.withConnection { sql in
                    try await sql.raw(
                        """
                        INSERT INTO tickets SELECT \(bind: Ticket.ID().description), number, tenant_id, requester_id, kind, channel,
                        status, priority, subject, description, occurred_at, what_happened, session_id, created_at, updated_at,
                        first_response_target_minutes, first_response_due_at, first_responded_at, first_response_business_minutes,
                        pauses, paused_since, assignee_id, breach_warnings_sent, revision FROM tickets WHERE number = \(bind: first.number)
                        """
                    ).run()
                }
            }
        }
    }

    @Test(arguments: StoreKind.sql)
    func ticketsFiledBeforeReplyTokensEachGetTheirOwn(kind: StoreKind) async throws {
        try await withEmptyDatabase(kind) { database in
            try await self.migrate(database, through: 9)
            let desk = try await SupportDesk.seed(Repositories.sql(database))
            // Two tickets as a server before step 10 wrote them: no reply_token, no unverified.
            for number in 1...2 {
                try await database.withTransaction { sql in
                    try await sql.raw(
                        """
                        INSERT INTO tickets (id, number, tenant_id, requester_id, kind, channel, status, priority, subject,
                        description, occurred_at, what_happened, created_at, updated_at, pauses, breach_warnings_sent, revision)
                        VALUES (\(bind: UUID().uuidString.lowercased()), \(bind: number), \(bind: desk.cat.tenantID.description),
                        \(bind: desk.cat.id.description), 'bug', 'email', 'new', 'normal', 'Old', 'Old', 0, 'Old', 0, 0, '[]', '[]', 0)
                        """
                    ).run()
                }
            }
            #expect(try await database.migrate() == [10, 11, 12, 13, 14])
            // Read as a server started after the upgrade does. (On SQLite, a connection that read the
            // table before the upgrade names its old columns once more: sqlite-nio takes the names
            // before its first step re-prepares the statement.)
            let upgraded = try Database(location: database.location, logger: Logger(label: "test"))
            let tickets = Repositories.sql(upgraded).tickets
            let first = try #require(try await tickets.find(number: 1))
            let second = try #require(try await tickets.find(number: 2))
            #expect(first.replyToken.count == ReplyToken.length && second.replyToken.count == ReplyToken.length)
            #expect(first.replyToken != second.replyToken)
            #expect(!first.unverified && !second.unverified)
            await upgraded.close()
        }
    }
}
