import Foundation
import HoldfastCore
import Logging
import ServiceLifecycle
import Synchronization

/// This server's place among the service's nodes: its name claimed in the shared store with a
/// lease, renewed every few seconds while it runs and given up when it stops.
///
/// Leases are reckoned by the database's clock. A renewal that fails (the database is away) is
/// retried at the next beat and changes nothing here: whether this node is alive is for the others
/// to judge from the lease, and a node that cannot reach the store cannot start sessions anyway.
public final class NodeMembership: Service, Sendable {
    public struct Configuration: Sendable {
        /// How long a renewal keeps the node `up`; other nodes treat it as lost after that.
        public var lease: Duration = .seconds(15)
        /// How often the lease is renewed: well inside it, so one slow renewal does not lose it.
        public var renewEvery: Duration = .seconds(3)

        public init() {}
    }

    private let configuration: Configuration
    private let nodes: any NodeRepository
    private let registration: Mutex<NodeRegistration>
    private let latest = Mutex<Node?>(nil)
    private let onChange = Mutex<@Sendable (Node) async -> Void>({ _ in })
    private let logger: Logger

    public init(configuration: Configuration = .init(), registration: NodeRegistration, nodes: any NodeRepository, logger: Logger) {
        self.configuration = configuration
        self.nodes = nodes
        self.registration = Mutex(registration)
        self.logger = logger
    }

    public var name: String { self.registration.withLock { $0.name } }
    /// This node as last registered or renewed.
    public var current: Node? { self.latest.withLock { $0 } }

    /// Claims the name; throws `node_name_taken` while another server runs under it.
    ///
    /// - Parameter onChange: called with this node as the store has it, now and after each
    ///   renewal (a drain an operator set through any node reaches this one there).
    @discardableResult
    public func join(onChange: @escaping @Sendable (Node) async -> Void = { _ in }) async throws -> Node {
        self.onChange.withLock { $0 = onChange }
        let node = try await self.nodes.register(self.registration.withLock { $0 }, lease: self.configuration.lease)
        self.latest.withLock { $0 = node }
        self.logger.info("node registered", metadata: ["node": "\(node.name)", "url": "\(node.url)", "state": "\(node.state)"])
        await self.onChange.withLock { $0 }(node)
        return node
    }

    /// Where the other nodes reach this one, once the real port is known (`--port 0`).
    public func advertise(_ url: String) async {
        self.registration.withLock { $0.url = url }
        await self.renew()
    }

    /// Renews until shutdown, then ends the lease at once (the others need not wait for it to lapse).
    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.configuration.renewEvery) }
            guard !Task.isShuttingDownGracefully else { break }
            await self.renew()
        }
        do {
            try await self.nodes.release(self.registration.withLock { $0 })
            self.logger.info("node lease released", metadata: ["node": "\(self.name)"])
        } catch {
            self.logger.warning("could not release the node's lease; it lapses by itself", metadata: ["error": "\(error)"])
        }
    }

    /// Takes or keeps a once-only duty for this process (see `OnceOnly`).
    func claim(duty: String) async throws -> Bool {
        try await self.nodes.claimDuty(duty, for: self.registration.withLock { $0 }, lease: self.configuration.lease)
    }

    /// Hands a duty over at once.
    func release(duty: String) async {
        do {
            try await self.nodes.releaseDuty(duty, for: self.registration.withLock { $0 })
        } catch {
            self.logger.warning(
                "could not hand a duty over; its lease lapses by itself", metadata: ["duty": "\(duty)", "error": "\(error)"])
        }
    }

    var lease: Duration { self.configuration.lease }
    var renewEvery: Duration { self.configuration.renewEvery }

    func renew() async {
        let registration = self.registration.withLock { $0 }
        do {
            guard let node = try await self.nodes.renew(registration, lease: self.configuration.lease) else {
                // Our lease lapsed and another process took the name: two servers now answer as one
                // node, which only an operator can sort out.
                self.logger.critical(
                    "another server claimed this node's name after its lease lapsed; stop one of them",
                    metadata: ["node": "\(registration.name)"])
                return
            }
            let previous = self.latest.withLock { latest in
                defer { latest = node }
                return latest
            }
            if previous?.state != node.state {
                self.logger.notice("node state changed", metadata: ["node": "\(node.name)", "state": "\(node.state)"])
            }
            await self.onChange.withLock { $0 }(node)
        } catch {
            self.logger.warning("could not renew the node's lease; retrying", metadata: ["error": "\(error)"])
        }
    }
}
