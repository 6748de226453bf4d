import Foundation
import HoldfastCore
import NIOConcurrencyHelpers

/// What the HTTP layer asks of the status desk (implemented in HoldfastApp): the public status
/// page and its feeds, incidents, and planned maintenance.
public protocol StatusService: Sendable {
    /// The page as it is now: components, open incidents, current and upcoming maintenance.
    func status() async throws -> StatusPage
    /// `/status/feed.atom`: incident updates and maintenance notices.
    func atomFeed() async throws -> String
    /// `/status/maintenance.ics`: the upcoming windows as an RFC 5545 calendar.
    func maintenanceCalendar() async throws -> String

    func openIncident(
        title: String, components: Set<StatusComponent>, impact: IncidentImpact, body: String, by caller: User
    ) async throws -> Incident
    func postUpdate(
        to id: Incident.ID, status: IncidentStatus, body: String, impact: IncidentImpact?, by caller: User
    ) async throws -> Incident

    /// Windows that have not ended, and those that ended or were cancelled in the last week.
    func maintenanceWindows() async throws -> [MaintenanceWindow]
    func schedule(
        title: String, details: String?, startsAt: Date, endsAt: Date, components: Set<StatusComponent>, by caller: User
    ) async throws -> MaintenanceWindow
    func reschedule(_ id: MaintenanceWindow.ID, startsAt: Date, endsAt: Date, by caller: User) async throws -> MaintenanceWindow
    func cancel(_ id: MaintenanceWindow.ID, by caller: User) async throws -> MaintenanceWindow
    /// The quietest window of `duration` from the recorded usage, in `tenant`'s zone (its own
    /// usage) or, without a tenant, the whole service's usage in the support team's zone.
    func recommendation(duration: TimeInterval, tenantSlug: String?, by caller: User) async throws -> MaintenancePlan
}

/// The planner's answer with what the scheduling page draws.
public struct MaintenancePlan: Sendable {
    public var recommendation: QuietWindowPlanner.Recommendation
    public var histogram: UsageHistogram
    public var timeZone: TimeZone
    /// Weeks of history the histogram was built from.
    public var weeksRecorded: Double

    public init(recommendation: QuietWindowPlanner.Recommendation, histogram: UsageHistogram, timeZone: TimeZone, weeksRecorded: Double) {
        self.recommendation = recommendation
        self.histogram = histogram
        self.timeZone = timeZone
        self.weeksRecorded = weeksRecorded
    }
}

/// A notice shown as a banner inside live sessions: upcoming or running maintenance of the
/// sessions component, with the instant its countdown runs to.
public struct SessionBanner: Sendable, Hashable, Encodable {
    public var id: String
    public var text: String
    public var startsAt: Date
    public var endsAt: Date

    public init(id: String, text: String, startsAt: Date, endsAt: Date) {
        self.id = id
        self.text = text
        self.startsAt = startsAt
        self.endsAt = endsAt
    }
}

/// The banners every live session should show, with a version that moves on each change, so a
/// terminal connection sends them again only when they changed (the status desk writes, every
/// gateway connection reads).
public final class SessionBanners: Sendable {
    private let state = NIOLockedValueBox<(version: Int, banners: [SessionBanner])>((0, []))

    public init() {}

    public var current: (version: Int, banners: [SessionBanner]) { self.state.withLockedValue { $0 } }

    public func set(_ banners: [SessionBanner]) {
        self.state.withLockedValue { state in
            guard state.banners != banners else { return }
            state = (state.version + 1, banners)
        }
    }
}
