import Foundation
import Logging
import ServiceLifecycle

/// The session supervisor's heartbeat: every half second it applies deadlines (silent
/// clients, expiry, closing retries), and, in a loop of its own, every `processCheckInterval`
/// it checks that sessions' processes still run and starts the snapshots that are due.
///
/// Why half a second: a deadline waits at most one period plus one tick's work, and with
/// 10,000 held sessions a tick that expires many of them takes up to ~0.4 s here, so a
/// one-second period let 1 in 10 expiries land more than a second late (bench/README.md).
struct SessionClock: Service {
    let supervisor: SessionSupervisor
    var period: Duration = .milliseconds(500)
    var processCheckInterval: Duration = .seconds(10)

    func run() async throws {
        // Two loops: a process check or a snapshot scan that takes long (a loaded host, a
        // liveness check timing out) must not hold back the deadlines of every session.
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.applyDeadlines() }
            group.addTask { await self.checkProcesses() }
        }
    }

    private func applyDeadlines() async {
        while !Task.isShuttingDownGracefully {
            await self.supervisor.tick()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.period) }
        }
    }

    private func checkProcesses() async {
        while !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.processCheckInterval) }
            guard !Task.isShuttingDownGracefully else { return }
            await self.supervisor.watchProcesses()
            await self.supervisor.snapshotChangedWorkspaces()
        }
    }
}
