import Foundation

/// What an outbox message is about; kept for the operator's view and for metrics.
public struct OutboxKind: RawRepresentable, Sendable, Codable, Hashable, ExpressibleByStringLiteral {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public static let ticketReceived: OutboxKind = "ticket-received"
    public static let ticketReplied: OutboxKind = "ticket-replied"
    public static let ticketStatusChanged: OutboxKind = "ticket-status-changed"
    public static let ticketCustomerReplied: OutboxKind = "ticket-customer-replied"
    public static let ticketAssigned: OutboxKind = "ticket-assigned"
    public static let ticketBreachWarning: OutboxKind = "ticket-breach-warning"
    public static let suggestionStatusChanged: OutboxKind = "suggestion-status-changed"
}

/// One mail waiting to be sent: a row of the transactional outbox.
///
/// The row is written in the same transaction as the change it reports, so a crash either loses both or
/// neither; the mailer service then delivers it, retrying on ``RetrySchedule``. The text is final when the row
/// is written: a retry sends the same bytes, with the same `Message-ID`.
public struct OutboxMessage: Sendable, Codable, Hashable {
    public typealias ID = Identifier<OutboxMessage>

    public var id: ID
    public var kind: OutboxKind
    public var to: MailAddress
    public var subject: String
    /// Plain text with `\n` line ends.
    public var body: String
    public var createdAt: Date
    /// Delivery attempts made so far.
    public var attempts: Int
    /// When the mailer should try next; the first attempt is due at `createdAt`.
    public var nextAttemptAt: Date
    public var sentAt: Date?
    /// The last delivery error, for the operator.
    public var lastError: String?
    /// Set when the mailer gave up (``RetrySchedule/giveUpAfter`` passed); the row stays for the operator.
    public var failedAt: Date?

    public init(
        id: ID = ID(), kind: OutboxKind, to: MailAddress, subject: String, body: String, createdAt: Date
    ) {
        self.id = id
        self.kind = kind
        self.to = to
        self.subject = subject
        self.body = body
        self.createdAt = createdAt
        self.attempts = 0
        self.nextAttemptAt = createdAt
        self.sentAt = nil
        self.lastError = nil
        self.failedAt = nil
    }

    /// Whether the mailer should try to deliver it at `now`.
    public func isDue(at now: Date) -> Bool {
        self.sentAt == nil && self.failedAt == nil && self.nextAttemptAt <= now
    }
}

/// How the mailer retries: 30 s, 1 min, 2 min, 4 min … doubling up to an hour between attempts, and giving up
/// 48 hours after the message was written (then the operator sees it as failed).
public struct RetrySchedule: Sendable, Hashable, Codable {
    public var initialDelay: TimeInterval
    public var maximumDelay: TimeInterval
    public var giveUpAfter: TimeInterval

    public init(initialDelay: TimeInterval = 30, maximumDelay: TimeInterval = 3600, giveUpAfter: TimeInterval = 48 * 3600) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.giveUpAfter = giveUpAfter
    }

    /// The wait after failed attempt number `attempt` (1-based): initial × 2^(attempt − 1), capped.
    public func delay(afterAttempt attempt: Int) -> TimeInterval {
        let doublings = min(max(attempt - 1, 0), 30)
        return min(self.initialDelay * Double(1 << doublings), self.maximumDelay)
    }

    /// When to try `message` again after an attempt failed at `now`, or `nil` to give up for good.
    public func nextAttempt(after message: OutboxMessage, failedAt now: Date) -> Date? {
        let next = now.addingTimeInterval(self.delay(afterAttempt: message.attempts + 1))
        return next.timeIntervalSince(message.createdAt) > self.giveUpAfter ? nil : next
    }
}

/// Turns an outbox message into the bytes of an RFC 5322 mail.
public struct OutgoingMailRenderer: Sendable, Hashable {
    /// The sender, e.g. `Holdfast Support <support@holdfast.example>`; replies come back through the mail gate.
    public var from: MailAddress
    /// The domain part of generated `Message-ID`s.
    public var messageIDDomain: String

    public init(from: MailAddress, messageIDDomain: String) {
        self.from = from
        self.messageIDDomain = messageIDDomain
    }

    /// The `Message-ID` of `message`, stable across retries so that a receiver can drop a duplicate.
    public func messageID(of message: OutboxMessage) -> String { "<\(message.id)@\(self.messageIDDomain)>" }

    /// The mail: CRLF line ends, non-ASCII subject and names as RFC 2047 words, a UTF-8 quoted-printable body
    /// whose lines never start with a bare `.` (safe for SMTP without relying on dot-stuffing).
    /// - Parameter now: The `Date` header: the moment of sending, not of writing the row.
    public func render(_ message: OutboxMessage, at now: Date) -> [UInt8] {
        let headers = [
            "Date: \(Self.rfc5322Date(now))",
            "From: \(Self.header(self.from))",
            "To: \(Self.header(message.to))",
            "Subject: \(EncodedWords.encodeIfNeeded(message.subject))",
            "Message-ID: \(self.messageID(of: message))",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "Auto-Submitted: auto-generated",
        ]
        let text = headers.joined(separator: "\r\n") + "\r\n\r\n" + QuotedPrintable.encode(message.body) + "\r\n"
        return Array(text.utf8)
    }

    /// An address for a header: the name as an atom, a quoted string, or an encoded word, as it needs.
    static func header(_ address: MailAddress) -> String {
        guard let name = address.name?.filter({ !$0.isNewline }), !name.isEmpty else { return address.address }
        let atext = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: " !#$%&'*+-/=?^_`{|}~"))
        let isASCII = name.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 }
        let shown: String
        if isASCII && name.unicodeScalars.allSatisfy(atext.contains) && !name.contains("=?") {
            shown = name
        } else if isASCII && !name.contains("=?") {
            shown = "\"" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        } else {
            shown = EncodedWords.encodeIfNeeded(name)
        }
        return "\(shown) <\(address.address)>"
    }

    static func rfc5322Date(_ instant: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: instant)
    }
}

/// The texts of the support desk's mails, ready to enqueue.
///
/// Mails to the customer carry the ticket's tag with its reply token (`[#42-token]`), so their ordinary
/// "Reply" threads back onto the ticket through the mail gate; mails to the team carry the bare number
/// (`[#42]`), as the team answers in the console. Ticket text is quoted as plain text; nothing is
/// interpreted as HTML.
public enum SupportMail {
    /// "We have your ticket", with the due time on the customer's own clock.
    public static func ticketReceived(_ ticket: Ticket, to recipient: MailAddress, timeZone: TimeZone, at now: Date) -> OutboxMessage {
        var lines = [
            "Hello \(recipient.name ?? recipient.address),",
            "",
            "we have received your \(ticket.kind.rawValue) report \"\(ticket.subject)\" as ticket #\(ticket.number).",
        ]
        if let due = ticket.firstResponseDueAt {
            lines.append("We will answer by \(SupportTimeText.dateAndTime(due, in: timeZone)).")
        }
        lines += ["", "To add anything, reply to this mail and keep \(MailSubject.tag(ticket)) in the subject."]
        return self.message(.ticketReceived, ticket, to: recipient, lines: lines, at: now, forTeam: false)
    }

    /// The team's public reply, quoted in full.
    public static func teamReplied(
        _ ticket: Ticket, reply: TicketReply, authorName: String, status: TicketStatus, to recipient: MailAddress, at now: Date
    ) -> OutboxMessage {
        var lines = ["\(authorName) replied to your ticket #\(ticket.number):", "", reply.body, ""]
        if status == .waitingOnCustomer { lines.append("We are waiting for your answer: reply to this mail.") }
        if status == .resolved { lines.append("We think this is solved. If it is not, reply to this mail and the ticket opens again.") }
        lines.append("Keep \(MailSubject.tag(ticket)) in the subject when you reply.")
        return self.message(.ticketReplied, ticket, to: recipient, lines: lines, at: now, forTeam: false)
    }

    /// A status change without a reply (for the customer), or a customer closing their ticket (for the
    /// assignee: `forTeam`).
    public static func statusChanged(
        _ ticket: Ticket, from: TicketStatus, to status: TicketStatus, recipient: MailAddress, forTeam: Bool = false, at now: Date
    ) -> OutboxMessage {
        let lines = [
            "Ticket #\(ticket.number) \"\(ticket.subject)\" is now \(status.rawValue) (it was \(from.rawValue)).",
            "",
            forTeam
                ? "Open it in the agent console."
                : status == .closed
                    ? "Reply to this mail, keeping \(MailSubject.tag(ticket)) in the subject, if you need to reopen it."
                    : "Reply to this mail, keeping \(MailSubject.tag(ticket)) in the subject, to add anything.",
        ]
        return self.message(.ticketStatusChanged, ticket, to: recipient, lines: lines, at: now, forTeam: forTeam)
    }

    /// A customer's reply, for the assignee.
    public static func customerReplied(_ ticket: Ticket, reply: TicketReply, to recipient: MailAddress, at now: Date) -> OutboxMessage {
        let lines = [
            "The customer replied to ticket #\(ticket.number), which is now \(ticket.status.rawValue):", "", reply.body, "",
            "Answer it from the agent console.",
        ]
        return self.message(.ticketCustomerReplied, ticket, to: recipient, lines: lines, at: now, forTeam: true)
    }

    /// A breach warning for the team, the due time on the reader's clock.
    public static func breachWarning(
        _ ticket: Ticket, warning: BreachWarning, to recipient: MailAddress, timeZone: TimeZone, at now: Date
    ) -> OutboxMessage {
        let due = ticket.firstResponseDueAt.map { SupportTimeText.dateAndTime($0, in: timeZone) } ?? "—"
        let lines = [
            warning == .breached
                ? "Ticket #\(ticket.number) \"\(ticket.subject)\" has no first response and was due \(due)."
                : "Ticket #\(ticket.number) \"\(ticket.subject)\" is due a first response by \(due).",
            "",
            "Answer it from the agent console.",
        ]
        return self.message(.ticketBreachWarning, ticket, to: recipient, lines: lines, at: now, forTeam: true)
    }

    /// A suggestion someone voted for or follows changed status.
    public static func suggestionStatusChanged(_ suggestion: Suggestion, to recipient: MailAddress, at now: Date) -> OutboxMessage {
        let body = [
            "The suggestion \"\(suggestion.title)\" you voted for or follow is now \(suggestion.status.rawValue).",
            "",
            "Thank you for telling us what you need.",
        ]
        return OutboxMessage(
            kind: .suggestionStatusChanged, to: recipient, subject: "Suggestion \(suggestion.status.rawValue): \(suggestion.title)",
            body: body.joined(separator: "\n"), createdAt: now)
    }

    private static func message(
        _ kind: OutboxKind, _ ticket: Ticket, to recipient: MailAddress, lines: [String], at now: Date, forTeam: Bool
    )
        -> OutboxMessage
    {
        let tag = forTeam ? MailSubject.teamTag(ticket.number) : MailSubject.tag(ticket)
        return OutboxMessage(
            kind: kind, to: recipient, subject: "\(tag) \(ticket.subject)",
            body: (lines + ["", "— Holdfast Support"]).joined(separator: "\n"), createdAt: now)
    }
}

/// The texts `holdfast mail-gate` prints on stdout when it refuses a message; the MTA returns them to the sender.
public enum MailGateBounce {
    /// The sender is not a user of the service.
    public static func unknownSender(_ address: String) -> String {
        """
        We could not file your message: \(address) is not a Holdfast account.

        Send it from the e-mail address you sign in with, or file the ticket in the portal. \
        If you have no account, ask your organisation's Holdfast administrator to create one for you.
        """
    }

    /// A mail from a support team address on a ticket's thread.
    public static func teamByMail(ticketNumber: Int) -> String {
        """
        We did not add your message to ticket #\(ticketNumber): the team answers tickets in the agent console, \
        not by mail, because anyone can put a team member's address in From.

        Open ticket #\(ticketNumber) in the agent console and answer there.
        """
    }

    /// The message could not be read or breaks a rule; `error` says which.
    public static func rejected(_ error: CoreError) -> String {
        "We could not file your message: \(error.message)\n\nNothing was saved. Fix the message and send it again, or file the ticket in the portal."
    }
}
