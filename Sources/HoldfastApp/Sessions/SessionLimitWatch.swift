import Foundation
import HoldfastCore
import HoldfastHTTP
import Logging
import ServiceLifecycle

/// Notices when a session runs into its memory or process limit, so that the user reads why a
/// program died (a notice in the terminal) and the timeline says so, instead of a silent kill.
///
/// The kernel enforces the limits; it only counts what it did (OOM kills, refused forks). Each
/// look compares those counters with the previous look's: a counter that grew is a hit. A session
/// the watch first sees on its first look (one adopted after a restart) starts from its counters
/// then, since earlier hits were already reported or are too old to date; one that starts later
/// starts from zero, as its new cgroup does.
actor SessionLimitWatch {
    let supervisor: SessionSupervisor
    let host: any SessionHost
    let repositories: Repositories
    let notices: SessionNotices
    let now: @Sendable () -> Date
    let logger: Logger
    /// Each running session's counters at the last look that could read them.
    private var seen: [Session.ID: SessionUsage] = [:]
    private var looked = false

    init(
        supervisor: SessionSupervisor, host: any SessionHost, repositories: Repositories, notices: SessionNotices,
        now: @escaping @Sendable () -> Date, logger: Logger
    ) {
        self.supervisor = supervisor
        self.host = host
        self.repositories = repositories
        self.notices = notices
        self.now = now
        self.logger = logger
    }

    /// Reads every running session's counters once; records and announces what grew.
    func look() async {
        var next: [Session.ID: SessionUsage] = [:]
        for session in await self.supervisor.runningSessions() {
            let id = session.id
            // Unknown now: nothing to say, and the last known counters stay the reference.
            guard let usage = await self.host.usage(id) else {
                next[id] = self.seen[id]
                continue
            }
            next[id] = usage
            let previous = self.seen[id] ?? (self.looked ? SessionUsage(oomKills: 0, pidsRefused: 0) : usage)
            guard usage.oomKills != previous.oomKills || usage.pidsRefused != previous.pidsRefused else { continue }
            let limits = (try? await self.repositories.tenants.find(id: session.tenantID))??.effectiveLimits ?? .standard
            for hit in usage.limitsHit(since: previous, limits: limits) {
                await self.supervisor.recordLimitHit(hit, in: id)
                let code = hit.limit == .memory ? "memory_limit" : "process_limit"
                self.notices.post(SessionNotice(code: code, message: hit.message, at: self.now()), to: id)
            }
        }
        for gone in Set(self.seen.keys).subtracting(next.keys) {
            self.notices.forget(gone)
        }
        self.seen = next
        self.looked = true
    }
}

extension SessionLimitWatch: Service {
    /// Looks every `interval` (2 s: a user who just saw a program die reads why within moments,
    /// and reading a few cgroup files per session is cheap) until shutdown.
    nonisolated func run() async throws {
        try await self.run(interval: .seconds(2))
    }

    nonisolated func run(interval: Duration) async throws {
        while !Task.isShuttingDownGracefully {
            await self.look()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
