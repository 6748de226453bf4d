import Foundation

/// What a host needs to launch a terminal session.
public struct TerminalLaunch: Sendable, Hashable {
    public var sessionID: Session.ID
    /// Absolute path of the user's workspace on this host; it becomes `$HOME` in the sandbox.
    public var workspace: String
    /// The unprivileged account the session runs as; `nil` runs it as the server's own user
    /// (only when the server itself is not root).
    public var account: UnixAccount?
    public var columns: Int
    public var rows: Int
    /// What the session may reach on the network.
    public var network: NetworkAccess
    /// Its memory, processes and CPU share (the per-user limits are enforced by the caller).
    public var limits: SessionLimits

    public init(
        sessionID: Session.ID, workspace: String, account: UnixAccount?, columns: Int = 120, rows: Int = 36,
        network: NetworkAccess = .standard, limits: SessionLimits = .standard
    ) {
        self.sessionID = sessionID
        self.workspace = workspace
        self.account = account
        self.columns = columns
        self.rows = rows
        self.network = network
        self.limits = limits
    }
}

/// A numeric Unix identity for a sandboxed session.
public struct UnixAccount: Sendable, Hashable, Codable {
    public var uid: UInt32
    public var gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
}

/// The port through which sessions are run on a machine: launch, watch, attach, end.
///
/// Session processes never live inside the server process: a host launches them detached,
/// so the server can crash or restart while users' shells keep running, and a restarted
/// server finds them again with `runningSessions()`.
public protocol SessionHost: Sendable {
    /// Starts the session's processes in their sandbox; returns once a client can attach.
    func launch(_ launch: TerminalLaunch) async throws
    /// Whether the session's processes are running.
    func isAlive(_ id: Session.ID) async -> Bool
    /// Every session whose processes this host finds running.
    func runningSessions() async throws -> [Session.ID]
    /// Attaches a new terminal client; it starts with a full redraw of the screen.
    func attachTerminal(_ id: Session.ID, columns: Int, rows: Int) async throws -> any TerminalConnection
    /// Ends every process of the session. Idempotent: ending a dead session succeeds.
    func terminate(_ id: Session.ID) async throws
    /// The session's use of its limits now; `nil` when the host cannot tell (not running, no cgroup).
    func usage(_ id: Session.ID) async -> SessionUsage?
}

/// One attached terminal client: bytes out of the session, keystrokes into it.
public protocol TerminalConnection: Sendable {
    /// Output of the terminal, in order; finishes when the attachment ends.
    var output: AsyncStream<[UInt8]> { get }
    /// Sends keystrokes (or pasted bytes) to the terminal.
    func write(_ bytes: [UInt8]) async throws
    /// Tells the terminal its new size; the session redraws to fit.
    func resize(columns: Int, rows: Int) async throws
    /// Detaches this client; the session keeps running.
    func close() async
}
