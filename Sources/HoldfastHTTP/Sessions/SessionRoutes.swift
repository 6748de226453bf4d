import Foundation
import HoldfastCore
import Hummingbird

/// `/sessions…`: start, list, inspect, close, timeline, attach tickets.
struct SessionRoutes {
    let sessions: any SessionService
    let users: any UserRepository
    let audit: AuditRecorder
    /// A close or an extension of a session another node runs is forwarded there.
    let nodes: NodeForwarding

    func add(to group: RouterGroup<AppRequestContext>) {
        group.post("sessions", use: self.start)
        group.get("sessions", use: self.list)
        group.get("sessions/:id", use: self.get)
        group.delete("sessions/:id", use: self.close)
        group.get("sessions/:id/events", use: self.events)
        group.post("sessions/:id/tickets", use: self.ticket)
        group.post("sessions/:id/extend", use: self.extend)
        group.get("alerts", use: self.alerts)
    }

    /// Sessions that need an operator: all for operators, the tenant's for tenant admins.
    @Sendable func alerts(_ request: Request, context: AppRequestContext) async throws -> ListDTO<AlertDTO> {
        let user = try context.requireUser()
        guard user.role == .operator || user.role == .tenantAdmin else {
            throw CoreError.forbidden("Only operators and tenant admins see alerts.")
        }
        return ListDTO(items: await self.sessions.alerts(visibleTo: user).map(AlertDTO.init))
    }

    struct ExtendRequest: Decodable {
        var minutes: Int
    }

    @Sendable func extend(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        if let owner = try await self.remoteOwner(of: try Self.id(context), for: user, context: context) {
            let body = try await request.body.collect(upTo: context.maxUploadSize)
            return try await self.nodes.forward(request, body: body, to: owner, for: user)
        }
        let body = try await request.decodeJSON(as: ExtendRequest.self, context: context)
        guard (1...1440).contains(body.minutes) else {
            throw CoreError.invalidInput("invalid_minutes", "Extend by 1 to 1440 minutes (24 hours) at a time.")
        }
        let session = try await self.sessions.extend(try Self.id(context), by: user, seconds: TimeInterval(body.minutes * 60))
        await self.recordIfSomeoneElses(.sessionExtended, session, by: user, detail: "by \(body.minutes) minutes", context: context)
        return try SessionDTO(session).response(from: request, context: context)
    }

    /// An operator or admin acting on another user's session is a privileged action; a user's own is not.
    private func recordIfSomeoneElses(
        _ action: AuditAction, _ session: Session, by user: User, detail: String, context: AppRequestContext
    ) async {
        guard session.userID != user.id else { return }
        let owner = (try? await self.users.find(id: session.userID))?.email ?? "user \(session.userID)"
        await self.audit.record(
            action, by: user, tenant: session.tenantID, target: "session \(session.id) of \(owner)", detail: detail, context: context)
    }

    struct StartRequest: Decodable {
        var kind: String
    }

    /// Starts a session on the node with the fewest live sessions (this one on a tie, and always
    /// for a request another node forwarded); another node's answer is passed on as it came.
    @Sendable func start(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        if context.forwardedBy == nil, let target = try await self.nodes.placement() {
            let body = try await request.body.collect(upTo: context.maxUploadSize)
            return try await self.nodes.forward(request, body: body, to: target, for: user)
        }
        let body = try await request.decodeJSON(as: StartRequest.self, context: context)
        guard let kind = SessionKind(rawValue: body.kind) else {
            throw CoreError.invalidInput("invalid_kind", "'\(body.kind)' is not a session kind; use terminal or desktop.")
        }
        let session = try await self.sessions.start(kind: kind, for: user)
        return try EditedResponse(status: .created, headers: [.location: "/api/v1/sessions/\(session.id)"], response: SessionDTO(session))
            .response(from: request, context: context)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> ListDTO<SessionDTO> {
        let user = try context.requireUser()
        let includeClosed = request.uri.queryParameters.get("includeClosed") == "true"
        return ListDTO(items: try await self.sessions.sessions(of: user, includeClosed: includeClosed).map(SessionDTO.init))
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> SessionDTO {
        SessionDTO(try await self.sessions.session(try Self.id(context), for: try context.requireUser()))
    }

    /// Starts the close and answers at once: `202` with the session `closing` while its processes
    /// end and its final snapshot is taken (poll `GET /sessions/{id}`), `200` if it was closed already.
    @Sendable func close(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let id = try Self.id(context)
        if let owner = try await self.remoteOwner(of: id, for: user, context: context) {
            return try await self.nodes.forward(request, body: nil, to: owner, for: user)
        }
        let session = try await self.sessions.close(id, by: user)
        await self.recordIfSomeoneElses(.sessionClosed, session, by: user, detail: "", context: context)
        return try EditedResponse(status: session.state == .closed ? .ok : .accepted, response: SessionDTO(session))
            .response(from: request, context: context)
    }

    /// The node to forward to when the session runs on another one (never for a request that
    /// another node forwarded here: a session is forwarded once, to its own node).
    private func remoteOwner(of id: Session.ID, for user: User, context: AppRequestContext) async throws -> Node? {
        guard context.forwardedBy == nil else { return nil }
        return try await self.nodes.remoteOwner(of: try await self.sessions.session(id, for: user))
    }

    @Sendable func events(_ request: Request, context: AppRequestContext) async throws -> [SessionEventDTO] {
        try await self.sessions.events(try Self.id(context), for: try context.requireUser()).map(SessionEventDTO.init)
    }

    struct TicketDTO: ResponseEncodable {
        var ticket: String
        var expiresAt: Date
    }

    @Sendable func ticket(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<TicketDTO> {
        let issued = try await self.sessions.issueTicket(try Self.id(context), for: try context.requireUser())
        return EditedResponse(
            status: .created, headers: [.cacheControl: "no-store"], response: TicketDTO(ticket: issued.ticket, expiresAt: issued.expiresAt))
    }

    /// The session id in the path; a malformed one is simply a session that does not exist.
    static func id(_ context: AppRequestContext) throws -> Session.ID {
        try context.identifier(Session.self, noun: "session")
    }
}

/// A session as the API shows it.
struct SessionDTO: ResponseEncodable {
    var id: String
    var kind: String
    var state: String
    var userId: String
    var tenantId: String
    var createdAt: Date
    var startedAt: Date?
    var lostAt: Date?
    var expiresAt: Date?
    var graceSeconds: Int
    var closeReason: String?
    /// The node the session runs on (`null`: started before nodes were recorded).
    var node: String?

    init(_ session: Session) {
        let machine = session.machine
        self.id = session.id.description
        self.kind = session.kind.rawValue
        self.state = machine.state.rawValue
        self.userId = session.userID.description
        self.tenantId = session.tenantID.description
        self.createdAt = machine.createdAt
        self.startedAt = machine.startedAt
        self.lostAt = machine.state == .held ? machine.lostAt : nil
        self.expiresAt = machine.state == .held || machine.state == .starting ? machine.expiresAt : nil
        self.graceSeconds = Int(machine.grace)
        self.closeReason = machine.closeReason?.rawValue
        self.node = session.node
    }

    /// Null fields are written as `null`, so clients can rely on every key being there.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode(self.kind, forKey: .kind)
        try container.encode(self.state, forKey: .state)
        try container.encode(self.userId, forKey: .userId)
        try container.encode(self.tenantId, forKey: .tenantId)
        try container.encode(self.createdAt, forKey: .createdAt)
        try container.encode(self.startedAt, forKey: .startedAt)
        try container.encode(self.lostAt, forKey: .lostAt)
        try container.encode(self.expiresAt, forKey: .expiresAt)
        try container.encode(self.graceSeconds, forKey: .graceSeconds)
        try container.encode(self.closeReason, forKey: .closeReason)
        try container.encode(self.node, forKey: .node)
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, state, userId, tenantId, createdAt, startedAt, lostAt, expiresAt, graceSeconds, closeReason, node
    }
}

struct SessionEventDTO: ResponseEncodable {
    var at: Date
    var type: String
    var detail: String

    init(_ event: SessionEvent) {
        self.at = event.at
        self.type = event.type.rawValue
        self.detail = event.detail
    }
}

struct AlertDTO: ResponseEncodable {
    var sessionId: String
    var tenantId: String
    var userId: String
    var message: String
    var since: Date

    init(_ alert: SessionAlert) {
        self.sessionId = alert.sessionID.description
        self.tenantId = alert.tenantID.description
        self.userId = alert.userID.description
        self.message = alert.message
        self.since = alert.since
    }
}
