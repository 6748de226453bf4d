import Foundation
import HoldfastCore
import Testing

/// The people of a support desk, stored in the store under test (tickets and votes point at real users).
struct SupportDesk {
    /// Monday 30 November 2026, 10:00 UTC, on a whole second so that every stored time round-trips exactly.
    static let start = Date(timeIntervalSince1970: 1_796_032_800)

    let acme: Tenant
    let globex: Tenant
    let cat: User
    let col: User
    let sam: User
    let agent: User

    /// Stores two customer tenants, two customers of Acme, one of Globex, and an agent.
    static func seed(_ repositories: Repositories) async throws -> SupportDesk {
        let acme = Tenant(name: "Acme", slug: "acme", createdAt: Self.start)
        let globex = Tenant(name: "Globex", slug: "globex", createdAt: Self.start)
        for tenant in [acme, globex] {
            try await repositories.tenants.create(tenant)
        }
        let desk = SupportDesk(
            acme: acme, globex: globex,
            cat: User(tenantID: acme.id, email: "cat@acme.test", name: "Cat", role: .member, createdAt: Self.start),
            col: User(tenantID: acme.id, email: "col@acme.test", name: "Col", role: .member, createdAt: Self.start),
            sam: User(tenantID: globex.id, email: "sam@globex.test", name: "Sam", role: .member, createdAt: Self.start),
            agent: User(tenantID: globex.id, email: "al@holdfast.test", name: "Al", role: .agent, createdAt: Self.start))
        for user in [desk.cat, desk.col, desk.sam, desk.agent] {
            try await repositories.users.create(user, passwordHash: "h")
        }
        return desk
    }

    /// More users of Acme, e.g. voters.
    func users(_ count: Int, in repositories: Repositories) async throws -> [User] {
        var users: [User] = []
        for index in 0..<count {
            let user = User(tenantID: self.acme.id, email: "u\(index)@acme.test", name: "U\(index)", role: .member, createdAt: Self.start)
            try await repositories.users.create(user, passwordHash: "h")
            users.append(user)
        }
        return users
    }

    /// An unstored, unnumbered ticket of `requester`, filed `minutes` after ``start``, first response due `due`
    /// minutes after ``start`` (none when `nil`).
    func ticket(by requester: User, at minutes: Int = 0, due: Int? = 240, subject: String = "Terminal froze") -> Ticket {
        let filed = Self.start.addingTimeInterval(TimeInterval(minutes * 60))
        return Ticket(
            tenantID: requester.tenantID, requesterID: requester.id, kind: .bug, channel: .web, subject: subject,
            description: "The terminal stopped echoing.", occurredAt: filed.addingTimeInterval(-600),
            whatHappened: "I typed ls and nothing came back.", createdAt: filed,
            firstResponseTargetMinutes: due == nil ? nil : 240,
            firstResponseDueAt: due.map { Self.start.addingTimeInterval(TimeInterval($0 * 60)) })
    }

    /// A reply to `ticket` at `minutes` after ``start``.
    func reply(
        to ticket: Ticket, by author: User, _ body: String, visibility: ReplyVisibility = .public, at minutes: Int = 0
    ) -> TicketReply {
        TicketReply(
            ticketID: ticket.id, authorID: author.id, side: author.role == .member ? .customer : .team, visibility: visibility,
            body: body, channel: .web, createdAt: Self.start.addingTimeInterval(TimeInterval(minutes * 60)))
    }

    /// An outbox message to `user`, written `minutes` after ``start``.
    func mail(to user: User, _ subject: String, at minutes: Int = 0, kind: OutboxKind = .ticketReplied) -> OutboxMessage {
        OutboxMessage(
            kind: kind, to: MailAddress(address: user.email, name: user.name), subject: subject, body: "Hello,\n\nbody",
            createdAt: Self.start.addingTimeInterval(TimeInterval(minutes * 60)))
    }
}

extension Repositories {
    /// Every outbox row still to send (nothing in these tests is due later than the year 4000).
    func pendingMail() async throws -> [OutboxMessage] {
        try await self.outbox.due(at: .distantFuture, limit: 10_000)
    }
}

/// Whether `error` is a `CoreError` with `code`.
func isCoreError(_ error: any Error, _ code: String) -> Bool {
    (error as? CoreError)?.code == code
}
