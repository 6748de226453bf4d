import Foundation
import HoldfastCore
import Logging
import ServiceLifecycle

/// Ticks the maintenance windows every second (their edges, reminders, banners); the windows
/// are few and the query is one indexed range, so a second's precision costs little.
///
/// Moving windows across their edges (and the mails) is a once-only duty (`advancing`); applying
/// them to this node's sessions (refusals, banners, closing) runs on every node (`applying`).
struct MaintenanceClock: Service {
    let desk: StatusDesk
    let interval: Duration
    var advancing = true
    var applying = true
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await self.desk.tick(advancing: self.advancing, applying: self.applying)
            } catch {
                self.logger.warning("maintenance clock tick failed; will try again", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }
}

/// Records every minute how many sessions are live, per tenant and for the whole service: the
/// history the quiet-window planner learns the quiet hours from. Keeps nine weeks.
struct UsageRecorder: Service {
    let repositories: Repositories
    let activeSessions: @Sendable () async throws -> [Tenant.ID: Int]
    let now: @Sendable () -> Date
    let logger: Logger

    static let kept: TimeInterval = 9 * 7 * 86_400

    func run() async throws {
        var pruned = Date.distantPast
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(60)) }
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
            do {
                try await self.recordOnce()
                if self.now().timeIntervalSince(pruned) > 3600 {
                    try await self.repositories.usage.deleteHours(before: self.now().addingTimeInterval(-Self.kept))
                    pruned = self.now()
                }
            } catch {
                self.logger.warning("could not record session usage", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Sessions running (starting, connected or held) per tenant on every node, from the store:
    /// the recorder runs on one node and counts the whole service. A failed read records nothing
    /// for that minute (never a quiet minute that was not).
    static func activeSessionsPerTenant(in sessions: any SessionRepository) async throws -> [Tenant.ID: Int] {
        var counts: [Tenant.ID: Int] = [:]
        for session in try await sessions.listLive() where [.starting, .connected, .held].contains(session.state) {
            counts[session.tenantID, default: 0] += 1
        }
        return counts
    }

    /// One minute's counts: every tenant (zeros too, so quiet hours count as quiet) and the total.
    func recordOnce() async throws {
        let active = try await self.activeSessions()
        var counts = try await self.repositories.tenants.list().map { UsageCount(tenantID: $0.id, activeSessions: active[$0.id] ?? 0) }
        counts.append(UsageCount(tenantID: nil, activeSessions: active.values.reduce(0, +)))
        try await self.repositories.usage.record(counts, at: self.now())
    }
}
