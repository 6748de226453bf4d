import Foundation
import HoldfastCore
import Hummingbird

/// `/admin/report`: the promise report of one tenant as a page (operators; a tenant's admins).
struct ContinuityPages {
    let pages: PageRenderer
    let continuity: any ContinuityService

    func add(to router: Router<AppRequestContext>) {
        router.get("admin/report", use: self.report)
    }

    @Sendable func report(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = context.user else { return PageRenderer.signInFirst(request) }
        let chrome = try await self.pages.chrome(title: "Promise report", user: user)
        guard user.role == .operator || user.role == .tenantAdmin else {
            return try self.pages.notForYourRole(chrome, "Only operators and tenant admins read the promise report.")
        }
        var slug = request.uri.queryParameters.get("tenant").map { String($0) }
        if slug == nil, let tenant = chrome.user?.tenantSlug { slug = tenant }
        guard let slug else { throw CoreError.invalidInput("invalid_tenant", "Say which tenant: /admin/report?tenant=SLUG.") }
        let report = try await self.continuity.report(tenantSlug: slug, by: user)
        return try self.pages.render("report", ReportPage(page: chrome, report: report))
    }
}

struct ReportPage {
    struct Notice {
        var title: String
        var startsAt: String
        var state: String
        var lead: String
    }

    var page: PageChrome
    var tenant: String
    var days: Int
    var resumed: Int
    var expired: Int
    var grace: String
    var rpoTarget: String
    var rpoMedian: String
    var rpoWorst: String
    var rpoMeasured: Int
    var promised: Int
    var met: Int
    var missed: Int
    var metPercent: String
    var notices: [Notice]
    var hasNotices: Bool
    var drill: String

    init(page: PageChrome, report: PromiseReport) {
        let text = { (seconds: Int?) in seconds.map { DurationText.format(seconds: $0) } ?? "—" }
        self.page = page
        self.tenant = report.tenant
        self.days = report.sinceDays
        self.resumed = report.grace.resumedWithinGrace
        self.expired = report.grace.expired
        self.grace = text(report.grace.graceSeconds)
        self.rpoTarget = text(report.recovery.rpoTargetSeconds)
        self.rpoMedian = text(report.recovery.rpoAchievedMedianSeconds)
        self.rpoWorst = text(report.recovery.rpoAchievedWorstSeconds)
        self.rpoMeasured = report.recovery.closesMeasured
        self.promised = report.support.ticketsWithPromise
        self.met = report.support.firstResponsesMet
        self.missed = report.support.firstResponsesMissed
        self.metPercent = report.support.metPercent.map { String(format: "%.1f %%", $0) } ?? "—"
        self.notices = report.maintenance.map {
            Notice(title: $0.title, startsAt: $0.startsAt.formatted(.iso8601), state: $0.state, lead: text($0.noticeLeadSeconds))
        }
        self.hasNotices = !self.notices.isEmpty
        self.drill =
            report.lastDrill.map {
                "\($0.passed ? "passed" : "failed") on \($0.finishedAt.formatted(.iso8601)): recovered in "
                    + "\(text($0.rtoSeconds)) against a target of \(text($0.rtoTargetSeconds))"
            } ?? "no drill yet"
    }
}
