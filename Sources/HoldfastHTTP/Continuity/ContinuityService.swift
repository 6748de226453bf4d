import Foundation
import HoldfastCore

/// What the HTTP layer asks of the continuity desk (implemented in HoldfastApp): each tenant's
/// troubleshooters, its Disaster Recovery and Business Continuity Plans, drills, and the promise report.
public protocol ContinuityService: Sendable {
    /// The tenant's troubleshooters in escalation order (operators, and the tenant's admins).
    func troubleshooters(tenantSlug: String, by caller: User) async throws -> [Troubleshooter]
    /// Replaces the list (operators); the plans get a new version.
    func setTroubleshooters(_ list: [Troubleshooter], tenantSlug: String, by caller: User) async throws -> [Troubleshooter]
    /// The current plan, or an older `version`; the tenant's name comes along for rendering.
    func plan(
        tenantSlug: String, kind: ContinuityPlan.Kind, version: Int?, by caller: User
    ) async throws -> (ContinuityPlan, tenantName: String)
    /// Every version of the plan, newest first.
    func planVersions(tenantSlug: String, kind: ContinuityPlan.Kind, by caller: User) async throws -> [ContinuityPlan]
    /// The tenant's drills, newest first.
    func drills(tenantSlug: String, by caller: User) async throws -> [DrillResult]
    /// How the promises made to the tenant were kept.
    func report(tenantSlug: String, by caller: User) async throws -> PromiseReport
    /// A tenant was just created: its plans are generated now (version 1).
    func tenantCreated(_ tenant: Tenant) async
}

/// One page on how the promises made to a tenant were kept.
public struct PromiseReport: Sendable, Encodable {
    public struct Grace: Sendable, Encodable {
        /// Sessions whose connection dropped and that were resumed within the grace period.
        public var resumedWithinGrace: Int
        /// Dropped sessions that were not resumed and closed at the end of the grace period.
        public var expired: Int
        public var graceSeconds: Int

        public init(resumedWithinGrace: Int, expired: Int, graceSeconds: Int) {
            self.resumedWithinGrace = resumedWithinGrace
            self.expired = expired
            self.graceSeconds = graceSeconds
        }
    }

    public struct Recovery: Sendable, Encodable {
        /// The snapshot interval: the RPO the plan promises.
        public var rpoTargetSeconds: Int
        /// The age of the newest snapshot at each close, as a median and worst case; `nil` without closes.
        public var rpoAchievedMedianSeconds: Int?
        public var rpoAchievedWorstSeconds: Int?
        public var closesMeasured: Int

        public init(rpoTargetSeconds: Int, rpoAchievedMedianSeconds: Int?, rpoAchievedWorstSeconds: Int?, closesMeasured: Int) {
            self.rpoTargetSeconds = rpoTargetSeconds
            self.rpoAchievedMedianSeconds = rpoAchievedMedianSeconds
            self.rpoAchievedWorstSeconds = rpoAchievedWorstSeconds
            self.closesMeasured = closesMeasured
        }
    }

    public struct Support: Sendable, Encodable {
        public var ticketsWithPromise: Int
        public var firstResponsesMet: Int
        public var firstResponsesMissed: Int
        /// Met over those answered or overdue; `nil` when there is nothing to count.
        public var metPercent: Double?

        public init(ticketsWithPromise: Int, firstResponsesMet: Int, firstResponsesMissed: Int, metPercent: Double?) {
            self.ticketsWithPromise = ticketsWithPromise
            self.firstResponsesMet = firstResponsesMet
            self.firstResponsesMissed = firstResponsesMissed
            self.metPercent = metPercent
        }
    }

    public struct Notice: Sendable, Encodable {
        public var title: String
        public var startsAt: Date
        public var state: String
        /// How long before its start the window was announced (its current times were set).
        public var noticeLeadSeconds: Int

        public init(title: String, startsAt: Date, state: String, noticeLeadSeconds: Int) {
            self.title = title
            self.startsAt = startsAt
            self.state = state
            self.noticeLeadSeconds = noticeLeadSeconds
        }
    }

    public struct Drill: Sendable, Encodable {
        public var finishedAt: Date
        public var rtoSeconds: Int
        public var rtoTargetSeconds: Int
        public var passed: Bool

        public init(finishedAt: Date, rtoSeconds: Int, rtoTargetSeconds: Int, passed: Bool) {
            self.finishedAt = finishedAt
            self.rtoSeconds = rtoSeconds
            self.rtoTargetSeconds = rtoTargetSeconds
            self.passed = passed
        }
    }

    public var tenant: String
    public var generatedAt: Date
    public var sinceDays: Int
    public var grace: Grace
    public var recovery: Recovery
    public var support: Support
    public var maintenance: [Notice]
    public var lastDrill: Drill?

    public init(
        tenant: String, generatedAt: Date, sinceDays: Int, grace: Grace, recovery: Recovery, support: Support, maintenance: [Notice],
        lastDrill: Drill?
    ) {
        self.tenant = tenant
        self.generatedAt = generatedAt
        self.sinceDays = sinceDays
        self.grace = grace
        self.recovery = recovery
        self.support = support
        self.maintenance = maintenance
        self.lastDrill = lastDrill
    }
}
