import Foundation
import HoldfastCore
import Testing

@Suite("Mail out: rendering, texts and round trips through the parser")
struct MailRenderingTests {
    let renderer = OutgoingMailRenderer(
        from: MailAddress(address: "support@holdfast.example", name: "Holdfast Support"), messageIDDomain: "holdfast.example")

    func message(subject: String, body: String, name: String? = "Renée Müller") throws -> OutboxMessage {
        OutboxMessage(
            kind: .ticketReplied, to: MailAddress(address: "renee@acme.example", name: name), subject: subject, body: body,
            createdAt: try isoInstant("2026-11-30T10:00:00Z"))
    }

    @Test("Rendered mails parse back to the same subject, body and sender, non-ASCII included")
    func roundTrip() throws {
        let cases: [(String, String)] = [
            (
                "[#42] Ärger mit dem Terminal — “bitte” helfen",
                "Grüße!\nLine two = 2\n\n.\n.starts with a dot\nFrom here on\ntrailing space "
            ),
            ("[#7] Plain ASCII subject", "Short body."),
            (
                Array(repeating: "日本語の件名", count: 12).joined(separator: " "),
                String(repeating: "x", count: 300) + "\n" + String(repeating: "é", count: 100)
            ),
            ("Subject with =?utf-8?B?bm90?= inside", "Body\twith tab\t"),
        ]
        for (subject, body) in cases {
            let bytes = self.renderer.render(try self.message(subject: subject, body: body), at: try isoInstant("2026-11-30T10:00:05Z"))
            let parsed = try MailParser.parse(bytes)
            #expect(parsed.subject == subject)
            #expect(parsed.text == body.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(parsed.from == MailAddress(address: "support@holdfast.example", name: "Holdfast Support"))
            #expect(parsed.date == (try isoInstant("2026-11-30T10:00:05Z")))
        }
    }

    @Test("The wire form: CRLF only, lines of at most 78 characters, ASCII only, no line starting with a dot")
    func wireForm() throws {
        let body = "Dots:\n.\n..\n" + String(repeating: "ü", count: 120) + "\n" + String(repeating: "a.", count: 80)
        let bytes = self.renderer.render(try self.message(subject: String(repeating: "Ünïcödé ", count: 20), body: body), at: .distantPast)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(bytes.allSatisfy { $0 < 0x80 })
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\r"))
        for line in text.components(separatedBy: "\r\n") {
            #expect(line.count <= 78, "\(line)")
            #expect(!line.hasPrefix("."), "\(line)")
        }
        #expect(text.contains("Content-Type: text/plain; charset=utf-8\r\n"))
        #expect(text.contains("Content-Transfer-Encoding: quoted-printable\r\n"))
        #expect(text.contains("MIME-Version: 1.0\r\n"))
        let message = try self.message(subject: "s", body: "b")
        #expect(
            String(decoding: self.renderer.render(message, at: .distantPast), as: UTF8.self).contains(
                "Message-ID: <\(message.id)@holdfast.example>\r\n"))
    }

    @Test("Names are quoted or encoded as they need; a newline cannot inject a header")
    func headerSafety() throws {
        for name in ["Doe, Jane", "Renée", "Evil\r\nBcc: victim@example.com"] {
            let bytes = self.renderer.render(
                try self.message(subject: "x\r\nBcc: victim@example.com", body: "b", name: name), at: .distantPast)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains("\r\nBcc:"))
            let toLine = try #require(text.components(separatedBy: "\r\n").first { $0.hasPrefix("To: ") })
            #expect(MailParser.address(String(toLine.dropFirst(4)))?.address == "renee@acme.example")
        }
        let quoted = String(
            decoding: self.renderer.render(try self.message(subject: "s", body: "b", name: "Doe, Jane"), at: .distantPast), as: UTF8.self)
        #expect(quoted.contains("To: \"Doe, Jane\" <renee@acme.example>\r\n"))
    }

    @Test("Ticket received states the due time on the customer's clock, and the thread tag")
    func receivedText() throws {
        var ticket = try TicketFixtures.ticket(at: try isoInstant("2026-11-27T16:00:00Z"), number: 42)
        ticket.subject = "Terminal froze"
        let mail = SupportMail.ticketReceived(
            ticket, to: MailAddress(address: "cat@acme.example", name: "Cat"), timeZone: TimeZone(identifier: "Europe/London")!,
            at: ticket.createdAt)
        #expect(mail.kind == .ticketReceived)
        #expect(mail.subject == "[#42-\(ticket.replyToken)] Terminal froze")
        #expect(mail.body.contains("We will answer by Monday 30 November, 12:00 (Europe/London)."))
        #expect(mail.body.contains("keep [#42-\(ticket.replyToken)] in the subject"))
        let newYork = SupportMail.ticketReceived(
            ticket, to: MailAddress(address: "cat@acme.example"), timeZone: TimeZone(identifier: "America/New_York")!, at: ticket.createdAt)
        #expect(newYork.body.contains("We will answer by Monday 30 November, 07:00 (America/New_York)."))
    }

    @Test("Reply, status and bounce texts carry what the reader needs")
    func otherTexts() throws {
        let ticket = try TicketFixtures.ticket(at: try isoInstant("2026-11-30T10:00:00Z"), number: 5)
        let reply = TicketReply(
            ticketID: ticket.id, authorID: TicketFixtures.agent.id, side: .team, visibility: .public, body: "Restarted <host-3>.",
            channel: .web, createdAt: ticket.createdAt)
        let replied = SupportMail.teamReplied(
            ticket, reply: reply, authorName: "Al", status: .resolved, to: MailAddress(address: "cat@acme.example"), at: ticket.createdAt)
        #expect(replied.body.contains("Restarted <host-3>."))
        #expect(replied.body.contains("reply to this mail and the ticket opens again"))
        let status = SupportMail.statusChanged(
            ticket, from: .open, to: .closed, recipient: MailAddress(address: "cat@acme.example"), at: ticket.createdAt)
        #expect(status.body.contains("is now closed (it was open)"))
        #expect(status.subject.hasPrefix("[#5-\(ticket.replyToken)] "))
        // The team answers in the console: its mails carry no reply token.
        let forAssignee = SupportMail.statusChanged(
            ticket, from: .waitingOnCustomer, to: .closed, recipient: MailAddress(address: "al@holdfast.example"), forTeam: true,
            at: ticket.createdAt)
        #expect(forAssignee.subject.hasPrefix("[#5] ") && forAssignee.body.contains("agent console"))
        #expect(!forAssignee.body.contains(ticket.replyToken))
        let customerReply = TicketReply(
            ticketID: ticket.id, authorID: TicketFixtures.customer.id, side: .customer, visibility: .public, body: "Thanks",
            channel: .email, createdAt: ticket.createdAt)
        let toTeam = SupportMail.customerReplied(
            ticket, reply: customerReply, to: MailAddress(address: "al@holdfast.example"), at: ticket.createdAt)
        #expect(toTeam.subject.hasPrefix("[#5] ") && !toTeam.subject.contains(ticket.replyToken))
        let bounce = MailGateBounce.unknownSender("eve@evil.example")
        #expect(bounce.hasPrefix("We could not file your message: eve@evil.example is not a Holdfast account"))
        #expect(MailGateBounce.rejected(.invalidInput("mail_no_from", "The message has no From address.")).contains("Nothing was saved"))
    }
}
