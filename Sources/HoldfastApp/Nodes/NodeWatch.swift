import Foundation
import HoldfastCore
import Logging
import ServiceLifecycle

/// Looks after the sessions of nodes that stopped renewing their lease (a once-only duty).
///
/// A node is `down` once its lease lapsed (by the database's clock). Its starting and connected
/// sessions are then held from the last traffic the store knows, with their normal grace (their
/// users are told nothing new: their connections went with the node). If the node comes back
/// within the grace it adopts them as after a restart; if not, each closes as "host lost" when its
/// grace ends, without a final snapshot (only its node could take one), and the user's next session
/// on any node restores the newest verified snapshot from the backup store.
struct NodeWatch: Service {
    let repositories: Repositories
    let machineConfiguration: SessionStateMachine.Configuration
    var interval: Duration = .seconds(5)
    let now: @Sendable () -> Date
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await self.sweep()
            } catch {
                self.logger.warning("could not look after the sessions of lost nodes; will try again", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }

    /// One pass: every live session of a node that is down moves on as its state asks.
    func sweep() async throws {
        let down = Dictionary(
            try await self.repositories.nodes.list().filter { $0.state == .down }.map { ($0.name, $0) },
            uniquingKeysWith: { first, _ in first })
        guard !down.isEmpty else { return }
        for session in try await self.repositories.sessions.listLive() {
            guard let name = session.node, let node = down[name] else { continue }
            let now = self.now()
            var machine = SessionStateMachine(restoring: session.machine, configuration: self.machineConfiguration)
            let actions: [SessionStateMachine.Action]
            switch session.state {
            case .starting, .connected:
                actions = machine.hostLost(node: name, at: now)
            case .held:
                actions = machine.closeForLostHost(node: name, at: now)
            case .closing:
                // Lost in the middle of its close: a grace after the node was last seen.
                actions =
                    now.timeIntervalSince(node.lastSeenAt) >= session.machine.grace ? machine.closeForLostHost(node: name, at: now) : []
            case .closed:
                continue
            }
            guard actions.contains(where: { if case .persist = $0 { true } else { false } }) else { continue }
            var record = session
            record.machine = machine.persistedState
            record.revision += 1
            let events = actions.compactMap { action -> SessionEvent? in
                if case .recordEvent(let event) = action { event } else { nil }
            }
            do {
                try await self.repositories.sessions.save(record, events: events)
                self.logger.notice(
                    record.state == .closed ? "a lost node's session closed: host lost" : "a lost node's session is held",
                    metadata: ["session.id": "\(session.id)", "node": "\(name)"])
            } catch let error as CoreError where error.code == "session_changed" {
                // Its node came back and saved it first: it is in hand again.
                continue
            }
        }
    }
}
