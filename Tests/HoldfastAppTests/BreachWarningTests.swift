import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastHTTP
import HoldfastTestSupport
import Logging
import Testing

/// Breach warnings: sent inside business hours only, once per kind, to the team, with the due
/// time in each reader's zone.
@Suite("Breach warnings")
struct BreachWarningTests {
    @Test func dueSoonThenBreachedEachOnceAndOnlyWhileTheDeskIsOpen() async throws {
        let store = InMemoryStore()
        let repositories = store.repositories
        let customers = Tenant(name: "Acme", slug: "acme", timeZone: "Asia/Tokyo", createdAt: .distantPast)
        let team = Tenant(name: "Holdfast Operations", slug: "ops", timeZone: "America/New_York", createdAt: .distantPast)
        try await repositories.tenants.create(customers)
        try await repositories.tenants.create(team)
        let customer = User(tenantID: customers.id, email: "ann@acme.test", name: "Ann", role: .member, createdAt: .distantPast)
        let agent = User(tenantID: team.id, email: "al@ops.test", name: "Al", role: .agent, createdAt: .distantPast)
        let colleague = User(tenantID: customers.id, email: "col@acme.test", name: "Col", role: .member, createdAt: .distantPast)
        for user in [customer, agent, colleague] { try await repositories.users.create(user, passwordHash: "unused") }

        // Monday 30 November 2026, 09:00 London: the desk (Mon-Fri 09-17 London) is open.
        let clock = ManualClock(try Date("2026-11-30T09:00:00Z", strategy: .iso8601))
        let desk = SupportDesk(repositories: repositories, now: { clock.now() }, logger: Logger(label: "test"))
        let filed = try await desk.file(
            NewTicket(
                kind: "bug", channel: .web, subject: "Terminal froze", description: "It stopped.", occurredAt: clock.now(),
                whatHappened: "Nothing echoes."),
            requesterEmail: nil, by: customer)
        #expect(filed.ticket.firstResponseDueAt == (try Date("2026-11-30T13:00:00Z", strategy: .iso8601)))

        func warnings() async throws -> [OutboxMessage] {
            try await repositories.outbox.due(at: .distantFuture, limit: 100).filter { $0.kind == .ticketBreachWarning }
        }

        clock.advance(by: 3 * 3600)  // 12:00: an hour left
        #expect(try await desk.sendBreachWarnings() == 0)
        clock.advance(by: 31 * 60)  // 12:31: 29 minutes left
        #expect(try await desk.sendBreachWarnings() == 1)
        #expect(try await desk.sendBreachWarnings() == 0)  // once
        let dueSoon = try await warnings()
        #expect(dueSoon.map(\.to.address) == ["al@ops.test"])  // the team, not the customer
        // 13:00 London is 08:00 in New York, where the agent's tenant is.
        #expect(dueSoon.first?.body.contains("is due a first response by Monday 30 November, 08:00 (America/New_York)") == true)

        clock.advance(by: 5 * 3600)  // 17:31: overdue, but the desk has closed
        #expect(try await desk.sendBreachWarnings() == 0)
        clock.advance(by: 15.5 * 3600)  // Tuesday 09:01: open again
        #expect(try await desk.sendBreachWarnings() == 1)
        #expect(try await desk.sendBreachWarnings() == 0)
        let all = try await warnings()
        #expect(all.count == 2)
        #expect(all.contains { $0.body.contains("has no first response and was due Monday 30 November, 08:00 (America/New_York)") })
    }

    @Test func answeredTicketsAreNeverWarnedAbout() async throws {
        let store = InMemoryStore()
        let repositories = store.repositories
        let tenant = Tenant(name: "Acme", slug: "acme", createdAt: .distantPast)
        try await repositories.tenants.create(tenant)
        let customer = User(tenantID: tenant.id, email: "ann@acme.test", name: "Ann", role: .member, createdAt: .distantPast)
        let agent = User(tenantID: tenant.id, email: "al@acme.test", name: "Al", role: .agent, createdAt: .distantPast)
        for user in [customer, agent] { try await repositories.users.create(user, passwordHash: "unused") }
        let clock = ManualClock(try Date("2026-11-30T09:00:00Z", strategy: .iso8601))
        let desk = SupportDesk(repositories: repositories, now: { clock.now() }, logger: Logger(label: "test"))
        let filed = try await desk.file(
            NewTicket(
                kind: "question", channel: .api, subject: "Quota?", description: "How much?", occurredAt: clock.now(),
                whatHappened: "Nothing."),
            requesterEmail: nil, by: customer)
        _ = try await desk.reply(to: filed.ticket.id, body: "20 GB.", visibility: .public, status: nil, channel: .web, by: agent)
        clock.advance(by: 6 * 3600)
        #expect(try await desk.sendBreachWarnings() == 0)
    }
}
