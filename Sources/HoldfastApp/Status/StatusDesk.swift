import Foundation
import HoldfastCore
import HoldfastHTTP
import Logging

/// The status page, incidents and planned maintenance.
///
/// An actor: every change of a window (schedule, reschedule, cancel, and the clock's ticks at its
/// edges) runs one at a time, so the overlap check and the notices always see the latest windows.
/// Each change is saved with its mails in one transaction.
public actor StatusDesk: StatusService {
    /// How the desk reaches the sessions it must warn, refuse and close.
    public struct Sessions: Sendable {
        public var refuseNewSessions: @Sendable (CoreError?) async -> Void
        public var closeAllForMaintenance: @Sendable () async -> Int

        public init(
            refuseNewSessions: @escaping @Sendable (CoreError?) async -> Void, closeAllForMaintenance: @escaping @Sendable () async -> Int
        ) {
            self.refuseNewSessions = refuseNewSessions
            self.closeAllForMaintenance = closeAllForMaintenance
        }
    }

    /// How far back the planner reads recorded usage.
    static let usageHistory: TimeInterval = 8 * 7 * 86_400
    /// How long resolved incidents and finished windows stay on the page and in the feeds.
    static let recentHistory: TimeInterval = 7 * 86_400
    /// Banners announce a window of the sessions component this long before it starts.
    static let bannerLead: TimeInterval = 24 * 3600

    let repositories: Repositories
    let sessions: Sessions
    let banners: SessionBanners
    let baseURL: URL
    let now: @Sendable () -> Date
    /// The sessions windows whose start this node has acted on (its sessions closed).
    private var sessionsClosedFor: Set<MaintenanceWindow.ID> = []
    let logger: Logger

    public init(
        repositories: Repositories, sessions: Sessions, banners: SessionBanners, baseURL: URL, now: @escaping @Sendable () -> Date,
        logger: Logger
    ) {
        self.repositories = repositories
        self.sessions = sessions
        self.banners = banners
        self.baseURL = baseURL
        self.now = now
        self.logger = logger
    }

    var host: String { self.baseURL.host() ?? "holdfast.localhost" }

    // MARK: Reading

    public func status() async throws -> StatusPage {
        let now = self.now()
        let since = now.addingTimeInterval(-Self.recentHistory)
        return StatusPage.compute(
            incidents: try await self.repositories.incidents.list(resolvedSince: since),
            windows: try await self.repositories.maintenance.list(endingSince: since), at: now)
    }

    public func atomFeed() async throws -> String {
        let now = self.now()
        let since = now.addingTimeInterval(-4 * Self.recentHistory)
        return StatusFeed.render(
            incidents: try await self.repositories.incidents.list(resolvedSince: since),
            windows: try await self.repositories.maintenance.list(endingSince: since), baseURL: self.baseURL,
            timeZone: try await self.repositories.settings.supportCalendar().timeZone, now: now)
    }

    public func maintenanceCalendar() async throws -> String {
        let now = self.now()
        let windows = try await self.repositories.maintenance.list(endingSince: now.addingTimeInterval(-Self.recentHistory))
        return MaintenanceCalendar.render(windows: windows.filter { MaintenanceCalendar.includes($0, at: now) }, host: self.host, now: now)
    }

    public func maintenanceWindows() async throws -> [MaintenanceWindow] {
        let now = self.now()
        return try await self.repositories.maintenance.list(endingSince: now.addingTimeInterval(-Self.recentHistory))
            .filter { MaintenanceCalendar.includes($0, at: now) }
    }

    // MARK: Incidents

    public func openIncident(
        title: String, components: Set<StatusComponent>, impact: IncidentImpact, body: String, by caller: User
    ) async throws -> Incident {
        try Self.requireTeam(caller)
        let incident = try Incident.open(title: title, components: components, impact: impact, body: body, at: self.now())
        try await self.repositories.incidents.save(incident, outbox: [])
        self.logger.notice("incident opened", metadata: ["incident.id": "\(incident.id)", "impact": "\(impact.rawValue)"])
        return incident
    }

    public func postUpdate(
        to id: Incident.ID, status: IncidentStatus, body: String, impact: IncidentImpact?, by caller: User
    ) async throws -> Incident {
        try Self.requireTeam(caller)
        guard var incident = try await self.repositories.incidents.find(id: id) else {
            throw CoreError.notFound("There is no incident \(id).")
        }
        try incident.post(status: status, body: body, impact: impact, at: self.now())
        try await self.repositories.incidents.save(incident, outbox: [])
        self.logger.notice("incident updated", metadata: ["incident.id": "\(id)", "status": "\(status.rawValue)"])
        return incident
    }

    // MARK: Maintenance

    public func schedule(
        title: String, details: String?, startsAt: Date, endsAt: Date, components: Set<StatusComponent>, by caller: User
    ) async throws -> MaintenanceWindow {
        try Self.requireOperator(caller)
        let now = self.now()
        let (machine, actions) = try MaintenanceStateMachine.schedule(
            title: title, details: details, startsAt: Self.wholeSeconds(startsAt), endsAt: Self.wholeSeconds(endsAt),
            components: components,
            others: try await self.activeWindows(), at: now)
        try await self.save(machine.window, actions: actions, at: now)
        self.logger.notice(
            "maintenance scheduled",
            metadata: ["maintenance.id": "\(machine.window.id)", "startsAt": "\(startsAt.formatted(.iso8601))"])
        return machine.window
    }

    public func reschedule(_ id: MaintenanceWindow.ID, startsAt: Date, endsAt: Date, by caller: User) async throws -> MaintenanceWindow {
        try Self.requireOperator(caller)
        var machine = MaintenanceStateMachine(window: try await self.window(id))
        let now = self.now()
        let actions = try machine.reschedule(
            startsAt: Self.wholeSeconds(startsAt), endsAt: Self.wholeSeconds(endsAt), others: try await self.activeWindows(), at: now)
        try await self.save(machine.window, actions: actions, at: now)
        return machine.window
    }

    public func cancel(_ id: MaintenanceWindow.ID, by caller: User) async throws -> MaintenanceWindow {
        try Self.requireOperator(caller)
        var machine = MaintenanceStateMachine(window: try await self.window(id))
        let now = self.now()
        let actions = try machine.cancel(at: now)
        try await self.save(machine.window, actions: actions, at: now)
        return machine.window
    }

    /// Moves every active window across the edges it has reached and sends the notices due
    /// (`advancing`: the clock of one node of the service at a time), and (`applying`: every
    /// node's clock) closes this node's sessions once while a sessions window is underway and
    /// refreshes the refusal of new sessions and the in-session banners. Called every second.
    public func tick(advancing: Bool = true, applying: Bool = true) async throws {
        let now = self.now()
        let windows = try await self.repositories.maintenance.list(endingSince: now.addingTimeInterval(-Self.recentHistory))
        var current: [MaintenanceWindow] = []
        for window in windows {
            guard window.state.isActive else { continue }
            var machine = MaintenanceStateMachine(window: window)
            let actions = advancing ? machine.tick(now: now) : []
            if !actions.isEmpty {
                try await self.save(machine.window, actions: actions, at: now)
            }
            current.append(machine.window)
        }
        guard applying else { return }
        let underway = current.first { $0.components.contains(.sessions) && $0.isUnderway(at: now) }
        // A node that did not move the window across its start (another node did, or this one
        // started during the window) closes its own sessions when it first sees it underway.
        if let underway, !self.sessionsClosedFor.contains(underway.id) {
            self.sessionsClosedFor.insert(underway.id)
            let closed = await self.sessions.closeAllForMaintenance()
            self.logger.notice("maintenance underway: this node's live sessions closing", metadata: ["sessions": "\(closed)"])
        }
        await self.sessions.refuseNewSessions(
            underway.map { window in
                CoreError(
                    .unavailable, code: "maintenance_in_progress",
                    message: "Sessions are under planned maintenance (\(window.title)) until "
                        + "\(window.endsAt.formatted(.iso8601)); start a session after that. Your files are safe.")
            })
        let announced = current.filter {
            $0.state.isActive && $0.components.contains(.sessions) && $0.startsAt.timeIntervalSince(now) <= Self.bannerLead
        }
        // Read every second: the calendar (for the banners' zone) only when there is a banner to write.
        let zone = announced.isEmpty ? .gmt : try await self.repositories.settings.supportCalendar().timeZone
        self.banners.set(
            announced.map { window in
                let text: String
                if window.isUnderway(at: now) {
                    text = MaintenanceNoticeText(.started, for: window, timeZone: zone).banner
                } else {
                    let notice: MaintenanceNotice = window.startsAt.timeIntervalSince(now) <= 3600 ? .reminder1h : .reminder24h
                    text = MaintenanceNoticeText(notice, for: window, timeZone: zone).banner + " " + MaintenanceNoticeText.sessionsPromise
                }
                return SessionBanner(id: window.id.description, text: text, startsAt: window.startsAt, endsAt: window.endsAt)
            })
    }

    // MARK: Planner

    public func recommendation(duration: TimeInterval, tenantSlug: String?, by caller: User) async throws -> MaintenancePlan {
        let now = self.now()
        let calendar = try await self.repositories.settings.supportCalendar()
        var tenant: Tenant?
        if let tenantSlug {
            guard let found = try await self.repositories.tenants.find(slug: tenantSlug) else {
                throw CoreError.notFound("There is no tenant '\(tenantSlug)'.")
            }
            try AccessPolicy.requireSessionAdministration(of: found, by: caller)
            tenant = found
        } else {
            try Self.requireOperator(caller)
        }
        let zone = tenant.flatMap { TimeZone(identifier: $0.timeZone) } ?? calendar.timeZone
        let hours = try await self.repositories.usage.hours(tenantID: tenant?.id, since: now.addingTimeInterval(-Self.usageHistory))
        var buckets: [Int: UsageBucket] = [:]
        for hour in hours {
            let key = UsageHistogram.hourOfWeek(of: hour.hourStart, in: zone)
            let previous = buckets[key] ?? UsageBucket(hourOfWeek: key, sum: 0, count: 0)
            buckets[key] = UsageBucket(hourOfWeek: key, sum: previous.sum + hour.sum, count: previous.count + hour.minutes)
        }
        let histogram = try UsageHistogram(aggregates: buckets.values.sorted { $0.hourOfWeek < $1.hourOfWeek })
        let recommendation = try QuietWindowPlanner.recommend(
            duration: duration, histogram: histogram, timeZone: zone, holidays: calendar.holidays, now: now)
        let weeks = hours.first.map { now.timeIntervalSince($0.hourStart) / (7 * 86_400) } ?? 0
        return MaintenancePlan(recommendation: recommendation, histogram: histogram, timeZone: zone, weeksRecorded: weeks)
    }

    // MARK: Helpers

    private func window(_ id: MaintenanceWindow.ID) async throws -> MaintenanceWindow {
        guard let window = try await self.repositories.maintenance.find(id: id) else {
            throw CoreError.notFound("There is no maintenance window \(id).")
        }
        return window
    }

    /// The windows a new one must not overlap: scheduled and in progress.
    private func activeWindows() async throws -> [MaintenanceWindow] {
        try await self.repositories.maintenance.list(endingSince: self.now()).filter { $0.state.isActive }
    }

    /// Saves the window with the mails of its notices, then does what the actions ask of the sessions.
    private func save(_ window: MaintenanceWindow, actions: [MaintenanceAction], at now: Date) async throws {
        var outbox: [OutboxMessage] = []
        for case .notify(let notice) in actions {
            outbox += try await self.mails(notice, for: window, at: now)
        }
        try await self.repositories.maintenance.save(window, outbox: outbox)
        for action in actions {
            switch action {
            case .stateChanged(let from, let to):
                self.logger.notice(
                    "maintenance window changed state",
                    metadata: ["maintenance.id": "\(window.id)", "from": "\(from.rawValue)", "to": "\(to.rawValue)"])
            case .closeSessions:
                self.sessionsClosedFor.insert(window.id)
                let closed = await self.sessions.closeAllForMaintenance()
                self.logger.notice("maintenance started: live sessions closing", metadata: ["sessions": "\(closed)"])
            case .notify:
                break
            }
        }
    }

    /// One mail per user of every tenant (maintenance touches the whole service), in the tenant's zone.
    private func mails(_ notice: MaintenanceNotice, for window: MaintenanceWindow, at now: Date) async throws -> [OutboxMessage] {
        var mails: [OutboxMessage] = []
        for tenant in try await self.repositories.tenants.list() {
            let zone = TimeZone(identifier: tenant.timeZone) ?? .gmt
            for user in try await self.repositories.users.list(tenantID: tenant.id) {
                mails.append(
                    MaintenanceNoticeText.mail(
                        notice, for: window, to: MailAddress(address: user.email, name: user.name), timeZone: zone, at: now))
            }
        }
        return mails
    }

    /// Window times in whole seconds: iCalendar has no finer unit, and the feeds must agree with the API.
    static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    static func requireTeam(_ caller: User) throws {
        guard AccessPolicy.isSupportTeam(caller) else {
            throw CoreError.forbidden("Only agents and operators post incidents.")
        }
    }

    static func requireOperator(_ caller: User) throws {
        guard caller.role == .operator else {
            throw CoreError.forbidden("Only operators schedule maintenance and ask for the quiet-window plan.")
        }
    }
}
