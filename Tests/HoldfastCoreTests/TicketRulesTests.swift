import Foundation
import HoldfastCore
import Testing

/// Shared fixtures for the ticket tests: a London tenant, its customer, an agent, and the default calendar.
enum TicketFixtures {
    static let tenantID = Tenant.ID()
    static let otherTenantID = Tenant.ID()
    static let customer = User(tenantID: tenantID, email: "cat@acme.example", name: "Cat", role: .member, createdAt: .distantPast)
    static let colleague = User(tenantID: tenantID, email: "col@acme.example", name: "Col", role: .member, createdAt: .distantPast)
    static let tenantAdmin = User(
        tenantID: tenantID, email: "ada@acme.example", name: "Ada", role: .tenantAdmin, createdAt: .distantPast)
    static let stranger = User(
        tenantID: otherTenantID, email: "sam@other.example", name: "Sam", role: .tenantAdmin, createdAt: .distantPast)
    static let agent = User(tenantID: otherTenantID, email: "al@holdfast.example", name: "Al", role: .agent, createdAt: .distantPast)
    static let operatorUser = User(
        tenantID: otherTenantID, email: "op@holdfast.example", name: "Op", role: .operator, createdAt: .distantPast)

    static func calendar() throws -> BusinessCalendar { try BusinessCalendar.standard(timeZone: "Europe/London") }

    static func newTicket(
        kind: String = "bug", channel: TicketChannel = .web, priority: String? = nil, subject: String = "Terminal froze",
        occurredAt: Date? = nil, receivedAt: Date? = nil, at now: Date
    ) -> NewTicket {
        NewTicket(
            kind: kind, channel: channel, priority: priority, subject: subject, description: "The terminal stopped echoing.",
            occurredAt: occurredAt ?? now.addingTimeInterval(-600), whatHappened: "I typed ls and nothing came back.",
            receivedAt: receivedAt)
    }

    /// A validated, numbered ticket filed by the customer at `now`.
    static func ticket(at now: Date, number: Int = 7) throws -> Ticket {
        var ticket = try self.newTicket(at: now).validated(
            tenantID: tenantID, requesterID: customer.id, policies: .standard, calendar: calendar(), at: now)
        ticket.number = number
        return ticket
    }
}

@Suite("Tickets: validation of untrusted input")
struct TicketValidationTests {
    let now: Date

    init() throws { self.now = try isoInstant("2026-11-30T10:00:00Z") }

    func validate(_ new: NewTicket) throws -> Ticket {
        try new.validated(
            tenantID: TicketFixtures.tenantID, requesterID: TicketFixtures.customer.id, policies: .standard,
            calendar: TicketFixtures.calendar(), at: self.now)
    }

    func expectCode(_ code: String, _ new: NewTicket) {
        #expect {
            _ = try self.validate(new)
        } throws: { error in
            let error = try #require(error as? CoreError)
            return error.kind == .invalidInput && error.code == code
        }
    }

    @Test("A valid ticket is new, normal priority, due four business hours after filing")
    func validTicket() throws {
        let ticket = try self.validate(TicketFixtures.newTicket(subject: "  Terminal froze \n", at: self.now))
        #expect(ticket.status == .new)
        #expect(ticket.priority == .normal)
        #expect(ticket.subject == "Terminal froze")
        #expect(ticket.createdAt == self.now)
        #expect(ticket.firstResponseTargetMinutes == 240)
        #expect(ticket.firstResponseDueAt == (try isoInstant("2026-11-30T14:00:00Z")))
        #expect(ticket.firstRespondedAt == nil)
    }

    @Test("HTML and script in the text are stored exactly as written, never stripped or interpreted")
    func htmlIsStoredAsText() throws {
        var new = TicketFixtures.newTicket(subject: "<b>bold</b> & <script>alert(1)</script>", at: self.now)
        new.description = "<img src=x onerror=alert(1)>"
        let ticket = try self.validate(new)
        #expect(ticket.subject == "<b>bold</b> & <script>alert(1)</script>")
        #expect(ticket.description == "<img src=x onerror=alert(1)>")
    }

    @Test("Unknown kinds, priorities and statuses are refused with a code naming the field and the valid values")
    func enumFields() throws {
        self.expectCode("invalid_kind", TicketFixtures.newTicket(kind: "feature", at: self.now))
        self.expectCode("invalid_priority", TicketFixtures.newTicket(priority: "critical", at: self.now))
        #expect(throws: CoreError.invalidInput("invalid_channel", "'fax' is not a ticket channel; use one of: web, api, email, phone.")) {
            try TicketChannel(validating: "fax")
        }
        #expect(try TicketStatus(validating: "waiting-on-customer") == .waitingOnCustomer)
        #expect(TicketStatus.allCases.map(\.rawValue) == ["new", "open", "waiting-on-customer", "resolved", "closed"])
        #expect(try TicketPriority(validating: "urgent") == .urgent)
    }

    @Test("Subject: 1 to 200 characters after trimming, one line")
    func subjectRules() throws {
        self.expectCode("invalid_subject", TicketFixtures.newTicket(subject: "   ", at: self.now))
        self.expectCode("invalid_subject", TicketFixtures.newTicket(subject: String(repeating: "x", count: 201), at: self.now))
        self.expectCode("invalid_subject", TicketFixtures.newTicket(subject: "Hi\r\nBcc: victim@example.com", at: self.now))
        #expect(try self.validate(TicketFixtures.newTicket(subject: String(repeating: "é", count: 200), at: self.now)).subject.count == 200)
    }

    @Test("Description and what happened: 1 to 20,000 characters")
    func textRules() throws {
        var new = TicketFixtures.newTicket(at: self.now)
        new.description = ""
        self.expectCode("invalid_description", new)
        new.description = String(repeating: "a", count: 20_001)
        self.expectCode("invalid_description", new)
        new.description = String(repeating: "a", count: 20_000)
        #expect(try self.validate(new).description.count == 20_000)
        new.whatHappened = " \n "
        self.expectCode("invalid_what_happened", new)
    }

    @Test("When it occurred: not before 2000, at most five minutes in the future")
    func occurredAtRules() throws {
        self.expectCode("invalid_occurred_at", TicketFixtures.newTicket(occurredAt: try isoInstant("1999-12-31T23:59:59Z"), at: self.now))
        self.expectCode("invalid_occurred_at", TicketFixtures.newTicket(occurredAt: self.now.addingTimeInterval(301), at: self.now))
        #expect(throws: Never.self) {
            try self.validate(TicketFixtures.newTicket(occurredAt: self.now.addingTimeInterval(300), at: self.now))
        }
    }

    @Test("A phone ticket counts from when the call came in; other channels cannot backdate")
    func phoneReceivedAt() throws {
        let call = try isoInstant("2026-11-30T09:30:00Z")
        let ticket = try self.validate(TicketFixtures.newTicket(channel: .phone, receivedAt: call, at: self.now))
        #expect(ticket.channel == .phone)
        #expect(ticket.createdAt == call)
        #expect(ticket.firstResponseDueAt == (try isoInstant("2026-11-30T13:30:00Z")))
        self.expectCode("invalid_received_at", TicketFixtures.newTicket(channel: .web, receivedAt: call, at: self.now))
        self.expectCode(
            "invalid_received_at", TicketFixtures.newTicket(channel: .phone, receivedAt: self.now.addingTimeInterval(3600), at: self.now))
    }

    @Test("A ticket filed on Saturday starts counting at Monday's opening")
    func weekendFiling() throws {
        let saturday = try isoInstant("2026-11-28T11:00:00Z")
        let ticket = try TicketFixtures.newTicket(at: saturday).validated(
            tenantID: TicketFixtures.tenantID, requesterID: TicketFixtures.customer.id, policies: .standard,
            calendar: TicketFixtures.calendar(), at: saturday)
        #expect(ticket.firstResponseDueAt == (try isoInstant("2026-11-30T13:00:00Z")))
    }
}

@Suite("Tickets: status transitions, first response and the SLA pause")
struct TicketStateMachineTests {
    let filed: Date
    let customer = TicketFixtures.customer.id
    let agent = TicketFixtures.agent.id

    init() throws { self.filed = try isoInstant("2026-11-30T10:00:00Z") }

    func machine(_ status: TicketStatus = .new) throws -> TicketStateMachine {
        var machine = try TicketStateMachine(ticket: TicketFixtures.ticket(at: self.filed), calendar: TicketFixtures.calendar())
        if status != .new { _ = try machine.changeStatus(to: status, by: self.agent, as: .team, at: self.filed) }
        return machine
    }

    /// Every (from, to, side) triple, with whether the table in `TicketStateMachine`'s documentation allows it.
    static let table: [(TicketStatus, TicketStatus, TicketSide, Bool)] = {
        let team: [TicketStatus: Set<TicketStatus>] = [
            .new: [.open, .waitingOnCustomer, .resolved, .closed], .open: [.waitingOnCustomer, .resolved, .closed],
            .waitingOnCustomer: [.open, .resolved, .closed], .resolved: [.open, .closed], .closed: [],
        ]
        let customer: [TicketStatus: Set<TicketStatus>] = [
            .new: [.closed], .open: [.closed], .waitingOnCustomer: [.closed], .resolved: [.open, .closed], .closed: [],
        ]
        return TicketStatus.allCases.flatMap { from in
            TicketStatus.allCases.filter { $0 != from }.flatMap { to in
                [(from, to, .team, team[from]!.contains(to)), (from, to, .customer, customer[from]!.contains(to))]
            }
        }
    }()

    @Test("Setting a status follows the transition table, and a refusal changes nothing")
    func transitionTable() throws {
        for (from, to, side, allowed) in Self.table {
            #expect(TicketStateMachine.canChange(from: from, to: to, by: side) == allowed, "\(from) → \(to) by \(side)")
            // Reach `from` honestly: closed is reached from open.
            var machine = try self.machine(from == .closed ? .open : from)
            if from == .closed { _ = try machine.changeStatus(to: .closed, by: self.agent, as: .team, at: self.filed) }
            let before = machine
            let actor = side == .team ? self.agent : self.customer
            if allowed {
                _ = try machine.changeStatus(to: to, by: actor, as: side, at: self.filed.addingTimeInterval(60))
                #expect(machine.ticket.status == to)
                #expect(machine.ticket.revision == before.ticket.revision + 1)
            } else {
                #expect {
                    try machine.changeStatus(to: to, by: actor, as: side, at: self.filed.addingTimeInterval(60))
                } throws: { ($0 as? CoreError)?.code == "ticket_transition_not_allowed" }
                #expect(machine == before)
            }
        }
    }

    @Test("Setting the current status again is a no-op")
    func sameStatus() throws {
        var machine = try self.machine(.open)
        let before = machine
        #expect(try machine.changeStatus(to: .open, by: self.agent, as: .team, at: self.filed).isEmpty)
        #expect(machine == before)
    }

    @Test("A customer reply reopens a waiting, resolved or closed ticket, and leaves new and open alone")
    func customerReplyReopens() throws {
        for (from, after) in [(TicketStatus.new, TicketStatus.new), (.open, .open), (.waitingOnCustomer, .open), (.resolved, .open)] {
            var machine = try self.machine(from)
            _ = try machine.reply(body: "More detail", visibility: .public, channel: .web, by: self.customer, as: .customer, at: self.filed)
            #expect(machine.ticket.status == after, "from \(from)")
        }
        var closed = try self.machine(.open)
        _ = try closed.changeStatus(to: .closed, by: self.agent, as: .team, at: self.filed)
        _ = try closed.reply(body: "It is back", visibility: .public, channel: .email, by: self.customer, as: .customer, at: self.filed)
        #expect(closed.ticket.status == .open)
    }

    @Test("The first public reply by the team is the first response, in business minutes; later replies change nothing")
    func firstResponse() throws {
        var machine = try self.machine()
        // Monday 10:00 filed; a customer reply and an internal note do not count.
        _ = try machine.reply(
            body: "Anyone?", visibility: .public, channel: .web, by: self.customer, as: .customer, at: self.filed.addingTimeInterval(600))
        _ = try machine.reply(
            body: "Looking", visibility: .internal, channel: .web, by: self.agent, as: .team, at: self.filed.addingTimeInterval(1200))
        #expect(machine.ticket.firstRespondedAt == nil)
        #expect(machine.ticket.status == .new)
        let answer = self.filed.addingTimeInterval(90 * 60 + 30)
        let actions = try machine.reply(body: "Fixed the host", visibility: .public, channel: .web, by: self.agent, as: .team, at: answer)
        #expect(machine.ticket.firstRespondedAt == answer)
        #expect(machine.ticket.firstResponseBusinessMinutes == 90)
        #expect(machine.ticket.status == .open)
        guard case .recordReply(let reply) = actions.first else {
            Issue.record("expected the reply first, got \(actions)")
            return
        }
        #expect(reply.side == .team && reply.visibility == .public && reply.body == "Fixed the host")
        #expect(actions.dropFirst() == [.notify(self.customer, .teamReplied(reply, status: .open))])
        _ = try machine.reply(body: "Again", visibility: .public, channel: .web, by: self.agent, as: .team, at: answer + 3600)
        #expect(machine.ticket.firstRespondedAt == answer)
    }

    @Test("A first response after hours counts business minutes only")
    func firstResponseAcrossTheWeekend() throws {
        var machine = try TicketStateMachine(
            ticket: TicketFixtures.ticket(at: try isoInstant("2026-11-27T16:00:00Z")), calendar: TicketFixtures.calendar())
        _ = try machine.reply(
            body: "Hello", visibility: .public, channel: .web, by: self.agent, as: .team, at: try isoInstant("2026-11-30T09:30:00Z"))
        #expect(machine.ticket.firstResponseBusinessMinutes == 90)
    }

    @Test("Internal notes never notify the customer and customers cannot write them")
    func internalNotes() throws {
        var machine = try self.machine(.open)
        let actions = try machine.reply(
            body: "Host 3 is flaky", visibility: .internal, channel: .web, by: self.agent, as: .team, at: self.filed)
        #expect(actions.count == 1)
        #expect {
            try machine.reply(body: "sneaky", visibility: .internal, channel: .web, by: self.customer, as: .customer, at: self.filed)
        } throws: { ($0 as? CoreError)?.kind == .forbidden }
    }

    @Test("Waiting on the customer moves the due time later by the business time spent waiting")
    func pauseMovesDueTime() throws {
        var machine = try self.machine()
        #expect(machine.ticket.firstResponseDueAt == (try isoInstant("2026-11-30T14:00:00Z")))
        // 11:00 the team asks by phone (no public reply) and sets waiting; the customer answers at 15:00.
        _ = try machine.changeStatus(to: .waitingOnCustomer, by: self.agent, as: .team, at: try isoInstant("2026-11-30T11:00:00Z"))
        #expect(machine.ticket.pausedSince == (try isoInstant("2026-11-30T11:00:00Z")))
        #expect(!TicketQueue.contains(machine.ticket))
        _ = try machine.reply(
            body: "Here is the log", visibility: .public, channel: .email, by: self.customer, as: .customer,
            at: try isoInstant("2026-11-30T15:00:00Z"))
        #expect(machine.ticket.status == .open)
        #expect(machine.ticket.pausedSince == nil)
        #expect(machine.ticket.pauses == [try pauseRange("2026-11-30T11:00:00Z", "2026-11-30T15:00:00Z")])
        // Four business hours paused: 14:00 + 4 h = 18:00, past closing, so Tuesday 10:00.
        #expect(machine.ticket.firstResponseDueAt == (try isoInstant("2026-12-01T10:00:00Z")))
        // The first response leaves the paused hours out too.
        _ = try machine.reply(
            body: "Thanks", visibility: .public, channel: .web, by: self.agent, as: .team, at: try isoInstant("2026-11-30T16:00:00Z"))
        #expect(machine.ticket.firstResponseBusinessMinutes == 120)
    }

    @Test("A pause outside business hours does not move the due time")
    func pauseOutsideHours() throws {
        var machine = try TicketStateMachine(
            ticket: TicketFixtures.ticket(at: try isoInstant("2026-11-27T16:00:00Z")), calendar: TicketFixtures.calendar())
        let due = machine.ticket.firstResponseDueAt
        _ = try machine.changeStatus(to: .waitingOnCustomer, by: self.agent, as: .team, at: try isoInstant("2026-11-27T17:00:00Z"))
        _ = try machine.changeStatus(to: .open, by: self.agent, as: .team, at: try isoInstant("2026-11-30T08:00:00Z"))
        #expect(machine.ticket.firstResponseDueAt == due)
    }

    @Test("The team setting a status tells the customer; the customer closing tells the assignee; nobody hears of their own click")
    func statusNotifications() throws {
        var machine = try self.machine()
        #expect(try machine.assign(to: self.agent, by: self.agent, at: self.filed).isEmpty)
        #expect(machine.ticket.status == .open)
        let resolved = try machine.changeStatus(to: .resolved, by: self.agent, as: .team, at: self.filed)
        #expect(resolved == [.notify(self.customer, .statusChanged(from: .open, to: .resolved))])
        let closed = try machine.changeStatus(to: .closed, by: self.customer, as: .customer, at: self.filed)
        #expect(closed == [.notify(self.agent, .statusChanged(from: .resolved, to: .closed))])
        let reopened = try machine.reply(
            body: "Broken again", visibility: .public, channel: .web, by: self.customer, as: .customer, at: self.filed)
        guard case .recordReply(let reply) = reopened.first else {
            Issue.record("expected the reply first, got \(reopened)")
            return
        }
        #expect(reopened.dropFirst() == [.notify(self.agent, .customerReplied(reply))])
    }

    @Test("Reply and set waiting-on-customer in one step sends one mail that says so")
    func replyAndWait() throws {
        var machine = try self.machine()
        let actions = try machine.reply(
            body: "Which browser?", visibility: .public, channel: .web, by: self.agent, as: .team, setting: .waitingOnCustomer,
            at: self.filed.addingTimeInterval(60))
        #expect(machine.ticket.status == .waitingOnCustomer)
        #expect(machine.ticket.firstRespondedAt != nil)
        #expect(actions.count == 2)
        if case .notify(_, .teamReplied(_, let status)) = actions.last {
            #expect(status == .waitingOnCustomer)
        } else {
            Issue.record("expected a team reply notice, got \(actions)")
        }
    }

    @Test("A filed ticket tells its requester it was received")
    func filedNotice() throws {
        let ticket = try TicketFixtures.ticket(at: self.filed)
        #expect(TicketStateMachine.filed(ticket) == [.notify(self.customer, .received)])
    }
}

@Suite("Tickets: who may do what")
struct SupportAccessPolicyTests {
    let ticket: Ticket

    init() throws { self.ticket = try TicketFixtures.ticket(at: try isoInstant("2026-11-30T10:00:00Z")) }

    @Test("Agents and operators act as the team; the requester and their tenant admin as the customer; others see nothing")
    func sides() throws {
        #expect(try AccessPolicy.ticketSide(of: TicketFixtures.agent, on: self.ticket) == .team)
        #expect(try AccessPolicy.ticketSide(of: TicketFixtures.operatorUser, on: self.ticket) == .team)
        #expect(try AccessPolicy.ticketSide(of: TicketFixtures.customer, on: self.ticket) == .customer)
        #expect(try AccessPolicy.ticketSide(of: TicketFixtures.tenantAdmin, on: self.ticket) == .customer)
        for outsider in [TicketFixtures.colleague, TicketFixtures.stranger] {
            #expect { try AccessPolicy.requireVisibility(of: self.ticket, to: outsider) } throws: {
                ($0 as? CoreError)?.kind == .notFound
            }
        }
    }

    @Test("Internal notes are never visible to the customer side")
    func noteVisibility() throws {
        let note = TicketReply(
            ticketID: self.ticket.id, authorID: TicketFixtures.agent.id, side: .team, visibility: .internal, body: "n", channel: .web,
            createdAt: .distantPast)
        var reply = note
        reply.id = TicketReply.ID()
        reply.visibility = .public
        #expect(try AccessPolicy.visibleReplies([note, reply], of: self.ticket, to: TicketFixtures.customer) == [reply])
        #expect(try AccessPolicy.visibleReplies([note, reply], of: self.ticket, to: TicketFixtures.tenantAdmin) == [reply])
        #expect(try AccessPolicy.visibleReplies([note, reply], of: self.ticket, to: TicketFixtures.agent) == [note, reply])
    }

    @Test("Only the team files phone tickets or tickets for someone else, and works the queue")
    func filingAndConsole() throws {
        #expect(throws: Never.self) {
            try AccessPolicy.requireFiling(for: TicketFixtures.customer, by: TicketFixtures.customer, channel: .web)
            try AccessPolicy.requireFiling(for: TicketFixtures.customer, by: TicketFixtures.agent, channel: .phone)
            try AccessPolicy.requireAgentConsole(by: TicketFixtures.operatorUser)
        }
        #expect(throws: CoreError.self) {
            try AccessPolicy.requireFiling(for: TicketFixtures.customer, by: TicketFixtures.customer, channel: .phone)
        }
        #expect(throws: CoreError.self) {
            try AccessPolicy.requireFiling(for: TicketFixtures.colleague, by: TicketFixtures.tenantAdmin, channel: .web)
        }
        #expect(throws: CoreError.self) { try AccessPolicy.requireAgentConsole(by: TicketFixtures.tenantAdmin) }
    }
}
