import Foundation

/// A service-level promise for the tickets it covers: how many business minutes until the first response.
public struct SLAPolicy: Sendable, Hashable, Codable {
    public var name: String
    /// Ticket kinds covered (`bug`, `outage`, `question`, …); `nil` covers every kind.
    public var kinds: Set<String>?
    /// Ticket priorities covered; `nil` covers every priority.
    public var priorities: Set<String>?
    /// Business minutes, counted on the support calendar, until a first response is due.
    public var firstResponseMinutes: Int

    public init(name: String, kinds: Set<String>? = nil, priorities: Set<String>? = nil, firstResponseMinutes: Int) {
        self.name = name
        self.kinds = kinds
        self.priorities = priorities
        self.firstResponseMinutes = firstResponseMinutes
    }

    /// Whether a ticket of this kind and priority falls under the policy.
    public func covers(kind: String, priority: String) -> Bool {
        (self.kinds?.contains(kind) ?? true) && (self.priorities?.contains(priority) ?? true)
    }
}

/// An ordered list of SLA policies; the first one that covers a ticket applies.
///
/// Order rather than specificity decides, so a team puts its narrow promises ("outage, urgent: 30 minutes")
/// before its broad ones and can read off which one wins.
public struct SLAPolicySet: Sendable, Hashable, Codable {
    public var policies: [SLAPolicy]

    public init(policies: [SLAPolicy]) {
        self.policies = policies
    }

    /// The default promise: a first response within 4 business hours for bugs, outages and questions.
    public static let standard = SLAPolicySet(policies: [
        SLAPolicy(name: "standard", kinds: ["bug", "outage", "question"], firstResponseMinutes: 240)
    ])

    /// The first policy that covers the ticket, or `nil` when none promises anything for it.
    public func match(kind: String, priority: String) -> SLAPolicy? {
        self.policies.first { $0.covers(kind: kind, priority: priority) }
    }

    /// When the first response to a ticket filed at `filedAt` is due, or `nil` when no policy covers it.
    ///
    /// - Parameter pauses: Ranges in which the ticket waited on the customer; they do not count.
    public func firstResponseDue(
        filedAt: Date,
        kind: String,
        priority: String,
        calendar: BusinessCalendar,
        pauses: [Range<Date>] = []
    ) throws(CalendarError) -> Date? {
        guard let policy = self.match(kind: kind, priority: priority) else { return nil }
        return try calendar.addingBusinessTime(minutes: policy.firstResponseMinutes, to: filedAt, pauses: pauses)
    }
}
