import Foundation

/// A warning to the team that a first response is at risk.
public enum BreachWarning: String, Sendable, Codable, Hashable, CaseIterable {
    /// Less than the warning window of business time is left.
    case dueSoon = "due-soon"
    /// The due time has passed without a first response.
    case breached
}

/// The agent console's view of tickets: which are in the queue, in what order, and how much time is left.
///
/// All rules are pure; the store orders by the same key (``precedes(_:_:)``) so that paging is stable.
public enum TicketQueue {
    /// How close to the due time the "due soon" warning goes out: 30 business minutes.
    public static let defaultWarningWindow: TimeInterval = 30 * 60

    /// One row of the queue as the console shows it.
    public struct Entry: Sendable, Hashable {
        public var ticket: Ticket
        /// Business minutes until the first response is due, negative when it is overdue; `nil` when answered
        /// or when no policy promised anything.
        public var businessMinutesLeft: Int?
        public var isBreached: Bool
    }

    /// Whether the ticket belongs in the queue: it is `new` or `open`.
    public static func contains(_ ticket: Ticket) -> Bool { ticket.status.isWithTeam }

    /// The queue order: tickets still waiting for a first response before answered ones; within each group the
    /// earliest first-response due time first (tickets without one last), then the lower number.
    ///
    /// In SQL: `ORDER BY first_responded_at IS NOT NULL, first_response_due_at IS NULL, first_response_due_at, number`.
    public static func precedes(_ lhs: Ticket, _ rhs: Ticket) -> Bool {
        func key(_ ticket: Ticket) -> (Int, Int, Date, Int) {
            (
                ticket.isAwaitingFirstResponse ? 0 : 1, ticket.firstResponseDueAt == nil ? 1 : 0,
                ticket.firstResponseDueAt ?? .distantFuture, ticket.number
            )
        }
        return key(lhs) < key(rhs)
    }

    /// The queue rows for `tickets`: those in the queue, in queue order, with time left at `now`.
    public static func entries(_ tickets: [Ticket], calendar: BusinessCalendar, at now: Date) throws -> [Entry] {
        try self.entries(tickets, at: now) { ticket in try self.timeLeft(for: ticket, calendar: calendar, at: now) }
    }

    /// ``entries(_:calendar:at:)`` read off `clock`: `now` is walked to once, and each due date's
    /// reading is kept for the next poll. The time left is the same to the millisecond.
    public static func entries(_ tickets: [Ticket], clock: BusinessClock, at now: Date) throws -> [Entry] {
        var nowReading: Int64?
        return try self.entries(tickets, at: now) { ticket in
            guard ticket.isAwaitingFirstResponse, let due = ticket.firstResponseDueAt else { return nil }
            let from: Int64
            if let paused = ticket.pausedSince, paused < now {
                from = try clock.reading(at: paused, keep: true)
            } else {
                from = try nowReading ?? clock.reading(at: now)
                nowReading = from
            }
            return TimeInterval(try clock.reading(at: due, keep: true) - from) / 1_000
        }
    }

    private static func entries(_ tickets: [Ticket], at now: Date, timeLeft: (Ticket) throws -> TimeInterval?) throws -> [Entry] {
        try tickets.filter(self.contains).sorted(by: self.precedes).map { ticket in
            let left = try timeLeft(ticket)
            return Entry(
                ticket: ticket,
                businessMinutesLeft: left.map { Int(($0 / 60).rounded(.down)) },
                isBreached: self.isBreached(ticket, at: now)
            )
        }
    }

    /// Business time, in seconds, from `now` until the first response is due; negative when overdue.
    ///
    /// `nil` once the ticket is answered or when no policy covers it. While the ticket is paused the number is
    /// the time that will be left when it comes back to the team.
    public static func timeLeft(for ticket: Ticket, calendar: BusinessCalendar, at now: Date) throws -> TimeInterval? {
        guard ticket.isAwaitingFirstResponse, let due = ticket.firstResponseDueAt else { return nil }
        let from = ticket.pausedSince.map { min($0, now) } ?? now
        return try calendar.businessTime(between: from, and: due)
    }

    /// Whether the first response came, or is still missing, after its due time.
    public static func isBreached(_ ticket: Ticket, at now: Date) -> Bool {
        guard let due = ticket.firstResponseDueAt else { return false }
        if let responded = ticket.firstRespondedAt { return responded > due }
        return ticket.status.isWithTeam && now > due
    }

    /// The breach warning to send at `now`, if one is due and not yet sent.
    ///
    /// Warnings go out only while the calendar is open: a ticket that breaches on Friday evening is reported on
    /// Monday at opening, when someone is there to act, not to a phone at midnight. Only unanswered tickets with
    /// the team are warned about.
    public static func breachWarning(
        for ticket: Ticket,
        calendar: BusinessCalendar,
        warnWithin window: TimeInterval = defaultWarningWindow,
        at now: Date
    ) throws -> BreachWarning? {
        guard ticket.status.isWithTeam, calendar.isOpen(at: now),
            let left = try self.timeLeft(for: ticket, calendar: calendar, at: now)
        else { return nil }
        let due = ticket.firstResponseDueAt!
        let warning: BreachWarning? =
            now > due ? .breached : left <= window ? .dueSoon : nil
        guard let warning, !ticket.breachWarningsSent.contains(warning) else { return nil }
        return warning
    }
}

/// Instants as a reader sees them: in their own zone, in words ("Monday 12:00").
public enum SupportTimeText {
    /// `Monday 12:00`: the day and time on the reader's wall clock, for a due time within the week.
    public static func dayAndTime(_ instant: Date, in zone: TimeZone) -> String {
        self.format(instant, zone: zone, pattern: "EEEE HH:mm")
    }

    /// `Monday 30 November, 12:00 (Europe/London)`: unambiguous even when read days later, as in a mail.
    public static func dateAndTime(_ instant: Date, in zone: TimeZone) -> String {
        self.format(instant, zone: zone, pattern: "EEEE d MMMM, HH:mm") + " (\(zone.identifier))"
    }

    /// Business minutes as a console shows them: `3h 20m`, `45m`, `-1h 05m` when overdue.
    public static func businessMinutes(_ minutes: Int) -> String {
        let sign = minutes < 0 ? "-" : ""
        let size = abs(minutes)
        guard size >= 60 else { return "\(sign)\(size)m" }
        return "\(sign)\(size / 60)h \(FixedDigits.pad(size % 60, 2))m"
    }

    private static func format(_ instant: Date, zone: TimeZone, pattern: String) -> String {
        // A formatter per call: DateFormatter is not Sendable, and these texts are rendered a few at a time.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_GB")
        formatter.timeZone = zone
        formatter.dateFormat = pattern
        return formatter.string(from: instant)
    }
}
