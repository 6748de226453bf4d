import Foundation
import HoldfastBackup
import HoldfastCore
import Logging
import ServiceLifecycle

/// `holdfast drill`: restores a tenant's newest snapshots into scratch space, verifies them, and
/// records the time it took as the recovery time the plans then show.
public struct Drill: Sendable {
    let desk: ContinuityDesk
    let driver: ResticBackupDriver
    let repositories: Repositories
    let scratchDirectory: String
    let logger: Logger

    public init(
        configuration: HoldfastConfiguration, repositories: Repositories, now: @escaping @Sendable () -> Date, logger: Logger
    ) throws {
        self.desk = ContinuityDesk(repositories: repositories, configuration: configuration, now: now, logger: logger)
        self.driver = try resticDriver(configuration, logger: logger)
        self.repositories = repositories
        self.scratchDirectory = configuration.absolute("drills")
        self.logger = logger
    }

    /// Runs the drill; `progress` hears one line per step. The scratch space is removed afterwards,
    /// whatever happened; the result is recorded even when the drill failed, and the audit log
    /// names `actor` (``AuditEvent/commandLine`` or ``AuditEvent/service``) as who ran it.
    public func run(tenantSlug: String, actor: String, progress: @Sendable (String) -> Void) async throws -> DrillResult {
        guard let tenant = try await self.repositories.tenants.find(slug: tenantSlug) else {
            throw CoreError.notFound("There is no tenant '\(tenantSlug)'.")
        }
        let id = DrillResult.ID()
        let scratch = self.scratchDirectory + "/\(id)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let startedAt = Date()
        var expected: [String: FileFingerprint] = [:]
        var restored: [String: FileFingerprint] = [:]
        var snapshots = 0
        for user in try await self.repositories.users.list(tenantID: tenant.id) {
            guard let restore = try await self.driver.drillRestore(tenant: tenant.id, user: user.id, into: scratch + "/\(user.id)") else {
                continue
            }
            snapshots += 1
            progress("restored snapshot \(restore.snapshot.shortID) of \(user.email): \(restore.restored.count) files")
            for (path, print) in restore.expected { expected["\(user.id)/\(path)"] = print }
            for (path, print) in restore.restored { restored["\(user.id)/\(path)"] = print }
        }
        guard snapshots > 0 else {
            // Nothing recorded: a drill of nothing proves nothing, and must not show as a failure.
            throw CoreError.conflict(
                "nothing_to_drill",
                "\(tenant.slug) has no snapshots yet, so there is nothing to restore; run the drill after its first backup.")
        }
        var checkPassed = true
        progress("checking the repository (restic check)")
        do {
            try await self.driver.check(tenant: tenant.id)
        } catch let error as CoreError {
            checkPassed = false
            progress("restic check failed: \(error.message)")
        }
        let finishedAt = Date()
        let verification = DrillVerifier.verify(expected: expected, restored: restored, repositoryCheckPassed: checkPassed)
        let result = DrillResult.measured(
            id: id, tenantSlug: tenant.slug, startedAt: startedAt, finishedAt: finishedAt, rtoTargetSeconds: ContinuityDesk.rtoTarget,
            snapshotsRestored: snapshots, verification: verification)
        try await self.desk.record(result, for: tenant)
        let event = AuditEvent(
            at: finishedAt, tenantID: tenant.id, actorID: nil, actor: actor, action: .drillRun, target: tenant.slug,
            detail: "\(result.passed ? "passed" : "failed"); recovered in \(result.rtoSeconds) s; \(snapshots) snapshots", from: "local")
        do {
            try await self.repositories.audit.append(event)
        } catch {
            self.logger.error(
                "audit event not recorded", metadata: ["error": "\(error)", "audit.action": "drill.run", "tenant": "\(tenant.slug)"])
        }
        self.logger.info(
            "drill recorded", metadata: ["tenant": "\(tenant.slug)", "passed": "\(result.passed)", "rto": "\(result.rtoSeconds)"])
        return result
    }
}

/// Runs a recovery drill for every tenant whose latest drill is older than the drill interval
/// (and that has snapshots to drill), one tenant at a time, checking every hour.
struct DrillScheduler: Service {
    let drill: Drill
    let repositories: Repositories
    let interval: TimeInterval
    let now: @Sendable () -> Date
    let logger: Logger

    func run() async throws {
        guard self.interval > 0 else { return }
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
            await self.drillDueTenants()
        }
    }

    func drillDueTenants() async {
        do {
            for tenant in try await self.repositories.tenants.list() {
                let latest = try await self.repositories.continuity.drills(tenantID: tenant.id, limit: 1).first
                if let latest, self.now().timeIntervalSince(latest.finishedAt) < self.interval { continue }
                do {
                    let result = try await self.drill.run(tenantSlug: tenant.slug, actor: AuditEvent.service) { _ in }
                    self.logger.notice("scheduled drill finished", metadata: ["tenant": "\(tenant.slug)", "passed": "\(result.passed)"])
                } catch let error as CoreError where error.code == "nothing_to_drill" {
                    continue
                } catch {
                    self.logger.warning("scheduled drill failed to run", metadata: ["tenant": "\(tenant.slug)", "error": "\(error)"])
                }
            }
        } catch {
            self.logger.warning("could not list tenants for scheduled drills", metadata: ["error": "\(error)"])
        }
    }
}
