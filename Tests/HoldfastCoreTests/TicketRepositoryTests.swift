import Foundation
import HoldfastCore
import HoldfastTestSupport
import Testing

@Suite("Ticket repository (in memory): numbering, atomic outbox, stale saves, queue paging")
struct TicketRepositoryTests {
    let store = InMemorySupportStore()
    let now: Date

    init() throws { self.now = try isoInstant("2026-11-30T10:00:00Z") }

    func received(_ ticket: Ticket) -> [OutboxMessage] {
        [
            SupportMail.ticketReceived(
                ticket, to: MailAddress(address: TicketFixtures.customer.email), timeZone: TimeZone(identifier: "Europe/London")!,
                at: ticket.createdAt)
        ]
    }

    @Test("Numbers are 1, 2, 3 … even under concurrent filing, and the received mail quotes the number")
    func numbering() async throws {
        let tickets = self.store.tickets
        let now = self.now
        let numbers = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    let ticket = try TicketFixtures.ticket(at: now, number: 0)
                    return try await tickets.create(ticket, replies: []) { self.received($0) }.number
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(numbers.sorted() == Array(1...20))
        let mails = self.store.allOutboxMessages
        #expect(mails.count == 20)
        #expect(Set(mails.compactMap { MailSubject.tag(in: $0.subject)?.number }) == Set(1...20))
        #expect(mails.allSatisfy { $0.subject.hasSuffix("] Terminal froze") })
        let seven = try #require(try await tickets.find(number: 7))
        #expect(try await tickets.find(id: seven.id) == seven)
    }

    @Test("A failing outbox builder writes nothing and uses no number")
    func atomicCreate() async throws {
        let tickets = self.store.tickets
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            _ = try await tickets.create(try TicketFixtures.ticket(at: self.now), replies: []) { _ in throw Boom() }
        }
        #expect(self.store.allOutboxMessages.isEmpty)
        #expect(try await tickets.list(requesterID: TicketFixtures.customer.id, limit: 10, offset: 0).isEmpty)
        #expect(try await tickets.create(try TicketFixtures.ticket(at: self.now), replies: []) { _ in [] }.number == 1)
    }

    @Test("Saving writes the ticket, its replies and its mails together; a stale copy is refused and writes nothing")
    func saveAndConflict() async throws {
        let tickets = self.store.tickets
        let stored = try await tickets.create(try TicketFixtures.ticket(at: self.now), replies: []) { _ in [] }
        let calendar = try TicketFixtures.calendar()
        var first = TicketStateMachine(ticket: stored, calendar: calendar)
        var second = TicketStateMachine(ticket: stored, calendar: calendar)
        let actions = try first.reply(
            body: "On it", visibility: .public, channel: .web, by: TicketFixtures.agent.id, as: .team, at: self.now + 60)
        let replies = actions.compactMap { if case .recordReply(let reply) = $0 { reply } else { nil } }
        let mail = OutboxMessage(
            kind: .ticketReplied, to: MailAddress(address: "c@a.example"), subject: "s", body: "b", createdAt: self.now)
        try await tickets.save(first.ticket, replies: replies, outbox: [mail])
        _ = try second.reply(
            body: "Me too", visibility: .public, channel: .web, by: TicketFixtures.operatorUser.id, as: .team, at: self.now + 61)
        await #expect {
            try await tickets.save(second.ticket, replies: [], outbox: [mail])
        } throws: { ($0 as? CoreError)?.code == "ticket_changed" }
        #expect(try await tickets.replies(of: stored.id).map(\.body) == ["On it"])
        #expect(try await tickets.find(id: stored.id)?.firstRespondedAt == self.now + 60)
        #expect(self.store.allOutboxMessages == [mail])
    }

    @Test("The queue holds new and open tickets of the given tenants, in queue order, paged")
    func queue() async throws {
        let tickets = self.store.tickets
        var filed: [Ticket] = []
        for minutes in [50, 10, 40, 20, 30] {
            filed.append(
                try await tickets.create(try TicketFixtures.ticket(at: self.now + TimeInterval(minutes * 60)), replies: []) { _ in [] })
        }
        var other = try TicketFixtures.ticket(at: self.now)
        other.tenantID = TicketFixtures.otherTenantID
        let otherStored = try await tickets.create(other, replies: []) { _ in [] }
        var resolved = TicketStateMachine(ticket: filed[1], calendar: try TicketFixtures.calendar())
        _ = try resolved.changeStatus(to: .resolved, by: TicketFixtures.agent.id, as: .team, at: self.now + 3600)
        try await tickets.save(resolved.ticket, replies: [], outbox: [])

        let mine = try await tickets.queue(tenantIDs: [TicketFixtures.tenantID], limit: 10, offset: 0)
        #expect(mine.map(\.number) == [4, 5, 3, 1])
        #expect(try await tickets.queue(tenantIDs: [TicketFixtures.tenantID], limit: 2, offset: 1).map(\.number) == [5, 3])
        #expect(try await tickets.queue(tenantIDs: nil, limit: 10, offset: 0).first?.number == otherStored.number)
        #expect(try await tickets.list(requesterID: TicketFixtures.customer.id, limit: 2, offset: 0).map(\.number) == [1, 3])
    }
}
