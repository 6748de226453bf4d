import Foundation

/// Where a maintenance window is in its life; the raw values are wire words.
///
/// `scheduled → in-progress → completed` happen on the clock (``MaintenanceStateMachine/tick(now:)``);
/// `cancelled` is an operator's choice, open to scheduled and in-progress windows.
public enum MaintenanceState: String, Sendable, Codable, Hashable, CaseIterable {
    case scheduled
    case inProgress = "in-progress"
    case completed
    case cancelled

    /// Whether the window still claims its components: only these block an overlapping window.
    public var isActive: Bool { self == .scheduled || self == .inProgress }

    public init(from decoder: any Decoder) throws {
        self = try parseWireValue(decoder.singleValueContainer().decode(String.self), code: "invalid_state", noun: "maintenance state")
    }
}

/// A message about a window that subscribers get by mail, banner and feed; each is sent once per schedule.
public enum MaintenanceNotice: String, Sendable, Codable, Hashable, CaseIterable {
    /// The window was scheduled.
    case created
    /// A day before the start.
    case reminder24h = "reminder-24h"
    /// An hour before the start.
    case reminder1h = "reminder-1h"
    case started
    case ended
    /// The times changed; the reminders go out again for the new start.
    case rescheduled
    case cancelled

    /// The lead reminders, longest lead first, which is the order they fall due.
    public static let reminders: [MaintenanceNotice] = [.reminder24h, .reminder1h]

    /// How long before the start a lead reminder is due; `nil` for the other notices.
    public var lead: TimeInterval? {
        switch self {
        case .reminder24h: 24 * 3600
        case .reminder1h: 3600
        default: nil
        }
    }

    public init(from decoder: any Decoder) throws {
        self = try parseWireValue(decoder.singleValueContainer().decode(String.self), code: "invalid_notice", noun: "maintenance notice")
    }
}

/// Planned work on some components, announced ahead and shown on the status page and calendar feed.
///
/// The rules live in ``MaintenanceStateMachine``; this is the record the store keeps.
public struct MaintenanceWindow: Sendable, Codable, Hashable {
    public typealias ID = Identifier<MaintenanceWindow>

    public var id: ID
    /// One line, 1–200 characters.
    public var title: String
    /// Plain text for subscribers (what is done, what to expect), at most 10,000 characters; never HTML.
    public var details: String?
    public var startsAt: Date
    public var endsAt: Date
    /// Never empty.
    public var components: Set<StatusComponent>
    public var state: MaintenanceState
    /// RFC 5545 `SEQUENCE`: 0 when created, +1 on each reschedule and on cancellation, so calendar clients
    /// replace their copy of the event instead of keeping the stale one.
    public var sequence: Int
    public var createdAt: Date
    /// The last change a subscriber can see (times, state); iCalendar's `LAST-MODIFIED`. Sending a notice does
    /// not count.
    public var updatedAt: Date
    /// When the times were last changed; `nil` if never. Lead reminders for the current times are sent only if
    /// the times were set before the reminder's instant.
    public var rescheduledAt: Date?
    /// When the window was cancelled; the calendar feed keeps a cancelled window for a week from here.
    public var cancelledAt: Date?
    /// The notices already sent for the current schedule (a reschedule clears the lead reminders).
    public var noticesSent: Set<MaintenanceNotice>

    public init(
        id: ID = ID(), title: String, details: String? = nil, startsAt: Date, endsAt: Date, components: Set<StatusComponent>,
        state: MaintenanceState = .scheduled, sequence: Int = 0, createdAt: Date, updatedAt: Date? = nil,
        rescheduledAt: Date? = nil, cancelledAt: Date? = nil, noticesSent: Set<MaintenanceNotice> = []
    ) {
        self.id = id
        self.title = title
        self.details = details
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.components = components
        self.state = state
        self.sequence = sequence
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.rescheduledAt = rescheduledAt
        self.cancelledAt = cancelledAt
        self.noticesSent = noticesSent
    }

    /// When the current times were set: at creation, or at the last reschedule.
    public var scheduledAt: Date { self.rescheduledAt ?? self.createdAt }

    /// Whether the window is running at `now` by the clock: started and not ended, and not cancelled or completed.
    ///
    /// Readers use this rather than `state` alone so that the page is right between two ticks of the clock.
    public func isUnderway(at now: Date) -> Bool {
        self.state.isActive && self.startsAt <= now && now < self.endsAt
    }

    /// Whether the window is still ahead at `now`.
    public func isUpcoming(at now: Date) -> Bool {
        self.state == .scheduled && now < self.startsAt
    }

    /// Whether this window, while active, claims a component of `components` during part of `[start, end)`.
    func blocks(_ start: Date, _ end: Date, on components: Set<StatusComponent>) -> Bool {
        self.state.isActive && self.startsAt < end && start < self.endsAt && !self.components.isDisjoint(with: components)
    }
}
