import Foundation

/// What `holdfast mail-gate` does with one parsed message, decided without I/O.
///
/// The command parses stdin (``MailParser/parse(_:)``), looks up the sender by address and the ticket by
/// ``MailMessage/threadNumber``, and asks ``plan(_:sender:thread:at:)``. On `.bounce` it prints the text and exits
/// non-zero having written nothing; on anything else it writes the ticket or reply with its outbox rows in one
/// transaction.
public enum MailGate {
    public enum Plan: Sendable, Hashable {
        /// File a new ticket for the sender (validate it with ``NewTicket/validated(id:tenantID:requesterID:policies:calendar:at:)``).
        case newTicket(NewTicket)
        /// Add `body` to `ticket` as a public reply written as `side`.
        case reply(to: Ticket, body: String, side: TicketSide)
        /// Refuse the message with this text.
        case bounce(String)
    }

    /// The placeholder subject of a mail sent without one.
    public static let noSubject = "(no subject)"
    /// Mail carries no separate "what happened"; the description holds the customer's words.
    public static let whatHappenedByMail = "Reported by e-mail; see the description."

    /// Decides what to do with `message`.
    ///
    /// - Parameters:
    ///   - sender: The user whose e-mail is the message's From address, or `nil` when there is none.
    ///   - thread: The ticket numbered by the subject's `[#N]` tag, if any.
    /// A tag for a ticket the sender has no business with is ignored (a new ticket is filed), so a guessed
    /// number neither reveals nor touches someone else's ticket.
    public static func plan(_ message: MailMessage, sender: User?, thread: Ticket?, at now: Date) -> Plan {
        guard let sender else { return .bounce(MailGateBounce.unknownSender(message.from.address)) }
        if let thread, let side = try? AccessPolicy.ticketSide(of: sender, on: thread) {
            return .reply(to: thread, body: MailReplyText.strippingQuote(message.text), side: side)
        }
        let cleaned = MailSubject.cleaned(message.subject)
        let subject = cleaned.isEmpty ? self.noSubject : String(cleaned.prefix(TicketLimits.subjectCharacters))
        // The Date header is the sender's claim: use it for "when it occurred" only when it is plausible.
        let occurredAt = message.date.flatMap { $0 >= TicketLimits.earliestInstant && $0 <= now ? $0 : nil } ?? now
        return .newTicket(
            NewTicket(
                kind: TicketKind.bug.rawValue, channel: .email, subject: subject, description: message.text,
                occurredAt: occurredAt, whatHappened: self.whatHappenedByMail))
    }
}
