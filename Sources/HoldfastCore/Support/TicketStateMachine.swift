import Foundation

/// Something a ticket's people should hear about; the app turns it into an outbox row (``SupportMail``).
public enum TicketNotice: Sendable, Hashable {
    /// The ticket was filed; the mail states the due time in the customer's zone.
    case received
    /// The team replied in public; `status` is the ticket's status after the reply.
    case teamReplied(TicketReply, status: TicketStatus)
    /// The customer replied (sent to the assignee).
    case customerReplied(TicketReply)
    /// The status changed without a public reply saying so.
    case statusChanged(from: TicketStatus, to: TicketStatus)
    /// The ticket was given to the recipient.
    case assigned
    /// The first response is close to, or past, its due time (sent to the assignee).
    case breachWarning(BreachWarning)
}

/// What the app must do after an event, in the order given, in the same transaction as saving the ticket.
public enum TicketAction: Sendable, Hashable {
    /// Append this reply or note to the ticket's thread.
    case recordReply(TicketReply)
    /// Tell this user; the app renders the notice as an outbox message.
    case notify(User.ID, TicketNotice)
}

/// The rules of a ticket's life, as a value: events in, actions out.
///
/// Statuses move like this (anything else throws `ticket_transition_not_allowed` and changes nothing):
///
/// | from \ by           | the team may set                         | the customer may set | a customer reply makes |
/// |---------------------|------------------------------------------|----------------------|------------------------|
/// | new                 | open, waiting-on-customer, resolved, closed | closed            | new (unchanged)        |
/// | open                | waiting-on-customer, resolved, closed    | closed               | open (unchanged)       |
/// | waiting-on-customer | open, resolved, closed                   | closed               | open                   |
/// | resolved            | open, closed                             | open, closed         | open                   |
/// | closed              | — (final)                                | —                    | open                   |
///
/// A public team reply to a `new` ticket opens it. Setting the status it already has is a no-op.
///
/// The SLA clock runs only while a ticket is `new` or `open` (with the team); every other status is a pause.
/// When a pause ends, the first-response due date is recomputed from `createdAt` with all pauses left out, so
/// it moves later by exactly the business time spent paused. The first public reply by the team is the first
/// response: it records when, and how many business minutes after filing (pauses left out). Internal notes
/// never count and never notify the customer.
///
/// Methods that need the time take `at now`; nothing here reads a clock. Calendar failures (a calendar with no
/// business hours at all) surface as `CalendarError`.
public struct TicketStateMachine: Sendable, Hashable {
    public private(set) var ticket: Ticket
    /// The support team's calendar, on which due dates and business minutes are counted.
    public let calendar: BusinessCalendar

    public init(ticket: Ticket, calendar: BusinessCalendar) {
        self.ticket = ticket
        self.calendar = calendar
    }

    /// The actions for a ticket that was just filed: tell the requester it arrived, and when to expect an answer.
    public static func filed(_ ticket: Ticket) -> [TicketAction] {
        [.notify(ticket.requesterID, .received)]
    }

    /// Whether `side` may move a ticket from `from` to `to` by setting the status (the table above).
    public static func canChange(from: TicketStatus, to: TicketStatus, by side: TicketSide) -> Bool {
        switch (side, from, to) {
        case (_, .closed, _), (_, _, .new):
            false
        case (.team, .resolved, _):
            to == .open || to == .closed
        case (.team, _, _):
            from != to
        case (.customer, _, .closed), (.customer, .resolved, .open):
            true
        case (.customer, _, _):
            false
        }
    }

    /// Adds a reply or an internal note, and optionally sets the status in the same step ("reply and wait
    /// for the customer").
    ///
    /// - Parameters:
    ///   - body: The text as written; checked (1–20,000 characters) and stored without interpretation.
    ///   - side: Whether the author writes as the team or as the customer (``AccessPolicy/ticketSide(of:on:)``).
    ///   - status: A status to set after the reply; it must be allowed by the table.
    /// - Throws: `invalid_body`; `forbidden` when a customer writes an internal note;
    ///   `ticket_transition_not_allowed` for a status the table does not allow.
    public mutating func reply(
        id: TicketReply.ID = TicketReply.ID(),
        body: String,
        visibility: ReplyVisibility,
        channel: TicketChannel,
        by author: User.ID,
        as side: TicketSide,
        setting status: TicketStatus? = nil,
        at now: Date
    ) throws -> [TicketAction] {
        let body = try TicketReply.validated(body: body)
        guard side == .team || visibility == .public else {
            throw CoreError.forbidden("Only the support team can write internal notes; send a reply instead.")
        }
        let reply = TicketReply(
            id: id, ticketID: self.ticket.id, authorID: author, side: side, visibility: visibility,
            body: body, channel: channel, createdAt: now)
        var next = self
        var actions: [TicketAction] = [.recordReply(reply)]
        let before = next.ticket.status
        switch (side, visibility) {
        case (.team, .public):
            if next.ticket.firstRespondedAt == nil {
                let elapsed = try next.calendar.businessTime(
                    between: next.ticket.createdAt, and: now, pauses: next.ticket.pauses(at: now))
                next.ticket.firstRespondedAt = now
                next.ticket.firstResponseBusinessMinutes = max(0, Int((elapsed / 60).rounded(.down)))
            }
            if before == .new { try next.move(to: .open, at: now) }
        case (.customer, _):
            if [.waitingOnCustomer, .resolved, .closed].contains(before) { try next.move(to: .open, at: now) }
        case (.team, .internal):
            break
        }
        if let status, status != next.ticket.status {
            guard Self.canChange(from: next.ticket.status, to: status, by: side) else {
                throw Self.transitionRefused(from: next.ticket.status, to: status, by: side)
            }
            try next.move(to: status, at: now)
        }
        switch (side, visibility) {
        case (.team, .public):
            actions += next.notify(next.ticket.requesterID, .teamReplied(reply, status: next.ticket.status), except: author)
        case (.customer, _):
            if let assignee = next.ticket.assigneeID {
                actions += next.notify(assignee, .customerReplied(reply), except: author)
            }
        case (.team, .internal):
            if before != next.ticket.status {
                actions += next.notify(
                    next.ticket.requesterID, .statusChanged(from: before, to: next.ticket.status), except: author)
            }
        }
        next.touch(at: now)
        self = next
        return actions
    }

    /// Sets the status by hand (console button, "close my ticket").
    ///
    /// The customer hears of changes the team makes; the assignee hears of changes the customer makes.
    /// - Throws: `ticket_transition_not_allowed` (conflict) when the table does not allow the move.
    public mutating func changeStatus(
        to status: TicketStatus, by actor: User.ID, as side: TicketSide, at now: Date
    ) throws
        -> [TicketAction]
    {
        let before = self.ticket.status
        guard status != before else { return [] }
        guard Self.canChange(from: before, to: status, by: side) else {
            throw Self.transitionRefused(from: before, to: status, by: side)
        }
        var next = self
        try next.move(to: status, at: now)
        next.touch(at: now)
        self = next
        let recipient = side == .team ? self.ticket.requesterID : self.ticket.assigneeID
        return recipient.map { self.notify($0, .statusChanged(from: before, to: status), except: actor) } ?? []
    }

    /// Gives the ticket to a team member, or takes it back (`nil`); a `new` ticket becomes `open`.
    ///
    /// Only the team assigns (the caller checks ``AccessPolicy/requireAgentConsole(by:)``); the assignee is told.
    public mutating func assign(to assignee: User.ID?, by actor: User.ID, at now: Date) throws -> [TicketAction] {
        guard assignee != self.ticket.assigneeID else { return [] }
        guard self.ticket.status != .closed else {
            throw CoreError.conflict("ticket_closed", "Ticket #\(self.ticket.number) is closed; it cannot be assigned.")
        }
        var next = self
        next.ticket.assigneeID = assignee
        if next.ticket.status == .new { try next.move(to: .open, at: now) }
        next.touch(at: now)
        self = next
        return assignee.map { self.notify($0, .assigned, except: actor) } ?? []
    }

    /// Sends the breach warning that is due at `now`, if any, and records it so it is sent once.
    ///
    /// Call it from a sweeper as often as you like: warnings go out only inside business hours
    /// (``TicketQueue/breachWarning(for:calendar:warnWithin:at:)``), to the assignee; an unassigned ticket's
    /// warning goes to `fallbackRecipients` (the team on duty).
    public mutating func tick(
        warnWithin: TimeInterval = TicketQueue.defaultWarningWindow, fallbackRecipients: [User.ID] = [], at now: Date
    )
        throws -> [TicketAction]
    {
        guard let warning = try TicketQueue.breachWarning(for: self.ticket, calendar: self.calendar, warnWithin: warnWithin, at: now)
        else { return [] }
        self.ticket.breachWarningsSent.insert(warning)
        if warning == .breached { self.ticket.breachWarningsSent.insert(.dueSoon) }
        self.touch(at: now)
        let recipients = self.ticket.assigneeID.map { [$0] } ?? fallbackRecipients
        return recipients.map { .notify($0, .breachWarning(warning)) }
    }

    // MARK: Internals

    /// Moves to `status`, opening or closing a pause as the SLA clock stops or starts.
    private mutating func move(to status: TicketStatus, at now: Date) throws {
        let wasRunning = self.ticket.status.isWithTeam
        self.ticket.status = status
        switch (wasRunning, status.isWithTeam) {
        case (true, false):
            self.ticket.pausedSince = now
        case (false, true):
            if let since = self.ticket.pausedSince, since < now { self.ticket.pauses.append(since..<now) }
            self.ticket.pausedSince = nil
            if self.ticket.firstRespondedAt == nil, let target = self.ticket.firstResponseTargetMinutes {
                self.ticket.firstResponseDueAt = try self.calendar.addingBusinessTime(
                    minutes: target, to: self.ticket.createdAt, pauses: self.ticket.pauses)
            }
        default:
            break
        }
    }

    private mutating func touch(at now: Date) {
        self.ticket.updatedAt = max(self.ticket.updatedAt, now)
        self.ticket.revision += 1
    }

    /// A notification, unless the recipient is the one who acted (nobody needs a mail about their own click).
    private func notify(_ recipient: User.ID, _ notice: TicketNotice, except actor: User.ID) -> [TicketAction] {
        recipient == actor ? [] : [.notify(recipient, notice)]
    }

    private static func transitionRefused(from: TicketStatus, to: TicketStatus, by side: TicketSide) -> CoreError {
        let hint =
            from == .closed
            ? "A closed ticket opens again only when the customer replies; file a new ticket otherwise."
            : side == .customer
                ? "As the customer you can close the ticket, or reopen it when it is resolved; reply to add information."
                : "Pick another status."
        return CoreError.conflict(
            "ticket_transition_not_allowed", "A ticket cannot go from \(from.rawValue) to \(to.rawValue). \(hint)")
    }
}
