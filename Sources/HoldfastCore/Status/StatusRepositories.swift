import Foundation

/// The status page's incidents, service-wide.
public protocol IncidentRepository: Sendable {
    /// Inserts or replaces the incident, with its mails, in one transaction.
    func save(_ incident: Incident, outbox: [OutboxMessage]) async throws
    func find(id: Incident.ID) async throws -> Incident?
    /// Every open incident and those resolved at or after `since`, newest first.
    func list(resolvedSince since: Date) async throws -> [Incident]
}

/// Planned maintenance windows, service-wide.
public protocol MaintenanceRepository: Sendable {
    /// Inserts or replaces the window, with its notices' mails, in one transaction.
    func save(_ window: MaintenanceWindow, outbox: [OutboxMessage]) async throws
    func find(id: MaintenanceWindow.ID) async throws -> MaintenanceWindow?
    /// Windows that end at or after `since`, whatever their state, earliest start first.
    func list(endingSince since: Date) async throws -> [MaintenanceWindow]
}

/// How many sessions were active during one minute, for one tenant or (`tenantID == nil`) the
/// whole service.
public struct UsageCount: Sendable, Hashable {
    public var tenantID: Tenant.ID?
    public var activeSessions: Int

    public init(tenantID: Tenant.ID?, activeSessions: Int) {
        self.tenantID = tenantID
        self.activeSessions = activeSessions
    }
}

/// One UTC hour of recorded usage: the sum of the per-minute counts and how many minutes were
/// recorded, so the hour's mean is `sum / minutes`.
public struct UsageHour: Sendable, Hashable {
    public var tenantID: Tenant.ID?
    public var hourStart: Date
    public var sum: Int
    public var minutes: Int

    public init(tenantID: Tenant.ID?, hourStart: Date, sum: Int, minutes: Int) {
        self.tenantID = tenantID
        self.hourStart = hourStart
        self.sum = sum
        self.minutes = minutes
    }

    /// The start of the UTC hour holding `instant`.
    public static func start(of instant: Date) -> Date {
        Date(timeIntervalSince1970: (instant.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
    }
}

/// Session concurrency recorded every minute, kept per hour: the history the quiet-window
/// planner reads. An hour's row grows by one minute per recording, so weeks of history stay small.
public protocol UsageRepository: Sendable {
    /// Adds one minute's counts to the hour holding `minute`.
    func record(_ counts: [UsageCount], at minute: Date) async throws
    /// The recorded hours of a tenant (or of the whole service) starting at or after `since`, oldest first.
    func hours(tenantID: Tenant.ID?, since: Date) async throws -> [UsageHour]
    /// Forgets hours that started before `cutoff`; returns how many rows went.
    @discardableResult func deleteHours(before cutoff: Date) async throws -> Int
}

/// A stored plan version with the digest of the inputs it was generated from.
public struct StoredPlan: Sendable, Hashable {
    public var plan: ContinuityPlan
    public var digest: String

    public init(plan: ContinuityPlan, digest: String) {
        self.plan = plan
        self.digest = digest
    }
}

/// Each tenant's troubleshooters, plan versions and drills.
public protocol ContinuityRepository: Sendable {
    /// The tenant's troubleshooters in escalation order; empty before any were set.
    func troubleshooters(tenantID: Tenant.ID) async throws -> [Troubleshooter]
    func setTroubleshooters(_ list: [Troubleshooter], tenantID: Tenant.ID, at now: Date) async throws
    /// The newest version of the tenant's plan of `kind`.
    func latestPlan(tenantID: Tenant.ID, kind: ContinuityPlan.Kind) async throws -> StoredPlan?
    func plan(tenantID: Tenant.ID, kind: ContinuityPlan.Kind, version: Int) async throws -> StoredPlan?
    /// Every version of the plan, newest first.
    func planVersions(tenantID: Tenant.ID, kind: ContinuityPlan.Kind) async throws -> [StoredPlan]
    /// Stores a new version; `CoreError.conflict` (`plan_version_taken`) when that version exists
    /// already, so two generations at once cannot both claim it.
    func savePlan(_ plan: ContinuityPlan, digest: String, tenantID: Tenant.ID) async throws
    func record(_ drill: DrillResult, tenantID: Tenant.ID) async throws
    /// The tenant's drills, newest first.
    func drills(tenantID: Tenant.ID, limit: Int) async throws -> [DrillResult]
}
