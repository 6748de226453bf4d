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

    func message(
        subject: String, from: String = TicketFixtures.customer.email, text: String = "Still broken.\n\nOn Mon, Al wrote:\n> fixed?",
        date: Date? = nil
    ) -> MailMessage {
        MailMessage(from: MailAddress(address: from), subject: subject, date: date, text: text)
    }

    /// The subject of a reply to one of our mails about the ticket.
    var replySubject: String { "Re: \(MailSubject.tag(self.ticket)) Terminal froze" }

    @Test("Unknown senders without a reply token get the bounce text and nothing else")
    func unknownSender() {
        let plan = MailGate.plan(self.message(subject: "Help"), sender: nil, thread: nil, at: self.now)
        #expect(plan == .bounce(MailGateBounce.unknownSender(TicketFixtures.customer.email), .unknownSender))
    }

    @Test("A reply carrying the ticket's token threads onto it without the quoted text")
    func threadedReply() {
        let plan = MailGate.plan(
            self.message(subject: self.replySubject), sender: TicketFixtures.customer, thread: self.ticket, at: self.now)
        #expect(plan == .reply(to: self.ticket, body: "Still broken.", author: .sender))
    }

    @Test("From: alone threads nothing: no token, another ticket's token or a guessed one files a new, unverified ticket")
    func tokenRequired() {
        var other = self.ticket
        other.replyToken = ReplyToken.make()
        for subject in [
            "Re: [#42] Terminal froze", "Re: \(MailSubject.tag(other)) Terminal froze", "Re: [#42-aaaaaaaaaaaaaaaa] Terminal froze",
            "Re: [#42-\(self.ticket.replyToken.dropLast())] Terminal froze",
        ] {
            let plan = MailGate.plan(self.message(subject: subject), sender: TicketFixtures.customer, thread: self.ticket, at: self.now)
            guard case .newTicket(let new) = plan else {
                Issue.record("\(subject): expected a new ticket, got \(plan)")
                continue
            }
            #expect(new.unverified && new.subject == "Terminal froze" && new.channel == .email)
        }
    }

    @Test("A mail from a team address never becomes a team reply: refused on a thread, unverified without one")
    func forgedAgent() {
        let onThread = MailGate.plan(
            self.message(subject: self.replySubject), sender: TicketFixtures.agent, thread: self.ticket, at: self.now)
        #expect(onThread == .bounce(MailGateBounce.teamByMail(ticketNumber: 42), .teamByMail))
        guard
            case .newTicket(let new) = MailGate.plan(
                self.message(subject: "[#42]"), sender: TicketFixtures.agent, thread: self.ticket, at: self.now)
        else {
            Issue.record("expected a new ticket")
            return
        }
        #expect(new.unverified)
    }

    @Test("Someone else with the token (a forwarded mail) writes as the requester, and the reply says who mailed it")
    func forwardedReply() {
        let stranger = TicketFixtures.stranger
        let plan = MailGate.plan(
            self.message(subject: self.replySubject, from: stranger.email), sender: stranger, thread: self.ticket, at: self.now)
        #expect(plan == .reply(to: self.ticket, body: "By mail from \(stranger.email):\n\nStill broken.", author: .requester))
        let unknown = MailGate.plan(self.message(subject: self.replySubject), sender: nil, thread: self.ticket, at: self.now)
        guard case .reply(_, _, .requester) = unknown else {
            Issue.record("expected a reply as the requester, got \(unknown)")
            return
        }
    }

    @Test("Tokens are compared whole: empty, shorter, longer or differing tokens do not match")
    func tokenComparison() {
        let token = self.ticket.replyToken
        #expect(token.count == ReplyToken.length)
        #expect(ReplyToken.matches(token, token))
        #expect(!ReplyToken.matches("", ""))
        #expect(!ReplyToken.matches(String(token.dropLast()), token))
        #expect(!ReplyToken.matches(token + "a", token))
        let flipped = String(token.dropLast()) + (token.last == "a" ? "b" : "a")
        #expect(!ReplyToken.matches(flipped, token))
        #expect(ReplyToken.make() != ReplyToken.make())
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

    @Test("A team member's mail with the token answers as the team only when the trusted MTA verified its From")
    func verifiedAgent() {
        var mail = self.message(subject: self.replySubject, from: TicketFixtures.agent.email)
        mail.authenticationResults = ["mx.holdfast.example; dkim=pass header.d=holdfast.example header.s=s1; spf=fail"]
        let verified = MailAuthentication.fromIsVerified(mail, trusting: ["mx.holdfast.example"])
        #expect(verified)
        #expect(
            MailGate.plan(mail, sender: TicketFixtures.agent, thread: self.ticket, fromVerified: verified, at: self.now)
                == .reply(to: self.ticket, body: "Still broken.", author: .sender))
        guard case .newTicket(let new) = MailGate.plan(mail, sender: TicketFixtures.customer, thread: nil, fromVerified: true, at: self.now)
        else {
            Issue.record("expected a new ticket")
            return
        }
        #expect(!new.unverified)
    }

    @Test("Authentication-Results count only from the trusted MTA, topmost, passing and aligned with From")
    func authenticationResults() {
        func verified(_ headers: [String], from: String = "al@holdfast.example", trusting: Set<String> = ["mx.holdfast.example"]) -> Bool {
            var mail = self.message(subject: "x", from: from)
            mail.authenticationResults = headers
            return MailAuthentication.fromIsVerified(mail, trusting: trusting)
        }
        #expect(verified(["mx.holdfast.example 1; dmarc=pass (p=reject) header.from=holdfast.example"]))
        #expect(verified(["MX.Holdfast.Example; spf=pass smtp.mailfrom=bounces@holdfast.example"]))
        // A signature of a parent domain is aligned; another domain's is not.
        #expect(verified(["mx.holdfast.example; dkim=pass header.d=holdfast.example"], from: "al@eu.holdfast.example"))
        #expect(!verified(["mx.holdfast.example; dkim=pass header.d=evil.example"]))
        #expect(!verified(["mx.holdfast.example; dkim=fail header.d=holdfast.example; spf=softfail smtp.mailfrom=holdfast.example"]))
        #expect(!verified(["mx.holdfast.example; dkim=pass (header.d=holdfast.example) header.d=evil.example"]))
        // Another MTA's word, or nobody trusted: nothing.
        #expect(!verified(["mx.evil.example; dkim=pass header.d=holdfast.example"]))
        #expect(!verified(["mx.holdfast.example; dkim=pass header.d=holdfast.example"], trusting: []))
        // Only the topmost header of the trusted MTA counts: a forged one below it does not.
        #expect(
            !verified([
                "mx.holdfast.example; dkim=none; spf=none", "mx.holdfast.example; dkim=pass header.d=holdfast.example",
            ]))
    }
}
