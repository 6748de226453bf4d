import Foundation

/// One server of the service: a host that runs sessions, registered in the shared store with a
/// lease it renews. Many nodes share one PostgreSQL (state, coordination) and one object store
/// (workspaces); on SQLite there is exactly one.
public struct Node: Sendable, Hashable, Codable {
    /// Unique across the service (`--node`, the host name by default).
    public var name: String
    /// Where the other nodes reach this one (`--advertise-url`).
    public var url: String
    public var state: NodeState
    /// When this node's current process registered.
    public var startedAt: Date
    /// Its last renewal, by the database's clock.
    public var lastSeenAt: Date
    /// Until when the lease holds (by the database's clock); past it the node is `down`.
    public var leaseExpiresAt: Date

    public init(name: String, url: String, state: NodeState, startedAt: Date, lastSeenAt: Date, leaseExpiresAt: Date) {
        self.name = name
        self.url = url
        self.state = state
        self.startedAt = startedAt
        self.lastSeenAt = lastSeenAt
        self.leaseExpiresAt = leaseExpiresAt
    }

    /// A node name: 1–63 letters, digits, `.`, `-` or `_`, starting with a letter or digit (it
    /// appears in URLs, logs and metrics labels).
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 63 else { return false }
        func allowed(_ scalar: Unicode.Scalar) -> Bool {
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "-._".unicodeScalars.contains(scalar))
        }
        return first.isASCII && CharacterSet.alphanumerics.contains(first) && name.unicodeScalars.allSatisfy(allowed)
    }
}

/// `up` while the lease holds, `draining` when an operator stopped new placements there (the
/// lease still holds), `down` once the lease lapsed.
public enum NodeState: String, Sendable, Hashable, Codable, CaseIterable {
    case up
    case draining
    case down
}

/// What a starting node claims: its name, for its own process only.
public struct NodeRegistration: Sendable, Hashable {
    public var name: String
    public var url: String
    /// Which server this is, kept in its data directory: the same server restarted (after a crash,
    /// an upgrade) takes its name back at once; another server is refused it while the lease holds.
    public var identity: String
    /// A random token of this process: a renewal by another process (an old one that came back)
    /// does not count as this node's.
    public var instance: String

    public init(name: String, url: String, identity: String, instance: String = UUID().uuidString.lowercased()) {
        self.name = name
        self.url = url
        self.identity = identity
        self.instance = instance
    }
}

/// The nodes as the shared store keeps them. Every time is the database's own clock, so a node
/// whose clock is off cannot evict a healthy one (or keep itself alive).
public protocol NodeRepository: Sendable {
    /// Claims `registration.name` with a lease of `lease`: a new name, one whose lease lapsed, or
    /// one held by the same server (`identity`) before it restarted. Throws `CoreError.conflict`
    /// (`node_name_taken`) while another server holds the name, and changes nothing then.
    /// Registering keeps a drain in place.
    func register(_ registration: NodeRegistration, lease: Duration) async throws -> Node
    /// Extends the lease of this process's registration; `nil` when the name is no longer this
    /// process's (another process claimed it after the lease lapsed).
    func renew(_ registration: NodeRegistration, lease: Duration) async throws -> Node?
    /// Ends this process's lease now (a clean stop): the node is `down` at once.
    func release(_ registration: NodeRegistration) async throws
    /// Every node ever registered, by name, with its state as of the database's clock now.
    func list() async throws -> [Node]
    /// Stops (or, with `false`, resumes) new placements on a node; `nil` when there is no such node.
    func setDraining(_ name: String, _ draining: Bool) async throws -> Node?

    /// Takes, or keeps, the lease on a once-only duty (the mailer, retention, drills…) for this
    /// process: whether it holds the duty now. A duty held by another process is taken only once
    /// its lease has lapsed, or when its process is no longer its node's (that node restarted), so
    /// at most one process runs it at a time.
    func claimDuty(_ duty: String, for registration: NodeRegistration, lease: Duration) async throws -> Bool
    /// Gives a held duty up at once (a clean stop), so another node takes it at its next claim.
    func releaseDuty(_ duty: String, for registration: NodeRegistration) async throws
    /// The duties whose lease holds now, and the node holding each.
    func dutyHolders() async throws -> [String: String]
}

extension Duration {
    /// The duration in seconds, as `Date` arithmetic takes it.
    public var timeInterval: TimeInterval {
        let (seconds, attoseconds) = self.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
