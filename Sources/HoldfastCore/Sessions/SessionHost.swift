import Foundation

/// What a host needs to launch a session, terminal or desktop.
public struct TerminalLaunch: Sendable, Hashable {
    public var sessionID: Session.ID
    /// A shell in tmux, or a desktop (Xvnc, openbox and a terminal window) that tmux keeps running.
    public var kind: SessionKind
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
        sessionID: Session.ID, kind: SessionKind = .terminal, workspace: String, account: UnixAccount?, columns: Int = 120,
        rows: Int = 36, network: NetworkAccess = .standard, limits: SessionLimits = .standard
    ) {
        self.sessionID = sessionID
        self.kind = kind
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
    /// Whether the session's processes are running: `dead` only on definite evidence, `unknown`
    /// when the host could not tell. Called with a timeout; a slow answer counts as unknown.
    func liveness(_ id: Session.ID) async -> SessionLiveness
    /// Every session whose processes this host finds running.
    func runningSessions() async throws -> [Session.ID]
    /// Attaches a new terminal client; it starts with a full redraw of the screen.
    func attachTerminal(_ id: Session.ID, columns: Int, rows: Int) async throws -> any TerminalConnection
    /// Connects a new viewer to a desktop session's VNC server: `output` and `write` carry RFB as
    /// the server and the viewer speak it (the server opens with its protocol version), and
    /// `resize` does nothing (a viewer resizes the desktop in RFB, with `SetDesktopSize`).
    func attachDesktop(_ id: Session.ID) async throws -> any TerminalConnection
    /// Ends every process of the session. Idempotent: ending a dead session succeeds.
    func terminate(_ id: Session.ID) async throws
    /// The session's use of its limits now; `nil` when the host cannot tell (not running, no cgroup).
    func usage(_ id: Session.ID) async -> SessionUsage?
}

extension SessionHost {
    /// Whether the session's processes are running for certain (`unknown` is not alive).
    public func isAlive(_ id: Session.ID) async -> Bool {
        await self.liveness(id) == .alive
    }
}

/// What a host can say about a session's processes.
///
/// Only `dead` ends a session: a check that failed or did not answer is `unknown`, which an
/// operator hears about when it lasts, and which never costs a user a live shell.
public enum SessionLiveness: Sendable, Hashable, CustomStringConvertible {
    /// The sandbox runs.
    case alive
    /// The sandbox's leader exited, or the sandbox is gone; `evidence` says which.
    case dead(evidence: String)
    /// The host could not tell (a read failed, the check did not answer in time).
    case unknown(reason: String)

    /// Whether the host has evidence that the session's processes are gone.
    public var isDead: Bool {
        if case .dead = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .alive: "alive"
        case .dead(let evidence): "dead (\(evidence))"
        case .unknown(let reason): "unknown (\(reason))"
        }
    }
}

/// What a viewer sent that a session refuses to pass on (not the protocol, or a request that
/// would harm the session); the connection ends with `code` as its reason.
public struct ProtocolRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }
}

/// One attached terminal client: bytes out of the session, keystrokes into it.
public protocol TerminalConnection: Sendable {
    /// Output of the terminal, in order; finishes when the attachment ends.
    var output: TerminalOutput { get }
    /// Sends keystrokes (or pasted bytes) to the terminal.
    func write(_ bytes: [UInt8]) async throws
    /// Tells the terminal its new size; the session redraws to fit.
    func resize(columns: Int, rows: Int) async throws
    /// Detaches this client; the session keeps running.
    func close() async
}

/// A connection that is a connected stream socket whose bytes reach the viewer unchanged (a
/// desktop's VNC server): a gateway able to read sockets itself may take the socket and relay it
/// without `output`'s copies and thread hops. Bytes from the viewer still pass `admit` first.
public protocol SocketBackedConnection: TerminalConnection {
    /// The connected socket, handed over once (the caller closes it): nil when it was taken
    /// already, when `output` is being read instead, or after `close`.
    func takeSocket() -> Int32?
    /// Checks what a viewer sends before it goes on; a refusal ends the viewer's connection with
    /// its code, and nothing of the refused bytes may reach the socket.
    func admit(_ bytes: [UInt8]) throws(ProtocolRefusal)
}

/// A terminal's output as its reader takes it, with the bytes handed over reported back: the
/// host stops reading the terminal while too much is waiting for a slow reader (backpressure).
public struct TerminalOutput: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    public typealias Failure = Never

    private let stream: AsyncStream<[UInt8]>
    private let taken: @Sendable (Int) -> Void

    /// - Parameter taken: called with the size of each chunk as the reader takes it.
    public init(_ stream: AsyncStream<[UInt8]>, taken: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.stream = stream
        self.taken = taken
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(base: self.stream.makeAsyncIterator(), taken: self.taken)
    }

    public struct Iterator: AsyncIteratorProtocol {
        var base: AsyncStream<[UInt8]>.AsyncIterator
        let taken: @Sendable (Int) -> Void

        public mutating func next() async -> [UInt8]? {
            let chunk = await self.base.next()
            if let chunk { self.taken(chunk.count) }
            return chunk
        }
    }
}
