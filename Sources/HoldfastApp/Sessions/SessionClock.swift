import Foundation
import Logging
import ServiceLifecycle

/// The session supervisor's heartbeat: every second it applies deadlines (silent clients,
/// expiry, closing retries), and every `processCheckInterval` it checks that sessions'
/// processes still run. A held session therefore closes within a second of its deadline.
struct SessionClock: Service {
    let supervisor: SessionSupervisor
    var processCheckInterval: Duration = .seconds(10)

    func run() async throws {
        var sinceCheck = Duration.zero
        while !Task.isShuttingDownGracefully {
            await self.supervisor.tick()
            if sinceCheck >= self.processCheckInterval {
                await self.supervisor.watchProcesses()
                sinceCheck = .zero
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            sinceCheck += .seconds(1)
        }
    }
}
