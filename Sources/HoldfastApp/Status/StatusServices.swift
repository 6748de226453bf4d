import Foundation
import HoldfastCore
import Logging
import ServiceLifecycle

/// Ticks the maintenance windows every second (their edges, reminders, banners); the windows
/// are few and the query is one indexed range, so a second's precision costs little.
struct MaintenanceClock: Service {
    let desk: StatusDesk
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            do {
                try await self.desk.tick()
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
    let activeSessions: @Sendable () async -> [Tenant.ID: Int]
    let now: @Sendable () -> Date
    let logger: Logger

    static let kept: TimeInterval = 9 * 7 * 86_400

    func run() async throws {
        var pruned = Date.distantPast
        while !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(60)) }
            guard !Task.isShuttingDownGracefully else { return }
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

    /// One minute's counts: every tenant (zeros too, so quiet hours count as quiet) and the total.
    func recordOnce() async throws {
        let active = await self.activeSessions()
        var counts = try await self.repositories.tenants.list().map { UsageCount(tenantID: $0.id, activeSessions: active[$0.id] ?? 0) }
        counts.append(UsageCount(tenantID: nil, activeSessions: active.values.reduce(0, +)))
        try await self.repositories.usage.record(counts, at: self.now())
    }
}
