import Foundation
import Logging
import ServiceLifecycle

/// The session supervisor's heartbeat: every half second it applies deadlines (silent
/// clients, expiry, closing retries), and every `processCheckInterval` it checks that
/// sessions' processes still run and starts the snapshots that are due.
///
/// Why half a second: a deadline waits at most one period plus one tick's work, and with
/// 10,000 held sessions a tick that expires many of them takes up to ~0.4 s here, so a
/// one-second period let 1 in 10 expiries land more than a second late (bench/README.md).
struct SessionClock: Service {
    let supervisor: SessionSupervisor
    var period: Duration = .milliseconds(500)
    var processCheckInterval: Duration = .seconds(10)

    func run() async throws {
        var sinceCheck = Duration.zero
        while !Task.isShuttingDownGracefully {
            await self.supervisor.tick()
            if sinceCheck >= self.processCheckInterval {
                await self.supervisor.watchProcesses()
                await self.supervisor.snapshotChangedWorkspaces()
                sinceCheck = .zero
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.period) }
            sinceCheck += self.period
        }
    }
}
