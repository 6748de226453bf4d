import Foundation
import HoldfastCore

/// What the HTTP layer asks of the session supervisor (implemented in HoldfastApp).
///
/// Every method takes the caller and checks their right to the session itself, so no route
/// can forget to.
public protocol SessionService: Sendable {
    /// How often the gateway pings a client; a client silent for twice this is lost.
    var heartbeat: TimeInterval { get }

    func start(kind: SessionKind, for user: User) async throws -> Session
    func sessions(of user: User, includeClosed: Bool) async throws -> [Session]
    /// The user's `limit` newest sessions, closed ones included, newest first.
    func newestSessions(of user: User, limit: Int) async throws -> [Session]
    func session(_ id: Session.ID, for user: User) async throws -> Session
    func events(_ id: Session.ID, for user: User) async throws -> [SessionEvent]
    /// Closes the session (final snapshot, then the processes end) and returns it.
    func close(_ id: Session.ID, by user: User) async throws -> Session
    /// The tenant's sessions that are not closed (its tenant admins and operators).
    func tenantSessions(_ tenant: Tenant, by user: User) async throws -> [Session]
    /// The use each of `sessions` makes of its limits now (memory, processes), for the admin view;
    /// a session the caller may not oversee is refused, one whose use is unknown is left out.
    func usage(of sessions: [Session], by user: User) async throws -> [Session.ID: SessionUsage]
    /// Moves a held session's deadline `seconds` later (its tenant admins and operators).
    func extend(_ id: Session.ID, by user: User, seconds: TimeInterval) async throws -> Session
    /// Sessions that need an operator (closing keeps failing: the backup store unreachable, say),
    /// oldest first: all of them for operators, their tenant's for tenant admins, none otherwise.
    func alerts(visibleTo user: User) async -> [SessionAlert]
    /// A single-use ticket for one WebSocket attach, valid for 30 seconds.
    func issueTicket(_ id: Session.ID, for user: User) async throws -> (ticket: String, expiresAt: Date)
    /// The user a ticket was issued to, if it is valid for this session; the ticket is used up.
    func redeemTicket(_ ticket: String, for id: Session.ID) async throws -> User
    /// Attaches a terminal client. `disconnect` is called when the server drops the client
    /// (silent link, session closing); the gateway then closes the socket.
    func attach(
        _ id: Session.ID,
        user: User,
        columns: Int,
        rows: Int,
        disconnect: @escaping @Sendable () -> Void
    ) async throws -> TerminalAttachment
    /// The latest traffic seen from a client (data or pong).
    func trafficReceived(_ attachment: TerminalAttachment, at: Date) async
    /// The client's socket is gone; `lastTrafficAt` dates the loss.
    func detached(_ attachment: TerminalAttachment, lastTrafficAt: Date) async
}

/// One attached client of a terminal session.
public struct TerminalAttachment: Sendable {
    public var sessionID: Session.ID
    public var clientID: SessionStateMachine.ClientID
    public var connection: any TerminalConnection

    public init(sessionID: Session.ID, clientID: SessionStateMachine.ClientID, connection: any TerminalConnection) {
        self.sessionID = sessionID
        self.clientID = clientID
        self.connection = connection
    }
}

/// A session that needs an operator's attention.
public struct SessionAlert: Sendable, Hashable {
    public var sessionID: Session.ID
    public var tenantID: Tenant.ID
    public var userID: User.ID
    /// What went wrong and what to check, as the state machine put it.
    public var message: String
    public var since: Date

    public init(sessionID: Session.ID, tenantID: Tenant.ID, userID: User.ID, message: String, since: Date) {
        self.sessionID = sessionID
        self.tenantID = tenantID
        self.userID = userID
        self.message = message
        self.since = since
    }
}
