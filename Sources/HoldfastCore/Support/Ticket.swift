import Foundation

/// What a ticket is about; it picks the SLA policy (`SLAPolicySet.match(kind:priority:)`).
public enum TicketKind: String, Sendable, Codable, Hashable, CaseIterable {
    case bug
    case outage
    case question

    /// Parses the wire form, with an error (`invalid_kind`) that lists the valid kinds.
    public init(validating text: String) throws {
        self = try parseWireValue(text, code: "invalid_kind", noun: "ticket kind")
    }
}

/// How a ticket reached the support desk.
public enum TicketChannel: String, Sendable, Codable, Hashable, CaseIterable {
    /// The portal's ticket form.
    case web
    /// `POST /api/v1/tickets` by a script.
    case api
    /// `holdfast mail-gate`, one message piped in by the MTA.
    case email
    /// Filed by an agent while on the phone with the user.
    case phone

    /// Parses the wire form, with an error (`invalid_channel`) that lists the valid channels.
    public init(validating text: String) throws {
        self = try parseWireValue(text, code: "invalid_channel", noun: "ticket channel")
    }
}

/// Where a ticket is in its life; the raw values are the wire strings of `GET /tickets`.
///
/// The allowed moves are in ``TicketStateMachine``; the SLA clock runs only in `new` and `open`.
public enum TicketStatus: String, Sendable, Codable, Hashable, CaseIterable {
    /// Filed; nobody on the team has acted on it yet.
    case new
    /// Being worked on by the team.
    case open
    /// The team asked the customer something; the SLA clock is paused until they answer.
    case waitingOnCustomer = "waiting-on-customer"
    /// The team believes it is fixed; a reply from the customer opens it again.
    case resolved
    /// Done. Only a reply from the customer opens it again.
    case closed

    /// Parses the wire form, with an error (`invalid_status`) that lists the valid statuses.
    public init(validating text: String) throws {
        self = try parseWireValue(text, code: "invalid_status", noun: "ticket status")
    }

    /// Whether the ticket is on the team's side: it appears in the agent queue and its SLA clock runs.
    public var isWithTeam: Bool { self == .new || self == .open }
}

/// How urgent a ticket is; with the kind it picks the SLA policy.
public enum TicketPriority: String, Sendable, Codable, Hashable, CaseIterable {
    case low
    case normal
    case high
    case urgent

    /// Parses the wire form, with an error (`invalid_priority`) that lists the valid priorities.
    public init(validating text: String) throws {
        self = try parseWireValue(text, code: "invalid_priority", noun: "priority")
    }
}

/// A support ticket as the store keeps it.
///
/// Text fields (`subject`, `description`, `whatHappened`) are stored exactly as the customer typed them
/// (surrounding whitespace trimmed) and are never interpreted as HTML: a ticket that contains `<script>` shows
/// those characters, because every renderer escapes them. Change a ticket only through ``TicketStateMachine``,
/// which keeps the SLA bookkeeping consistent with the status.
public struct Ticket: Sendable, Codable, Hashable {
    public typealias ID = Identifier<Ticket>

    public var id: ID
    /// The number people quote (`#42`, `[#42]` in mail subjects); unique per installation, assigned by
    /// ``TicketRepository/create(_:outbox:)``. Zero until the ticket is stored.
    public var number: Int
    public var tenantID: Tenant.ID
    /// The customer the ticket is for (for a phone ticket: the caller, not the agent who typed it).
    public var requesterID: User.ID
    public var kind: TicketKind
    public var channel: TicketChannel
    public var status: TicketStatus
    public var priority: TicketPriority
    public var subject: String
    public var description: String
    /// When the problem occurred, as the customer reports it.
    public var occurredAt: Date
    /// What happened, in the customer's words.
    public var whatHappened: String
    /// The session the ticket was filed from, whose timeline it carries.
    public var sessionID: Session.ID?
    /// When the ticket reached the team: the SLA counts from here. For a phone ticket, when the call came in.
    public var createdAt: Date
    /// The last change of any kind (status, reply, assignment).
    public var updatedAt: Date
    /// The business minutes the matching SLA policy promised at filing, kept so that a later policy change
    /// does not move the due date of tickets already filed; `nil` when no policy covered the ticket.
    public var firstResponseTargetMinutes: Int?
    /// When the first response is due: `firstResponseTargetMinutes` of business time after `createdAt`, not
    /// counting `pauses`. Recomputed when a pause ends, so it moves later by the business time spent paused.
    public var firstResponseDueAt: Date?
    /// The first public reply by an agent or operator.
    public var firstRespondedAt: Date?
    /// Business minutes from `createdAt` to `firstRespondedAt`, pauses left out (rounded down).
    public var firstResponseBusinessMinutes: Int?
    /// Finished stretches during which the ticket was not with the team (waiting on the customer, resolved,
    /// closed); the SLA clock does not count them.
    public var pauses: [Range<Date>]
    /// Start of the current pause, while the status is not `new` or `open`.
    public var pausedSince: Date?
    public var assigneeID: User.ID?
    /// Breach warnings already sent, so the sweeper sends each at most once.
    public var breachWarningsSent: Set<BreachWarning>
    /// Increases by one with every saved change; ``TicketRepository/save(_:replies:outbox:)`` refuses a stale
    /// copy, so two agents answering at once cannot overwrite each other.
    public var revision: Int
    /// The secret a mail must carry to join this ticket (``MailSubject/tag(_:)``, `[#42-…]`): it is in the
    /// subject of every mail the customer gets about the ticket, so their ordinary "Reply" carries it.
    /// `From:` alone proves nothing.
    public var replyToken: String
    /// Filed by mail without a reply token: anyone can write any `From:`, so the team checks with the
    /// requester before acting on it.
    public var unverified: Bool

    public init(
        id: ID = ID(),
        number: Int = 0,
        tenantID: Tenant.ID,
        requesterID: User.ID,
        kind: TicketKind,
        channel: TicketChannel,
        status: TicketStatus = .new,
        priority: TicketPriority = .normal,
        subject: String,
        description: String,
        occurredAt: Date,
        whatHappened: String,
        sessionID: Session.ID? = nil,
        createdAt: Date,
        firstResponseTargetMinutes: Int? = nil,
        firstResponseDueAt: Date? = nil,
        assigneeID: User.ID? = nil,
        replyToken: String = ReplyToken.make(),
        unverified: Bool = false
    ) {
        self.id = id
        self.number = number
        self.replyToken = replyToken
        self.unverified = unverified
        self.tenantID = tenantID
        self.requesterID = requesterID
        self.kind = kind
        self.channel = channel
        self.status = status
        self.priority = priority
        self.subject = subject
        self.description = description
        self.occurredAt = occurredAt
        self.whatHappened = whatHappened
        self.sessionID = sessionID
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.firstResponseTargetMinutes = firstResponseTargetMinutes
        self.firstResponseDueAt = firstResponseDueAt
        self.firstRespondedAt = nil
        self.firstResponseBusinessMinutes = nil
        self.pauses = []
        self.pausedSince = nil
        self.assigneeID = assigneeID
        self.breachWarningsSent = []
        self.revision = 0
    }

    /// The stretches the SLA clock does not count, the current pause included up to `now`.
    public func pauses(at now: Date) -> [Range<Date>] {
        guard let since = self.pausedSince else { return self.pauses }
        return self.pauses + [since..<max(since, now)]
    }

    /// Whether the first response is still outstanding.
    public var isAwaitingFirstResponse: Bool { self.firstRespondedAt == nil }
}

/// Who may read a reply: the customer too, or the team only.
public enum ReplyVisibility: String, Sendable, Codable, Hashable, CaseIterable {
    /// Seen by the customer and mailed to them; a public agent reply is the first response.
    case `public`
    /// A note for the team: never shown or mailed to the customer, never a first response.
    case `internal`

    /// Parses the wire form, with an error (`invalid_visibility`).
    public init(validating text: String) throws {
        self = try parseWireValue(text, code: "invalid_visibility", noun: "reply visibility")
    }
}

/// One message on a ticket's thread: a public reply or an internal note.
///
/// The body is stored as written and never interpreted as HTML; renderers escape it.
public struct TicketReply: Sendable, Codable, Hashable {
    public typealias ID = Identifier<TicketReply>

    public var id: ID
    public var ticketID: Ticket.ID
    public var authorID: User.ID
    /// Whether the author wrote as the team (agent, operator) or as the customer; decides first response.
    public var side: TicketSide
    public var visibility: ReplyVisibility
    public var body: String
    public var channel: TicketChannel
    public var createdAt: Date

    public init(
        id: ID = ID(),
        ticketID: Ticket.ID,
        authorID: User.ID,
        side: TicketSide,
        visibility: ReplyVisibility,
        body: String,
        channel: TicketChannel,
        createdAt: Date
    ) {
        self.id = id
        self.ticketID = ticketID
        self.authorID = authorID
        self.side = side
        self.visibility = visibility
        self.body = body
        self.channel = channel
        self.createdAt = createdAt
    }

    /// Checks a reply body from untrusted input: 1 to 20,000 characters, not blank; returns it trimmed.
    public static func validated(body: String) throws -> String {
        try checkedText(body, field: "body", code: "invalid_body", limit: TicketLimits.textCharacters)
    }
}

/// On whose behalf someone acts on a ticket; ``AccessPolicy/ticketSide(of:on:)`` decides it.
public enum TicketSide: String, Sendable, Codable, Hashable, CaseIterable {
    /// The requester, or an admin of the requester's tenant.
    case customer
    /// An agent or operator.
    case team
}

/// Size limits of ticket text, in characters.
public enum TicketLimits {
    public static let subjectCharacters = 200
    public static let textCharacters = 20_000
    /// How far in the future a reported instant may be, to allow for clock skew on the customer's side.
    public static let clockSkew: TimeInterval = 5 * 60
    /// Nothing reported can predate the service: 2000-01-01T00:00:00Z.
    public static let earliestInstant = Date(timeIntervalSince1970: 946_684_800)
}

/// A ticket as the form, the API, the mail gate and the phone desk receive it, before it is checked.
public struct NewTicket: Sendable, Hashable {
    public var kind: String
    public var channel: TicketChannel
    /// `nil` means `normal`.
    public var priority: String?
    public var subject: String
    public var description: String
    public var occurredAt: Date
    public var whatHappened: String
    public var sessionID: Session.ID?
    /// For a phone ticket, when the call came in (the SLA counts from there); `nil` means now. Only phone
    /// tickets may set it: everywhere else the ticket arrives when it is received.
    public var receivedAt: Date?
    /// Came by mail without a reply token (``Ticket/unverified``).
    public var unverified: Bool

    public init(
        kind: String,
        channel: TicketChannel,
        priority: String? = nil,
        subject: String,
        description: String,
        occurredAt: Date,
        whatHappened: String,
        sessionID: Session.ID? = nil,
        receivedAt: Date? = nil,
        unverified: Bool = false
    ) {
        self.unverified = unverified
        self.kind = kind
        self.channel = channel
        self.priority = priority
        self.subject = subject
        self.description = description
        self.occurredAt = occurredAt
        self.whatHappened = whatHappened
        self.sessionID = sessionID
        self.receivedAt = receivedAt
    }

    /// Checks every field and returns the ticket to store, its first-response due date computed.
    ///
    /// Text is trimmed and otherwise stored as written (never interpreted as HTML). The caller has already
    /// checked who may file it (``AccessPolicy/requireFiling(for:by:channel:)``) and that `sessionID` is the
    /// requester's session.
    /// - Throws: `CoreError.invalidInput` naming the field (`invalid_kind`, `invalid_priority`,
    ///   `invalid_subject`, `invalid_description`, `invalid_what_happened`, `invalid_occurred_at`,
    ///   `invalid_received_at`); `CalendarError` (`no_business_hours`) when the calendar never opens.
    public func validated(
        id: Ticket.ID = Ticket.ID(),
        tenantID: Tenant.ID,
        requesterID: User.ID,
        policies: SLAPolicySet,
        calendar: BusinessCalendar,
        at now: Date
    ) throws -> Ticket {
        let kind = try TicketKind(validating: self.kind)
        let priority = try self.priority.map(TicketPriority.init(validating:)) ?? .normal
        let subject = try checkedText(
            self.subject, field: "subject", code: "invalid_subject", limit: TicketLimits.subjectCharacters)
        guard !subject.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw CoreError.invalidInput("invalid_subject", "The subject must be one line without control characters.")
        }
        let description = try checkedText(
            self.description, field: "description", code: "invalid_description", limit: TicketLimits.textCharacters)
        let whatHappened = try checkedText(
            self.whatHappened, field: "what happened", code: "invalid_what_happened", limit: TicketLimits.textCharacters)
        try checkedInstant(self.occurredAt, field: "occurredAt", code: "invalid_occurred_at", now: now)
        if let receivedAt = self.receivedAt {
            guard self.channel == .phone else {
                throw CoreError.invalidInput(
                    "invalid_received_at", "Only a phone ticket may say when it came in; leave receivedAt out.")
            }
            try checkedInstant(receivedAt, field: "receivedAt", code: "invalid_received_at", now: now)
        }
        let createdAt = min(self.receivedAt ?? now, now)
        let target = policies.match(kind: kind.rawValue, priority: priority.rawValue)?.firstResponseMinutes
        let due = try target.map { try calendar.addingBusinessTime(minutes: $0, to: createdAt) }
        return Ticket(
            id: id,
            tenantID: tenantID,
            requesterID: requesterID,
            kind: kind,
            channel: self.channel,
            priority: priority,
            subject: subject,
            description: description,
            occurredAt: self.occurredAt,
            whatHappened: whatHappened,
            sessionID: self.sessionID,
            createdAt: createdAt,
            firstResponseTargetMinutes: target,
            firstResponseDueAt: due,
            unverified: self.unverified
        )
    }
}

/// Trims `text` and checks it is 1 to `limit` characters; the error names the field and the limit.
func checkedText(_ text: String, field: String, code: String, limit: Int) throws -> String {
    let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !trimmed.isEmpty else {
        throw CoreError.invalidInput(code, "The \(field) is empty; write at least one character.")
    }
    guard trimmed.count <= limit else {
        throw CoreError.invalidInput(
            code, "The \(field) is \(trimmed.count) characters long; shorten it to at most \(limit).")
    }
    return trimmed
}

/// Checks a reported instant is neither before 2000 nor more than five minutes ahead of `now`.
private func checkedInstant(_ instant: Date, field: String, code: String, now: Date) throws {
    guard instant >= TicketLimits.earliestInstant else {
        throw CoreError.invalidInput(code, "\(field) is before the year 2000; give the real time it happened.")
    }
    guard instant <= now.addingTimeInterval(TicketLimits.clockSkew) else {
        throw CoreError.invalidInput(code, "\(field) is in the future; give a time that has already passed.")
    }
}

/// Parses a wire string into one of an enum's cases, or throws `invalidInput` listing the valid ones.
func parseWireValue<Value: RawRepresentable & CaseIterable>(_ text: String, code: String, noun: String) throws -> Value
where Value.RawValue == String {
    if let value = Value(rawValue: text) { return value }
    let names = Value.allCases.map(\.rawValue).joined(separator: ", ")
    throw CoreError.invalidInput(code, "'\(text)' is not a \(noun); use one of: \(names).")
}

/// The per-ticket secret of ``Ticket/replyToken``: 16 characters of a 32-letter alphabet (80 bits) that
/// survive mail clients (lower case, no look-alikes, no punctuation).
public enum ReplyToken {
    static let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")
    public static let length = 16

    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<self.length).map { _ in self.alphabet.randomElement(using: &generator)! })
    }

    /// Whether `given` is `expected`, compared in constant time; an empty token matches nothing.
    public static func matches(_ given: String, _ expected: String) -> Bool {
        let given = Array(given.utf8)
        let expected = Array(expected.utf8)
        guard !expected.isEmpty, given.count == expected.count else { return false }
        var difference: UInt8 = 0
        for (left, right) in zip(given, expected) { difference |= left ^ right }
        return difference == 0
    }

    /// Whether `text` could be a token: what the subject tag parser accepts after the number.
    static func isTokenCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber)
    }
}
