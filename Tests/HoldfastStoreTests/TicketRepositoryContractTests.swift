import Foundation
import HoldfastCore
import HoldfastStore
import Testing

/// The behaviour every ticket repository must share.
///
/// Serialized: a PostgreSQL store opens up to nine connections, and the test cluster takes 100 in all.
@Suite("Ticket repository contract", .serialized)
struct TicketRepositoryContractTests {
    @Test(arguments: StoreKind.allCases)
    func concurrentCreatesAreNumberedWithoutGapsOrDuplicates(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let numbers = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        let ticket = desk.ticket(by: desk.cat, at: index)
                        let stored = try await repositories.tickets.create(ticket, replies: []) { numbered in
                            [desk.mail(to: desk.cat, "[#\(numbered.number)] received", kind: .ticketReceived)]
                        }
                        return stored.number
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(numbers.sorted() == Array(1...20))
            #expect(Set(try await repositories.pendingMail().map(\.subject)) == Set((1...20).map { "[#\($0)] received" }))
            for number in [1, 20] {
                #expect(try await repositories.tickets.find(number: number)?.number == number)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aFailingCreateWritesNothingAndUsesNoNumber(kind: StoreKind) async throws {
        struct Boom: Error {}
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let doomed = desk.ticket(by: desk.cat)
            await #expect(throws: Boom.self) {
                _ = try await repositories.tickets.create(doomed, replies: [desk.reply(to: doomed, by: desk.cat, "hi")]) { _ in
                    throw Boom()
                }
            }
            #expect(try await repositories.tickets.find(id: doomed.id) == nil)
            #expect(try await repositories.tickets.replies(of: doomed.id).isEmpty)
            #expect(try await repositories.pendingMail().isEmpty)

            let first = try await repositories.tickets.create(desk.ticket(by: desk.cat), replies: []) { _ in [] }
            #expect(first.number == 1)
            // The same id again: refused, and the second number is still free.
            await #expect {
                _ = try await repositories.tickets.create(first, replies: []) { _ in [desk.mail(to: desk.cat, "again")] }
            } throws: { isCoreError($0, "ticket_exists") }
            #expect(try await repositories.pendingMail().isEmpty)
            #expect(try await repositories.tickets.create(desk.ticket(by: desk.col), replies: []) { _ in [] }.number == 2)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aTicketRoundTripsWithEveryFieldAndIsFoundByIDAndNumber(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            var ticket = desk.ticket(by: desk.cat, due: nil, subject: "<script>alert(1)</script> ünïcode")
            ticket.kind = .outage
            ticket.channel = .phone
            ticket.priority = .urgent
            ticket.sessionID = Session.ID()
            ticket.assigneeID = desk.agent.id
            ticket.updatedAt = SupportDesk.start.addingTimeInterval(90.125)
            ticket.firstRespondedAt = SupportDesk.start.addingTimeInterval(3600)
            ticket.firstResponseBusinessMinutes = 60
            ticket.pauses = [SupportDesk.start.addingTimeInterval(60)..<SupportDesk.start.addingTimeInterval(120)]
            ticket.pausedSince = SupportDesk.start.addingTimeInterval(4000)
            ticket.status = .waitingOnCustomer
            ticket.breachWarningsSent = [.dueSoon, .breached]
            ticket.revision = 3
            let first = desk.reply(to: ticket, by: desk.cat, "It froze again.")
            let stored = try await repositories.tickets.create(ticket, replies: [first]) { _ in [] }
            ticket.number = stored.number
            #expect(stored == ticket)
            #expect(try await repositories.tickets.find(id: ticket.id) == ticket)
            #expect(try await repositories.tickets.find(number: ticket.number) == ticket)
            #expect(try await repositories.tickets.replies(of: ticket.id) == [first])

            let plain = try await repositories.tickets.create(desk.ticket(by: desk.sam), replies: []) { _ in [] }
            #expect(try await repositories.tickets.find(id: plain.id) == plain)
            #expect(try await repositories.tickets.find(id: Ticket.ID()) == nil)
            #expect(try await repositories.tickets.find(number: 99) == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aRequestersTicketsAreNewestFirstAndPaged(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            // Cat files at minutes 0, 30, 10, 30 (a tie, broken by the higher number first); Col once.
            var cats: [Ticket] = []
            for minutes in [0, 30, 10, 30] {
                cats.append(try await repositories.tickets.create(desk.ticket(by: desk.cat, at: minutes), replies: []) { _ in [] })
            }
            _ = try await repositories.tickets.create(desk.ticket(by: desk.col, at: 60), replies: []) { _ in [] }

            let all = try await repositories.tickets.list(requesterID: desk.cat.id, limit: 10, offset: 0)
            #expect(all.map(\.number) == [4, 2, 3, 1])
            #expect(try await repositories.tickets.list(requesterID: desk.cat.id, limit: 2, offset: 1).map(\.number) == [2, 3])
            #expect(try await repositories.tickets.list(requesterID: desk.cat.id, limit: 2, offset: 4).isEmpty)
            #expect(try await repositories.tickets.list(requesterID: desk.cat.id, limit: 0, offset: 0).isEmpty)
            #expect(try await repositories.tickets.list(requesterID: desk.col.id, limit: 10, offset: 0).map(\.number) == [5])
            #expect(try await repositories.tickets.list(requesterID: desk.agent.id, limit: 10, offset: 0).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func theQueueIsInQueueOrderPagedAndFilteredByTenant(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let answered = SupportDesk.start.addingTimeInterval(600)
            // (requester, due in minutes, answered, status): every branch of TicketQueue.precedes, and tickets
            // that are not with the team.
            let specs: [(User, Int?, Bool, TicketStatus)] = [
                (desk.cat, 300, false, .new),
                (desk.cat, nil, false, .open),
                (desk.cat, 100, true, .open),
                (desk.cat, 200, false, .open),
                (desk.sam, 150, false, .new),
                (desk.cat, 200, false, .new),  // same due as #4: the lower number first
                (desk.cat, 50, false, .waitingOnCustomer),
                (desk.cat, 60, false, .resolved),
                (desk.sam, 70, false, .closed),
                (desk.cat, nil, true, .open),
                (desk.sam, 20, true, .new),
            ]
            var filed: [Ticket] = []
            for (requester, due, isAnswered, status) in specs {
                var ticket = desk.ticket(by: requester, due: due)
                ticket.status = status
                ticket.firstRespondedAt = isAnswered ? answered : nil
                filed.append(try await repositories.tickets.create(ticket, replies: []) { _ in [] })
            }
            func expected(_ tenants: Set<Tenant.ID>?) -> [Int] {
                filed.filter { TicketQueue.contains($0) && (tenants?.contains($0.tenantID) ?? true) }
                    .sorted(by: TicketQueue.precedes).map(\.number)
            }
            #expect(expected(nil) == [5, 4, 6, 1, 2, 11, 3, 10])

            let everyone = try await repositories.tickets.queue(tenantIDs: nil, limit: 50, offset: 0)
            #expect(everyone.map(\.number) == expected(nil))
            #expect(everyone == expected(nil).map { number in filed.first { $0.number == number }! })
            #expect(try await repositories.tickets.queue(tenantIDs: nil, limit: 3, offset: 2).map(\.number) == [6, 1, 2])
            #expect(try await repositories.tickets.queue(tenantIDs: nil, limit: 3, offset: 7).map(\.number) == [10])
            #expect(
                try await repositories.tickets.queue(tenantIDs: [desk.acme.id], limit: 50, offset: 0).map(\.number)
                    == expected([desk.acme.id]))
            #expect(try await repositories.tickets.queue(tenantIDs: [desk.globex.id], limit: 50, offset: 0).map(\.number) == [5, 11])
            #expect(
                try await repositories.tickets.queue(tenantIDs: [desk.acme.id, desk.globex.id], limit: 50, offset: 0).map(\.number)
                    == expected(nil))
            #expect(try await repositories.tickets.queue(tenantIDs: [], limit: 50, offset: 0).isEmpty)
            #expect(try await repositories.tickets.queue(tenantIDs: [Tenant.ID()], limit: 50, offset: 0).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aSaveWritesTheTicketItsRepliesAndItsMailTogether(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let stored = try await repositories.tickets.create(desk.ticket(by: desk.cat), replies: []) { _ in [] }
            var machine = TicketStateMachine(ticket: stored, calendar: try BusinessCalendar.standard(timeZone: "Europe/London"))
            let actions = try machine.reply(
                body: "On it", visibility: .public, channel: .web, by: desk.agent.id, as: .team,
                setting: .waitingOnCustomer, at: SupportDesk.start.addingTimeInterval(60))
            let replies = actions.compactMap { if case .recordReply(let reply) = $0 { reply } else { nil } }
            let mail = desk.mail(to: desk.cat, "[#1] On it")
            try await repositories.tickets.save(machine.ticket, replies: replies, outbox: [mail])

            let saved = try #require(try await repositories.tickets.find(id: stored.id))
            #expect(saved == machine.ticket)
            #expect(saved.revision == stored.revision + 1)
            #expect(saved.status == .waitingOnCustomer)
            #expect(saved.firstRespondedAt == SupportDesk.start.addingTimeInterval(60))
            #expect(try await repositories.tickets.replies(of: stored.id) == replies)
            #expect(try await repositories.pendingMail() == [mail])
            #expect(try await repositories.tickets.queue(tenantIDs: nil, limit: 10, offset: 0).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aStaleOrFailingSaveWritesNothing(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let stored = try await repositories.tickets.create(desk.ticket(by: desk.cat), replies: []) { _ in [] }
            let calendar = try BusinessCalendar.standard(timeZone: "Europe/London")
            var first = TicketStateMachine(ticket: stored, calendar: calendar)
            var second = TicketStateMachine(ticket: stored, calendar: calendar)
            let firstReply = desk.reply(to: stored, by: desk.agent, "first", at: 1)
            _ = try first.reply(
                id: firstReply.id, body: "first", visibility: .public, channel: .web, by: desk.agent.id, as: .team,
                at: firstReply.createdAt)
            let firstMail = desk.mail(to: desk.cat, "first")
            try await repositories.tickets.save(first.ticket, replies: [firstReply], outbox: [firstMail])

            // A second agent answering from the same revision is refused: nothing of theirs is written.
            _ = try second.reply(
                body: "second", visibility: .public, channel: .web, by: desk.agent.id, as: .team, at: SupportDesk.start + 120)
            await #expect {
                try await repositories.tickets.save(
                    second.ticket, replies: [desk.reply(to: stored, by: desk.agent, "second")],
                    outbox: [desk.mail(to: desk.cat, "second")])
            } throws: { isCoreError($0, "ticket_changed") }

            // A save whose mail clashes with a stored one rolls back the ticket and the reply it wrote first.
            var third = TicketStateMachine(ticket: first.ticket, calendar: calendar)
            _ = try third.changeStatus(to: .resolved, by: desk.agent.id, as: .team, at: SupportDesk.start + 180)
            await #expect {
                try await repositories.tickets.save(
                    third.ticket, replies: [desk.reply(to: stored, by: desk.agent, "third", visibility: .internal)],
                    outbox: [firstMail])
            } throws: { isCoreError($0, "outbox_message_exists") }

            // A ticket that was never stored is not found.
            var ghost = desk.ticket(by: desk.cat)
            ghost.revision = 1
            await #expect {
                try await repositories.tickets.save(ghost, replies: [], outbox: [desk.mail(to: desk.cat, "ghost")])
            } throws: { ($0 as? CoreError)?.kind == .notFound }

            #expect(try await repositories.tickets.find(id: stored.id) == first.ticket)
            #expect(try await repositories.tickets.replies(of: stored.id).map(\.body) == ["first"])
            #expect(try await repositories.pendingMail() == [firstMail])
            // The refused change can be made again from the stored revision.
            try await repositories.tickets.save(third.ticket, replies: [], outbox: [])
            #expect(try await repositories.tickets.find(id: stored.id)?.status == .resolved)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func ofConcurrentSavesFromOneRevisionExactlyOneWins(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let stored = try await repositories.tickets.create(desk.ticket(by: desk.cat), replies: []) { _ in [] }
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        var copy = stored
                        copy.subject = "edit \(index)"
                        copy.revision += 1
                        do {
                            try await repositories.tickets.save(
                                copy, replies: [desk.reply(to: stored, by: desk.agent, "edit \(index)")],
                                outbox: [desk.mail(to: desk.cat, "edit \(index)")])
                            return true
                        } catch let error as CoreError where error.code == "ticket_changed" {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
            let saved = try #require(try await repositories.tickets.find(id: stored.id))
            #expect(saved.revision == 1)
            #expect(try await repositories.tickets.replies(of: stored.id).map(\.body) == [saved.subject])
            #expect(try await repositories.pendingMail().map(\.subject) == [saved.subject])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func repliesKeepTheirOrderAndVisibility(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            var ticket = desk.ticket(by: desk.cat)
            let opening = desk.reply(to: ticket, by: desk.cat, "first words", at: 0)
            ticket = try await repositories.tickets.create(ticket, replies: [opening]) { _ in [] }
            // Written in one millisecond: the thread keeps the order they were saved in, not the ids' order.
            let batch = [
                desk.reply(to: ticket, by: desk.agent, "looking", visibility: .internal, at: 5),
                desk.reply(to: ticket, by: desk.agent, "Which browser?", at: 5),
                desk.reply(to: ticket, by: desk.agent, "probably the proxy", visibility: .internal, at: 5),
            ]
            ticket.revision += 1
            try await repositories.tickets.save(ticket, replies: batch, outbox: [])
            let answer = desk.reply(to: ticket, by: desk.cat, "Firefox", at: 7)
            ticket.revision += 1
            try await repositories.tickets.save(ticket, replies: [answer], outbox: [])

            let thread = try await repositories.tickets.replies(of: ticket.id)
            #expect(thread == [opening] + batch + [answer])
            #expect(thread.map(\.visibility) == [.public, .internal, .public, .internal, .public])
            #expect(thread.map(\.side) == [.customer, .team, .team, .team, .customer])
            #expect(try await repositories.tickets.replies(of: Ticket.ID()).isEmpty)
        }
    }
}
