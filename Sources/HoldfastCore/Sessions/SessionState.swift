import Foundation

/// Where a session is in its lifecycle, as users, the API and the store see it.
///
/// `starting → connected ⇄ held → closing → closed`, plus `starting`, `connected` and `held → closing`
/// when someone closes the session. The raw values are the wire strings of `GET /sessions`.
public enum SessionState: String, Sendable, Codable, Hashable, CaseIterable {
    /// Processes are being launched, or are up and no client has attached yet.
    case starting
    /// At least one client is attached.
    case connected
    /// Every client is gone; the session waits for a resume until `expiresAt`.
    case held
    /// Final snapshot, verification, then the processes end; retried until it succeeds.
    case closing
    /// The workspace is backed up and released; nothing runs any more.
    case closed
}

/// What a session runs: a shell in tmux, or a Linux desktop in Xvnc.
public enum SessionKind: String, Sendable, Codable, Hashable, CaseIterable {
    case terminal
    case desktop
}

/// Why a session is closing; kept on the session so a restarted server finishes the same close.
public enum SessionCloseReason: String, Sendable, Codable, Hashable, CaseIterable {
    /// The user closed it (`DELETE /sessions/{id}`).
    case user
    /// An administrator or operator closed it.
    case admin
    /// A maintenance window needs the host.
    case maintenance
    /// The session's processes are gone (they crashed, or were not running when the server restarted).
    case processesDied
    /// The processes could not be launched.
    case startFailed
    /// Nobody attached or resumed before the deadline.
    case expired
    /// Its node stopped renewing its lease and did not come back within the grace: nobody could
    /// take a final snapshot, so the user's next session restores the newest verified one.
    case hostLost
}

/// The type of a timeline row; the raw values are the wire strings of `GET /sessions/{id}/events`.
public enum SessionEventType: String, Sendable, Codable, Hashable, CaseIterable {
    /// The processes are up and a client may attach.
    case started
    /// A client attached while the session was starting or connected.
    case attached
    /// One client went away (closed or silent) while others stay attached.
    case detached
    /// The last client went away: the session is held.
    case lost
    /// A client attached to a held session before its deadline.
    case resumed
    /// A workspace snapshot finished; recorded by the backup edge, never by the state machine.
    case snapshot
    /// The host had no copy of the workspace, so the newest snapshot was put back before the start.
    case restored
    /// The deadline passed with nobody attached: the session is closing.
    case expired
    /// A close was requested (user, admin, maintenance, dead processes, failed start).
    case closing
    /// A closing attempt failed; the workspace is kept and the attempt is retried.
    case failed
    /// The final snapshot is verified and the processes have ended.
    case closed
    /// A restarted server found the session and took it over.
    case adopted
    /// An administrator moved a held session's deadline later.
    case extended
    /// The session hit its memory or process limit: a process was killed or a fork refused
    /// (recorded by the limit watch, never by the state machine).
    case limit
}

/// One row of a session's timeline, as `GET /sessions/{id}/events` returns it.
public struct SessionEvent: Sendable, Codable, Hashable {
    /// When the state machine saw the event (the instant passed to it, not the wall clock).
    public var at: Date
    public var type: SessionEventType
    /// Human-readable facts for bug reports: client ids, the last traffic, the deadline, the error.
    public var detail: String

    public init(at: Date, type: SessionEventType, detail: String) {
        self.at = at
        self.type = type
        self.detail = detail
    }
}
