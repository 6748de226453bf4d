import Foundation
import HoldfastBackup
import HoldfastCore
import HoldfastHTTP
import HoldfastStore
import Logging
import ServiceLifecycle

/// Each tenant's Disaster Recovery and Business Continuity Plans: generated from the tenant's real
/// data and this deployment's configuration, versioned whenever an input changes, with the
/// troubleshooters, the drills and the promise report.
public struct ContinuityDesk: ContinuityService {
    let repositories: Repositories
    let configuration: HoldfastConfiguration
    let now: @Sendable () -> Date
    let logger: Logger

    /// The recovery time the plans promise until a drill has measured one.
    public static let rtoTarget = 3_600
    /// How far back the promise report looks.
    public static let reportDays = 30

    public init(repositories: Repositories, configuration: HoldfastConfiguration, now: @escaping @Sendable () -> Date, logger: Logger) {
        self.repositories = repositories
        self.configuration = configuration
        self.now = now
        self.logger = logger
    }

    // MARK: Plans

    /// Everything the tenant's plans depend on, read now.
    public func inputs(for tenant: Tenant) async throws -> PlanInputs {
        let dataDirectory = URL(fileURLWithPath: self.configuration.dataDirectory).standardizedFileURL.path
        let database: PlanInputs.Database
        switch self.configuration.resolvedDatabase {
        case .sqlite(let path): database = .sqlite(path: URL(fileURLWithPath: path).standardizedFileURL.path)
        case .postgres(let url): database = try .postgresql(url: url)
        }
        // The driver's own reading of the flag, so the plans name the repositories it really uses.
        let location = try RepositoryLocation.parse(self.configuration.resolvedBackupRepository)
        let calendar = try await self.repositories.settings.supportCalendar()
        return PlanInputs(
            tenantSlug: tenant.slug, tenantName: tenant.name,
            troubleshooters: try await self.repositories.continuity.troubleshooters(tenantID: tenant.id),
            snapshotIntervalSeconds: Int(self.configuration.backups.snapshotInterval), rtoTargetSeconds: Self.rtoTarget,
            latestDrill: try await self.repositories.continuity.drills(tenantID: tenant.id, limit: 1).first,
            drillIntervalDays: self.configuration.backups.drillInterval > 0
                ? max(1, Int(self.configuration.backups.drillInterval / 86_400)) : PlanInputs.defaultDrillIntervalDays,
            deployment: PlanInputs.Deployment(
                dataDirectory: dataDirectory, database: database, serverBackupLocation: Self.repository(location, tenant: nil),
                backupRepository: Self.repository(location, tenant: tenant.id),
                passwordFile: self.configuration.secretsDirectory + "/\(tenant.id).password",
                restoresDirectory: self.configuration.restoresDirectory, publicURL: self.configuration.publicURL),
            support: PlanInputs.Support(
                calendar: calendar, firstResponseMinutes: SLAPolicySet.standard.policies.first?.firstResponseMinutes ?? 240,
                email: MailParser.address(self.configuration.mailFrom)?.address),
            graceSeconds: tenant.graceSeconds ?? Int(self.configuration.sessions.grace))
    }

    /// The server's backup location, or a tenant's repository under it, as the plans describe it.
    static func repository(_ location: RepositoryLocation, tenant: Tenant.ID?) -> PlanInputs.BackupRepository {
        switch location {
        case .local(let directory): .local(directory: tenant.map { location.repository(for: $0) } ?? directory)
        case .s3: .s3(url: tenant.map { location.repository(for: $0) } ?? location.description)
        }
    }

    /// Makes sure both plans reflect the tenant's current inputs: a new version of each plan whose
    /// inputs changed since its latest version (version 1 at sign-up). Returns the current plans.
    @discardableResult
    public func ensureCurrent(_ tenant: Tenant) async throws -> [ContinuityPlan] {
        let inputs = try await self.inputs(for: tenant)
        let digest = inputs.digest
        var plans: [ContinuityPlan] = []
        for kind in ContinuityPlan.Kind.allCases {
            let latest = try await self.repositories.continuity.latestPlan(tenantID: tenant.id, kind: kind)
            if let latest, latest.digest == digest {
                plans.append(latest.plan)
                continue
            }
            let plan = ContinuityPlanGenerator.generate(
                kind: kind, inputs: inputs, version: (latest?.plan.version ?? 0) + 1, now: self.now())
            do {
                try await self.repositories.continuity.savePlan(plan, digest: digest, tenantID: tenant.id)
                self.logger.info(
                    "continuity plan generated",
                    metadata: ["tenant": "\(tenant.slug)", "plan": "\(kind.rawValue)", "version": "\(plan.version)"])
                plans.append(plan)
            } catch let error as CoreError where error.code == "plan_version_taken" {
                // Another generation got there first with the same inputs.
                if let stored = try await self.repositories.continuity.latestPlan(tenantID: tenant.id, kind: kind) {
                    plans.append(stored.plan)
                }
            }
        }
        return plans
    }

    // MARK: ContinuityService

    public func troubleshooters(tenantSlug: String, by caller: User) async throws -> [Troubleshooter] {
        let tenant = try await self.readableTenant(tenantSlug, by: caller)
        return try await self.repositories.continuity.troubleshooters(tenantID: tenant.id)
    }

    public func setTroubleshooters(_ list: [Troubleshooter], tenantSlug: String, by caller: User) async throws -> [Troubleshooter] {
        guard caller.role == .operator else {
            throw CoreError.forbidden("Only operators set a tenant's troubleshooters.")
        }
        let tenant = try await self.readableTenant(tenantSlug, by: caller)
        let validated = try Troubleshooter.validatedEscalationList(list)
        try await self.repositories.continuity.setTroubleshooters(validated, tenantID: tenant.id, at: self.now())
        try await self.ensureCurrent(tenant)
        return validated
    }

    public func plan(
        tenantSlug: String, kind: ContinuityPlan.Kind, version: Int?, by caller: User
    ) async throws -> (
        ContinuityPlan, tenantName: String
    ) {
        let tenant = try await self.readableTenant(tenantSlug, by: caller)
        let current = try await self.ensureCurrent(tenant)
        guard let version else {
            guard let plan = current.first(where: { $0.kind == kind }) else { throw CoreError.notFound("There is no \(kind.title).") }
            return (plan, tenant.name)
        }
        guard let stored = try await self.repositories.continuity.plan(tenantID: tenant.id, kind: kind, version: version) else {
            throw CoreError.notFound("The \(kind.title) of \(tenant.slug) has no version \(version).")
        }
        return (stored.plan, tenant.name)
    }

    public func planVersions(tenantSlug: String, kind: ContinuityPlan.Kind, by caller: User) async throws -> [ContinuityPlan] {
        let tenant = try await self.readableTenant(tenantSlug, by: caller)
        try await self.ensureCurrent(tenant)
        return try await self.repositories.continuity.planVersions(tenantID: tenant.id, kind: kind).map(\.plan)
    }

    public func drills(tenantSlug: String, by caller: User) async throws -> [DrillResult] {
        let tenant = try await self.readableTenant(tenantSlug, by: caller)
        return try await self.repositories.continuity.drills(tenantID: tenant.id, limit: 50)
    }

    public func tenantCreated(_ tenant: Tenant) async {
        do {
            try await self.ensureCurrent(tenant)
        } catch {
            self.logger.warning("could not generate the new tenant's plans; the plan keeper retries", metadata: ["error": "\(error)"])
        }
    }

    /// Records a drill's result and brings the plans up to date with it.
    public func record(_ drill: DrillResult, for tenant: Tenant) async throws {
        try await self.repositories.continuity.record(drill, tenantID: tenant.id)
        try await self.ensureCurrent(tenant)
    }

    /// Operators see every tenant; a tenant's admins their own; nobody else.
    private func readableTenant(_ slug: String, by caller: User) async throws -> Tenant {
        guard let tenant = try await self.repositories.tenants.find(slug: slug) else {
            throw CoreError.notFound("There is no tenant '\(slug)'.")
        }
        try AccessPolicy.requireSessionAdministration(of: tenant, by: caller)
        return tenant
    }

    // MARK: Promise report

    public func report(tenantSlug: String, by caller: User) async throws -> PromiseReport {
        let tenant = try await self.readableTenant(tenantSlug, by: caller)
        let now = self.now()
        let since = now.addingTimeInterval(-Double(Self.reportDays) * 86_400)
        var resumed = 0
        var expired = 0
        var ages: [Int] = []
        var met = 0
        var missed = 0
        var promised = 0
        for user in try await self.repositories.users.list(tenantID: tenant.id) {
            for session in try await self.repositories.sessions.list(userID: user.id, includeClosed: true)
            where session.machine.createdAt >= since {
                let events = try await self.repositories.sessions.events(sessionID: session.id)
                resumed += events.filter { $0.type == .resumed }.count
                expired += events.filter { $0.type == .expired }.count
                // The data at risk when a connection drops or a close begins: the work since the
                // newest snapshot (or since the session started).
                var newest = session.machine.createdAt
                for event in events {
                    switch event.type {
                    case .snapshot, .restored: newest = event.at
                    case .lost, .closing: ages.append(Int(event.at.timeIntervalSince(newest).rounded()))
                    default: break
                    }
                }
            }
            for ticket in try await self.repositories.tickets.list(requesterID: user.id, limit: 1000, offset: 0)
            where ticket.createdAt >= since {
                guard let due = ticket.firstResponseDueAt else { continue }
                promised += 1
                if let answered = ticket.firstRespondedAt {
                    if answered <= due { met += 1 } else { missed += 1 }
                } else if now > due {
                    missed += 1
                }
            }
        }
        ages.sort()
        let windows = try await self.repositories.maintenance.list(endingSince: since).map { window in
            PromiseReport.Notice(
                title: window.title, startsAt: window.startsAt, state: window.state.rawValue,
                noticeLeadSeconds: Int(window.startsAt.timeIntervalSince(window.scheduledAt).rounded()))
        }
        let drill = try await self.repositories.continuity.drills(tenantID: tenant.id, limit: 1).first
        return PromiseReport(
            tenant: tenant.slug, generatedAt: now, sinceDays: Self.reportDays,
            grace: .init(
                resumedWithinGrace: resumed, expired: expired, graceSeconds: tenant.graceSeconds ?? Int(self.configuration.sessions.grace)),
            recovery: .init(
                rpoTargetSeconds: Int(self.configuration.backups.snapshotInterval),
                rpoAchievedMedianSeconds: ages.isEmpty ? nil : ages[ages.count / 2],
                rpoAchievedWorstSeconds: ages.last, closesMeasured: ages.count),
            support: .init(
                ticketsWithPromise: promised, firstResponsesMet: met, firstResponsesMissed: missed,
                metPercent: met + missed == 0 ? nil : (Double(met) * 1000 / Double(met + missed)).rounded() / 10),
            maintenance: windows,
            lastDrill: drill.map {
                .init(finishedAt: $0.finishedAt, rtoSeconds: $0.rtoSeconds, rtoTargetSeconds: $0.rtoTargetSeconds, passed: $0.passed)
            })
    }
}

/// Keeps every tenant's plans current: at start and every minute it regenerates a plan whose
/// inputs changed (a new tenant, the support calendar, the server's configuration).
struct PlanKeeper: Service {
    let desk: ContinuityDesk
    let repositories: Repositories
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                for tenant in try await self.repositories.tenants.list() { try await self.desk.ensureCurrent(tenant) }
            } catch {
                self.logger.warning("could not bring the continuity plans up to date; will try again", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(60)) }
        }
    }
}
