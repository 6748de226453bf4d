import Foundation

/// Stored sessions, their timelines and their attach tickets.
public protocol SessionRepository: Sendable {
    /// Stores a new session with its first timeline rows.
    func create(_ session: Session, events: [SessionEvent]) async throws
    /// Saves the session's machine state and appends `events`, in one transaction, so the
    /// timeline never disagrees with the state.
    ///
    /// `session.revision` must be one more than the stored revision; otherwise someone else saved
    /// the session meanwhile and this throws `CoreError.conflict` (`session_changed`), saving nothing.
    func save(_ session: Session, events: [SessionEvent]) async throws
    func find(id: Session.ID) async throws -> Session?
    /// A user's sessions, newest first; closed ones only if `includeClosed`.
    func list(userID: User.ID, includeClosed: Bool) async throws -> [Session]
    /// A user's `limit` newest sessions, closed ones included, newest first: what the support
    /// form offers to attach, however many sessions the user had over the years.
    func newest(userID: User.ID, limit: Int) async throws -> [Session]
    /// A tenant's sessions that are not closed, newest first (the admin view).
    func listLive(tenantID: Tenant.ID) async throws -> [Session]
    /// Every session that is not closed, on the whole service (re-adoption at start).
    func listLive() async throws -> [Session]
    /// The timeline, oldest first.
    func events(sessionID: Session.ID) async throws -> [SessionEvent]

    /// Stores a single-use attach ticket (its digest).
    func createTicket(_ ticket: AttachTicket) async throws
    /// Uses up a ticket: returns it and deletes it, or `nil` when it is unknown, used or expired.
    func redeemTicket(digest: String, now: Date) async throws -> AttachTicket?
}

/// Permission to open one WebSocket to a session, for browsers that cannot send a header.
public struct AttachTicket: Sendable, Codable, Hashable {
    /// Hex SHA-256 of the ticket string handed to the client.
    public var digest: String
    public var sessionID: Session.ID
    public var userID: User.ID
    public var expiresAt: Date

    public init(digest: String, sessionID: Session.ID, userID: User.ID, expiresAt: Date) {
        self.digest = digest
        self.sessionID = sessionID
        self.userID = userID
        self.expiresAt = expiresAt
    }
}
