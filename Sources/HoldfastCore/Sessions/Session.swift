import Foundation

/// A user's terminal or desktop session as the store keeps it.
///
/// The lifecycle rules live in `SessionStateMachine`; this record carries who owns the
/// session and the machine's persisted state, so a restarted server can rebuild it.
public struct Session: Sendable, Codable, Hashable {
    public typealias ID = Identifier<Session>

    public var id: ID
    public var tenantID: Tenant.ID
    public var userID: User.ID
    public var kind: SessionKind
    /// The persisted part of the state machine: state, deadlines, last traffic, close reason.
    public var machine: SessionStateMachine.PersistedState
    /// How many times the record was saved since it was created: a save must carry the stored
    /// revision plus one (compare and set), so of two writers from one revision only one wins.
    public var revision: Int
    /// The node (server) the session runs on; `nil` for a session started before nodes existed,
    /// which ran on the only server there was.
    public var node: String?

    public init(
        id: ID = ID(), tenantID: Tenant.ID, userID: User.ID, kind: SessionKind, machine: SessionStateMachine.PersistedState,
        revision: Int = 0, node: String? = nil
    ) {
        self.id = id
        self.tenantID = tenantID
        self.userID = userID
        self.kind = kind
        self.machine = machine
        self.revision = revision
        self.node = node
    }

    public var state: SessionState { self.machine.state }
}
