import Foundation
import HoldfastCore
import Testing

@Suite("Mail gate: new ticket, threaded reply or bounce")
struct MailGateTests {
    let now: Date
    let ticket: Ticket

    init() throws {
        self.now = try isoInstant("2026-11-30T10:00:00Z")
        self.ticket = try TicketFixtures.ticket(at: self.now.addingTimeInterval(-86_400), number: 42)
    }

    func message(subject: String, text: String = "Still broken.\n\nOn Mon, Al wrote:\n> fixed?", date: Date? = nil) -> MailMessage {
        MailMessage(from: MailAddress(address: TicketFixtures.customer.email), subject: subject, date: date, text: text)
    }

    @Test("Unknown senders get the bounce text and nothing else")
    func unknownSender() {
        let plan = MailGate.plan(self.message(subject: "Help"), sender: nil, thread: nil, at: self.now)
        #expect(plan == .bounce(MailGateBounce.unknownSender(TicketFixtures.customer.email)))
    }

    @Test("A tagged reply from the requester threads onto the ticket without the quoted text")
    func threadedReply() {
        let plan = MailGate.plan(
            self.message(subject: "Re: [#42] Terminal froze"), sender: TicketFixtures.customer, thread: self.ticket, at: self.now)
        #expect(plan == .reply(to: self.ticket, body: "Still broken.", side: .customer))
        let agentPlan = MailGate.plan(self.message(subject: "[#42]"), sender: TicketFixtures.agent, thread: self.ticket, at: self.now)
        #expect(agentPlan == .reply(to: self.ticket, body: "Still broken.", side: .team))
    }

    @Test("A tag for someone else's ticket files a new ticket instead of touching theirs")
    func foreignTag() {
        let plan = MailGate.plan(
            self.message(subject: "Re: [#42] guess"), sender: TicketFixtures.stranger, thread: self.ticket, at: self.now)
        guard case .newTicket(let new) = plan else {
            Issue.record("expected a new ticket, got \(plan)")
            return
        }
        #expect(new.subject == "guess")
        #expect(new.channel == .email)
    }

    @Test("A new ticket by mail: cleaned subject, plausible occurrence time, valid as a ticket")
    func newTicket() throws {
        let claimed = try isoInstant("2026-11-30T09:00:00Z")
        guard
            case .newTicket(let new) = MailGate.plan(
                self.message(subject: "Fwd: Outage", date: claimed), sender: TicketFixtures.customer, thread: nil, at: self.now)
        else {
            Issue.record("expected a new ticket")
            return
        }
        #expect(new.subject == "Outage" && new.occurredAt == claimed)
        let ticket = try new.validated(
            tenantID: TicketFixtures.tenantID, requesterID: TicketFixtures.customer.id, policies: .standard,
            calendar: TicketFixtures.calendar(), at: self.now)
        #expect(ticket.channel == .email && ticket.kind == .bug)
        guard
            case .newTicket(let future) = MailGate.plan(
                self.message(subject: "  ", date: self.now + 86_400), sender: TicketFixtures.customer, thread: nil, at: self.now)
        else {
            Issue.record("expected a new ticket")
            return
        }
        #expect(future.subject == MailGate.noSubject && future.occurredAt == self.now)
    }
}
