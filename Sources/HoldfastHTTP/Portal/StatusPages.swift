import Foundation
import HoldfastCore
import Hummingbird

/// The public status page and its feeds, and the operators' maintenance page.
struct StatusPages {
    let pages: PageRenderer
    let status: any StatusService

    func add(to router: Router<AppRequestContext>) {
        router.get("status", use: self.page)
        router.get("status/feed.atom", use: self.feed)
        router.get("status/maintenance.ics", use: self.calendar)
        router.get("admin/maintenance", use: self.maintenance)
    }

    /// Public: no sign-in, so customers can check it when the portal itself is in trouble.
    @Sendable func page(_ request: Request, context: AppRequestContext) async throws -> Response {
        let status = try await self.status.status()
        let chrome: PageChrome
        if let user = context.user {
            chrome = try await self.pages.chrome(title: "Status", user: user)
        } else {
            chrome = PageChrome(title: "Status", user: nil)
        }
        return try self.pages.render(
            "status", StatusPageView(page: chrome, status: status, canPost: context.user.map(AccessPolicy.isSupportTeam) ?? false))
    }

    @Sendable func feed(_ request: Request, context: AppRequestContext) async throws -> Response {
        Self.document(try await self.status.atomFeed(), type: "application/atom+xml; charset=utf-8")
    }

    @Sendable func calendar(_ request: Request, context: AppRequestContext) async throws -> Response {
        Self.document(try await self.status.maintenanceCalendar(), type: "text/calendar; charset=utf-8")
    }

    /// Operators: schedule, reschedule and cancel windows, with the week's usage and the quietest window.
    @Sendable func maintenance(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = context.user else { return PageRenderer.signInFirst(request) }
        let chrome = try await self.pages.chrome(title: "Maintenance", user: user)
        guard user.role == .operator else {
            return try self.pages.notForYourRole(chrome, "Only operators schedule maintenance.")
        }
        let durationText = request.uri.queryParameters.get("duration").map { String($0) } ?? "2h"
        var view = MaintenancePageView(
            page: chrome, windows: try await self.status.maintenanceWindows().map(WindowRow.init), duration: durationText)
        do {
            let seconds: Int = try DurationText.seconds(durationText)
            let plan = try await self.status.recommendation(duration: TimeInterval(seconds), tenantSlug: nil, by: user)
            view.chart = UsageChart.svg(histogram: plan.histogram, recommendation: plan.recommendation, timeZone: plan.timeZone)
            view.recommendation = RecommendationRow(plan)
        } catch let error as CoreError where error.kind == .invalidInput || error.kind == .conflict {
            view.plannerError = error.message
        }
        return try self.pages.render("maintenance", view)
    }

    private static func document(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

struct WindowRow {
    var id: String
    var title: String
    var details: String?
    var startsAt: String
    var endsAt: String
    var components: String
    var state: String
    var isScheduled: Bool
    var isActive: Bool

    init(_ window: MaintenanceWindow) {
        self.id = window.id.description
        self.title = window.title
        self.details = window.details
        self.startsAt = window.startsAt.formatted(.iso8601)
        self.endsAt = window.endsAt.formatted(.iso8601)
        self.components = StatusComponent.sorted(window.components).map(\.rawValue).joined(separator: ", ")
        self.state = window.state.rawValue
        self.isScheduled = window.state == .scheduled
        self.isActive = window.state.isActive
    }
}

struct StatusPageView {
    struct ComponentRow {
        var name: String
        var state: String
    }

    struct IncidentRow {
        struct Update {
            var at: String
            var status: String
            var body: String
        }

        var id: String
        var title: String
        var impact: String
        var status: String
        var components: String
        var updates: [Update]
    }

    var page: PageChrome
    var overall: String
    var isOperational: Bool
    var components: [ComponentRow]
    var incidents: [IncidentRow]
    var hasIncidents: Bool
    var current: [WindowRow]
    var upcoming: [WindowRow]
    var hasMaintenance: Bool
    var canPost: Bool

    init(page: PageChrome, status: StatusPage, canPost: Bool) {
        self.page = page
        self.overall = status.overall.rawValue
        self.isOperational = status.overall == .operational
        self.components = status.components.map { ComponentRow(name: $0.component.rawValue, state: $0.state.rawValue) }
        self.incidents = status.openIncidents.map { incident in
            IncidentRow(
                id: incident.id.description, title: incident.title, impact: incident.impact.rawValue, status: incident.status.rawValue,
                components: StatusComponent.sorted(incident.components).map(\.rawValue).joined(separator: ", "),
                updates: incident.updates.reversed().map {
                    IncidentRow.Update(at: $0.at.formatted(.iso8601), status: $0.status.rawValue, body: $0.body)
                })
        }
        self.hasIncidents = !self.incidents.isEmpty
        self.current = status.currentMaintenance.map(WindowRow.init)
        self.upcoming = status.upcomingMaintenance.map(WindowRow.init)
        self.hasMaintenance = !self.current.isEmpty || !self.upcoming.isEmpty
        self.canPost = canPost
    }
}

struct RecommendationRow {
    var startsAt: String
    var endsAt: String
    var expectedActiveSessions: Int
    var timeZone: String
    var weeks: String

    init(_ plan: MaintenancePlan) {
        self.startsAt = plan.recommendation.startsAt.formatted(.iso8601)
        self.endsAt = plan.recommendation.endsAt.formatted(.iso8601)
        self.expectedActiveSessions = plan.recommendation.expectedActiveSessions
        self.timeZone = plan.timeZone.identifier
        self.weeks = String(format: "%.1f", plan.weeksRecorded)
    }
}

struct MaintenancePageView {
    var page: PageChrome
    var windows: [WindowRow]
    var hasWindows: Bool
    var duration: String
    var chart: String?
    var recommendation: RecommendationRow?
    var plannerError: String?

    init(page: PageChrome, windows: [WindowRow], duration: String) {
        self.page = page
        self.windows = windows
        self.hasWindows = !windows.isEmpty
        self.duration = duration
    }
}
