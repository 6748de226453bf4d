import Foundation

/// What the maintenance clock's adapter must do after an event, in the order given, in the same transaction as
/// saving ``MaintenanceStateMachine/window``.
public enum MaintenanceAction: Sendable, Hashable {
    /// The window moved from one state to another (for the log and metrics; the saved window already says so).
    case stateChanged(from: MaintenanceState, to: MaintenanceState)
    /// Tell subscribers: mail, in-session banner (``MaintenanceNoticeText`` renders both); the feeds pick it up
    /// from the saved window.
    case notify(MaintenanceNotice)
    /// The window has started and includes `sessions`: close every live session with the close reason
    /// `maintenance`. The normal closing path backs each workspace up first, so nothing is lost.
    case closeSessions
}

/// The rules of one maintenance window, as a value: events in, actions out.
///
/// - **Scheduling** (``schedule(id:title:details:startsAt:endsAt:components:others:at:)``) checks the input and emits
///   the `created` notice. Every rule breaks with a stable code: `invalid_title`, `invalid_details`,
///   `invalid_components`, `window_ends_before_start`, `window_in_past`, `window_too_long` (more than
///   ``StatusLimits/maximumWindowLength``), and `window_overlaps` (a conflict naming the other window) when another
///   scheduled or in-progress window shares a component for part of the time. Cancelled and completed windows,
///   and windows on other components, never block.
/// - **Edges** are crossed by ``tick(now:)``: `scheduled → in-progress` at `startsAt`, `in-progress → completed` at
///   `endsAt`. A late tick goes through every edge it has passed, in order, with each notice.
/// - **Lead reminders** (24 h and 1 h before the start) are sent once per schedule, and only if the times were set
///   before the reminder's instant: a window created 30 minutes ahead gets neither, one created 2 hours ahead gets
///   the 1-hour one. Each reminder is due from its instant until the next one's (or the start), so a clock that
///   was down sends only the reminder of the span it wakes in: never a day-ahead reminder half an hour before.
/// - **Rescheduling** (only while scheduled and not yet started) runs the same checks, ignoring the window itself,
///   bumps `sequence`, and clears the lead reminders so they go out again for the new time.
/// - **Cancelling** works while scheduled or in progress and bumps `sequence`; cancelling again is a no-op.
///
/// Nothing here reads a clock; every event takes the instant it happens at.
public struct MaintenanceStateMachine: Sendable, Hashable {
    public private(set) var window: MaintenanceWindow

    public init(window: MaintenanceWindow) {
        self.window = window
    }

    /// Schedules a new window from untrusted input, checked against the windows already stored.
    ///
    /// - Parameter others: The stored windows; only active ones sharing a component matter, so passing all
    ///   scheduled and in-progress windows is enough.
    /// - Returns: The machine holding the new window, and the `created` notice to send.
    /// - Throws: `CoreError` with the codes listed on the type.
    public static func schedule(
        id: MaintenanceWindow.ID = MaintenanceWindow.ID(), title: String, details: String? = nil, startsAt: Date, endsAt: Date,
        components: Set<StatusComponent>, others: [MaintenanceWindow], at now: Date
    ) throws -> (machine: MaintenanceStateMachine, actions: [MaintenanceAction]) {
        let title = try checkedTitle(title)
        let details = try Self.checkedDetails(details)
        let components = try StatusComponent.requireNonEmpty(components)
        try Self.checkTimes(startsAt: startsAt, endsAt: endsAt, components: components, excluding: id, others: others, at: now)
        let window = MaintenanceWindow(
            id: id, title: title, details: details, startsAt: startsAt, endsAt: endsAt, components: components, createdAt: now,
            noticesSent: [.created])
        return (MaintenanceStateMachine(window: window), [.notify(.created)])
    }

    /// Moves the window to new times; a no-op when the times are unchanged.
    /// - Throws: `window_not_scheduled` (conflict) once the window has started, was cancelled or completed;
    ///   otherwise the scheduling codes.
    public mutating func reschedule(
        startsAt: Date, endsAt: Date, others: [MaintenanceWindow], at now: Date
    ) throws
        -> [MaintenanceAction]
    {
        guard self.window.state == .scheduled, now < self.window.startsAt else {
            let what =
                switch self.window.state {
                case .scheduled, .inProgress: "has started"
                case .completed: "has ended"
                case .cancelled: "is cancelled"
                }
            throw CoreError.conflict(
                "window_not_scheduled",
                "The maintenance window \"\(self.window.title)\" \(what) and cannot be moved; schedule a new window instead.")
        }
        guard startsAt != self.window.startsAt || endsAt != self.window.endsAt else { return [] }
        try Self.checkTimes(
            startsAt: startsAt, endsAt: endsAt, components: self.window.components, excluding: self.window.id, others: others, at: now)
        self.window.startsAt = startsAt
        self.window.endsAt = endsAt
        self.window.sequence += 1
        self.window.rescheduledAt = now
        self.window.updatedAt = max(self.window.updatedAt, now)
        self.window.noticesSent.subtract(MaintenanceNotice.reminders)
        self.window.noticesSent.insert(.rescheduled)
        return [.notify(.rescheduled)]
    }

    /// Cancels the window, before or during the work; cancelling a cancelled window changes nothing.
    /// - Throws: `window_completed` (conflict) when the window has already ended.
    public mutating func cancel(at now: Date) throws -> [MaintenanceAction] {
        let before = self.window.state
        switch before {
        case .cancelled:
            return []
        case .completed:
            throw CoreError.conflict(
                "window_completed", "The maintenance window \"\(self.window.title)\" has already ended; there is nothing to cancel.")
        case .scheduled, .inProgress:
            self.window.state = .cancelled
            self.window.cancelledAt = now
            self.window.sequence += 1
            self.window.updatedAt = max(self.window.updatedAt, now)
            self.window.noticesSent.insert(.cancelled)
            return [.stateChanged(from: before, to: .cancelled), .notify(.cancelled)]
        }
    }

    /// Crosses the edges and sends the reminders due at `now`; call it as often as you like (see ``nextTick(after:)``).
    ///
    /// Sessions are closed at the start only when the tick comes before the end: after a late tick past the whole
    /// window there is nothing left to protect, and closing people's sessions then would only cost them.
    public mutating func tick(now: Date) -> [MaintenanceAction] {
        var actions: [MaintenanceAction] = []
        if self.window.state == .scheduled {
            guard now >= self.window.startsAt else {
                if let reminder = self.dueReminder(at: now) {
                    self.window.noticesSent.insert(reminder)
                    actions.append(.notify(reminder))
                }
                return actions
            }
            self.move(to: .inProgress, at: self.window.startsAt, notice: .started, into: &actions)
            if self.window.components.contains(.sessions), now < self.window.endsAt {
                actions.append(.closeSessions)
            }
        }
        if self.window.state == .inProgress, now >= self.window.endsAt {
            self.move(to: .completed, at: self.window.endsAt, notice: .ended, into: &actions)
        }
        return actions
    }

    /// The instant at which ``tick(now:)`` next has something to do: the earliest pending reminder or edge, never
    /// before `now` (so `now` means "tick at once"); `nil` when the window is over and needs no more ticks.
    public func nextTick(after now: Date) -> Date? {
        switch self.window.state {
        case .scheduled:
            var next = self.window.startsAt
            for (index, reminder) in MaintenanceNotice.reminders.enumerated() where self.isPending(reminder) {
                let until = MaintenanceNotice.reminders.dropFirst(index + 1).first.map(self.instant(of:)) ?? self.window.startsAt
                if now < until { next = min(next, self.instant(of: reminder)) }
            }
            return max(next, now)
        case .inProgress:
            return max(self.window.endsAt, now)
        case .completed, .cancelled:
            return nil
        }
    }

    /// The earliest ``nextTick(after:)`` over `windows`, so one clock service can sleep until exactly then.
    public static func nextTick(for windows: [MaintenanceWindow], after now: Date) -> Date? {
        windows.compactMap { MaintenanceStateMachine(window: $0).nextTick(after: now) }.min()
    }

    // MARK: Internals

    private mutating func move(
        to state: MaintenanceState, at edge: Date, notice: MaintenanceNotice, into actions: inout [MaintenanceAction]
    ) {
        actions.append(.stateChanged(from: self.window.state, to: state))
        self.window.state = state
        // The edge rather than the tick's time, so that every node computes the same LAST-MODIFIED.
        self.window.updatedAt = max(self.window.updatedAt, edge)
        self.window.noticesSent.insert(notice)
        actions.append(.notify(notice))
    }

    /// The lead reminder to send at `now`: the one whose instant was reached most recently, if still unsent and
    /// the times were set before its instant.
    private func dueReminder(at now: Date) -> MaintenanceNotice? {
        guard let reminder = MaintenanceNotice.reminders.last(where: { self.instant(of: $0) <= now }),
            self.isPending(reminder)
        else { return nil }
        return reminder
    }

    /// Whether a lead reminder is still owed for the current times.
    private func isPending(_ reminder: MaintenanceNotice) -> Bool {
        !self.window.noticesSent.contains(reminder) && self.window.scheduledAt < self.instant(of: reminder)
    }

    private func instant(of reminder: MaintenanceNotice) -> Date {
        self.window.startsAt.addingTimeInterval(-(reminder.lead ?? 0))
    }

    /// Checks a window's times against the rules and the other active windows.
    private static func checkTimes(
        startsAt: Date, endsAt: Date, components: Set<StatusComponent>, excluding id: MaintenanceWindow.ID,
        others: [MaintenanceWindow], at now: Date
    ) throws {
        guard endsAt > startsAt else {
            throw CoreError.invalidInput(
                "window_ends_before_start",
                "The window ends at \(UTCTimestamp.rfc3339(endsAt)), not after it starts at \(UTCTimestamp.rfc3339(startsAt)); "
                    + "give an end after the start.")
        }
        guard startsAt >= now else {
            throw CoreError.invalidInput(
                "window_in_past",
                "The window would start at \(UTCTimestamp.rfc3339(startsAt)), which has passed; give a start in the future.")
        }
        guard endsAt.timeIntervalSince(startsAt) <= StatusLimits.maximumWindowLength else {
            throw CoreError.invalidInput(
                "window_too_long",
                "The window lasts \(DurationText.format(seconds: Int(endsAt.timeIntervalSince(startsAt)))); "
                    + "split it into windows of at most \(DurationText.format(seconds: Int(StatusLimits.maximumWindowLength))).")
        }
        let clash = others.filter { $0.id != id && $0.blocks(startsAt, endsAt, on: components) }.min { $0.startsAt < $1.startsAt }
        if let clash {
            let shared = StatusComponent.sorted(clash.components.intersection(components)).map(\.rawValue).joined(separator: ", ")
            throw CoreError.conflict(
                "window_overlaps",
                "It overlaps the maintenance window \"\(clash.title)\" (\(UTCTimestamp.rfc3339(clash.startsAt)) to "
                    + "\(UTCTimestamp.rfc3339(clash.endsAt)), id \(clash.id)) on \(shared); "
                    + "pick a time outside it, or move or cancel that window first.")
        }
    }

    /// Trims the details; blank means none.
    /// - Throws: `invalid_details` beyond 10,000 characters.
    private static func checkedDetails(_ details: String?) throws -> String? {
        guard let details = details?.trimmingCharacters(in: .whitespacesAndNewlines), !details.isEmpty else { return nil }
        guard details.count <= StatusLimits.textCharacters else {
            throw CoreError.invalidInput(
                "invalid_details",
                "The details are \(details.count) characters long; shorten them to at most \(StatusLimits.textCharacters).")
        }
        return details
    }
}
