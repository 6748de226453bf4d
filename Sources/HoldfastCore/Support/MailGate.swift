import Foundation

/// What `holdfast mail-gate` does with one parsed message, decided without I/O.
///
/// The command parses stdin (``MailParser/parse(_:)``), looks up the sender by address and the ticket by the
/// number in ``MailMessage/threadTag``, and asks ``plan(_:sender:thread:at:)``. On `.bounce` it prints the text
/// and exits non-zero having written nothing; on anything else it writes the ticket or reply with its outbox rows
/// in one transaction.
///
/// Mail is not identity: anyone can write any `From:`. A mail joins a ticket only with that ticket's reply
/// token (in the subject tag of every mail the customer gets about it), and then only as the customer's side —
/// the team answers in the console, never by mail, so a forged agent address cannot answer a customer or stop
/// the SLA clock. A mail without a valid token (none, a wrong one, another ticket's) files a new ticket for the
/// user its `From:` names, marked unverified, and touches no other ticket.
public enum MailGate {
    public enum Plan: Sendable, Hashable {
        /// File a new ticket for the sender (validate it with ``NewTicket/validated(id:tenantID:requesterID:policies:calendar:at:)``).
        case newTicket(NewTicket)
        /// Add `body` to `ticket` as a public customer reply, written by `author`.
        case reply(to: Ticket, body: String, author: ReplyAuthor)
        /// Refuse the message with this text.
        case bounce(String, BounceCause)
    }

    /// Who a reply by mail is recorded as.
    public enum ReplyAuthor: Sendable, Hashable {
        /// The sender: a user on the ticket's customer side, or a team member whose From the MTA verified.
        case sender
        /// The ticket's requester, the body saying who mailed it (someone the customer forwarded our mail to).
        case requester
    }

    public enum BounceCause: Sendable, Hashable {
        /// No account has the `From:` address.
        case unknownSender
        /// The `From:` is one of the support team's, on a ticket's thread: the team answers in the console.
        case teamByMail
    }

    /// The placeholder subject of a mail sent without one.
    public static let noSubject = "(no subject)"
    /// Mail carries no separate "what happened"; the description holds the customer's words.
    public static let whatHappenedByMail = "Reported by e-mail; see the description."

    /// Decides what to do with `message`.
    ///
    /// - Parameters:
    ///   - sender: The user whose e-mail is the message's From address, or `nil` when there is none.
    ///   - thread: The ticket numbered by the subject's tag, if any; it counts only when the tag's token is its
    ///     reply token.
    ///   - fromVerified: The receiving MTA vouched for the From domain (``MailAuthentication``): a new ticket is
    ///     then not unverified, and a team member with the token answers as the team.
    public static func plan(_ message: MailMessage, sender: User?, thread: Ticket?, fromVerified: Bool = false, at now: Date) -> Plan {
        if let thread, let token = message.threadTag?.token, ReplyToken.matches(token, thread.replyToken) {
            let body = MailReplyText.strippingQuote(message.text)
            if let sender, (try? AccessPolicy.ticketSide(of: sender, on: thread)) == .customer {
                return .reply(to: thread, body: body, author: .sender)
            }
            if let sender, AccessPolicy.isSupportTeam(sender) {
                guard fromVerified else { return .bounce(MailGateBounce.teamByMail(ticketNumber: thread.number), .teamByMail) }
                return .reply(to: thread, body: body, author: .sender)
            }
            return .reply(to: thread, body: "By mail from \(message.from.address):\n\n\(body)", author: .requester)
        }
        guard sender != nil else { return .bounce(MailGateBounce.unknownSender(message.from.address), .unknownSender) }
        let cleaned = MailSubject.cleaned(message.subject)
        let subject = cleaned.isEmpty ? self.noSubject : String(cleaned.prefix(TicketLimits.subjectCharacters))
        // The Date header is the sender's claim: use it for "when it occurred" only when it is plausible.
        let occurredAt = message.date.flatMap { $0 >= TicketLimits.earliestInstant && $0 <= now ? $0 : nil } ?? now
        return .newTicket(
            NewTicket(
                kind: TicketKind.bug.rawValue, channel: .email, subject: subject, description: message.text,
                occurredAt: occurredAt, whatHappened: self.whatHappenedByMail, unverified: !fromVerified))
    }
}
