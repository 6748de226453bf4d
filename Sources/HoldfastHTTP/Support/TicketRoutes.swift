import Foundation
import HoldfastCore
import Hummingbird

/// `/tickets…`: file, list, read and answer support tickets.
struct TicketRoutes {
    let support: any SupportService
    let listed = TicketJSONMemo()

    func add(to group: RouterGroup<AppRequestContext>) {
        group.post("tickets", use: self.file)
        group.get("tickets", use: self.list)
        group.get("tickets/:id", use: self.get)
        group.post("tickets/:id/replies", use: self.reply)
    }

    struct FileRequest: Decodable {
        var kind: String
        var subject: String
        var description: String
        var occurredAt: Date
        var whatHappened: String
        var sessionId: String?
        var priority: String?
        /// `web`, `api` or `phone`; default `web` when signed in with the portal's cookie, else `api`.
        var channel: String?
        /// For a phone ticket filed by an agent: the e-mail of the user who called.
        var requester: String?
        /// For a phone ticket: when the call came in.
        var receivedAt: Date?
    }

    @Sendable func file(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<TicketDTO> {
        let user = try context.requireUser()
        let body = try await request.decodeJSON(as: FileRequest.self, context: context)
        let channel = try body.channel.map(TicketChannel.init(validating:)) ?? (request.headers[.authorization] == nil ? .web : .api)
        guard channel != .email else {
            throw CoreError.invalidInput("invalid_channel", "Tickets by e-mail arrive through `holdfast mail-gate`; use web, api or phone.")
        }
        let sessionID = try body.sessionId.map { text in
            guard let id = Session.ID(text) else {
                throw CoreError.invalidInput("invalid_session", "'\(text.prefix(80))' is not a session id.")
            }
            return id
        }
        let new = NewTicket(
            kind: body.kind, channel: channel, priority: body.priority, subject: body.subject, description: body.description,
            occurredAt: body.occurredAt, whatHappened: body.whatHappened, sessionID: sessionID, receivedAt: body.receivedAt)
        let view = try await self.support.file(new, requesterEmail: body.requester, by: user)
        return EditedResponse(status: .created, headers: [.location: "/api/v1/tickets/\(view.ticket.id)"], response: TicketDTO(view))
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let (limit, offset) = try request.page()
        return self.listed.response(for: try await self.support.tickets(for: user, limit: limit, offset: offset))
    }

    @Sendable func get(_ request: Request, context: AppRequestContext) async throws -> TicketDTO {
        TicketDTO(try await self.support.ticket(try Self.id(context), for: try context.requireUser()))
    }

    struct ReplyRequest: Decodable {
        var body: String
        /// `public` (default) or `internal` (a note only the team sees).
        var visibility: String?
        var status: String?
    }

    @Sendable func reply(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<TicketDTO> {
        let user = try context.requireUser()
        let body = try await request.decodeJSON(as: ReplyRequest.self, context: context)
        let visibility = try body.visibility.map(ReplyVisibility.init(validating:)) ?? .public
        let status = try body.status.map(TicketStatus.init(validating:))
        let channel: TicketChannel = request.headers[.authorization] == nil ? .web : .api
        let view = try await self.support.reply(
            to: try Self.id(context), body: body.body, visibility: visibility, status: status, channel: channel, by: user)
        return EditedResponse(status: .created, response: TicketDTO(view))
    }

    static func id(_ context: AppRequestContext) throws -> Ticket.ID {
        try context.identifier(Ticket.self, noun: "ticket")
    }
}

/// A ticket as the API shows it, written with ``JSONWriter`` (ticket lists are the API's hottest
/// responses). Every key is always there, null when empty, except `replies` and
/// `sessionTimeline`, which only a single ticket carries.
struct TicketDTO: ResponseGenerator {
    struct Reply: Sendable {
        var id: String
        var authorId: String
        var side: String
        var visibility: String
        var body: String
        var channel: String
        var createdAt: Date
    }

    struct Event: Sendable {
        var at: Date
        var type: String
        var detail: String
    }

    var id: String
    var number: Int
    var kind: String
    var channel: String
    var status: String
    var priority: String
    var subject: String
    var description: String
    var occurredAt: Date
    var whatHappened: String
    var sessionId: String?
    var requesterId: String
    var tenantId: String
    var createdAt: Date
    var firstResponseDueAt: Date?
    var firstRespondedAt: Date?
    var firstResponseBusinessMinutes: Int?
    var unverified: Bool
    var replies: [Reply]?
    var sessionTimeline: [Event]?

    init(_ ticket: Ticket) {
        self.id = ticket.id.description
        self.number = ticket.number
        self.kind = ticket.kind.rawValue
        self.channel = ticket.channel.rawValue
        self.status = ticket.status.rawValue
        self.priority = ticket.priority.rawValue
        self.subject = ticket.subject
        self.description = ticket.description
        self.occurredAt = ticket.occurredAt
        self.whatHappened = ticket.whatHappened
        self.sessionId = ticket.sessionID?.description
        self.requesterId = ticket.requesterID.description
        self.tenantId = ticket.tenantID.description
        self.createdAt = ticket.createdAt
        self.firstResponseDueAt = ticket.firstResponseDueAt
        self.firstRespondedAt = ticket.firstRespondedAt
        self.firstResponseBusinessMinutes = ticket.firstResponseBusinessMinutes
        self.unverified = ticket.unverified
    }

    func write(to writer: inout JSONWriter) {
        writer.object { writer in
            writer.field("id", self.id)
            writer.field("number", self.number)
            writer.field("kind", self.kind)
            writer.field("channel", self.channel)
            writer.field("status", self.status)
            writer.field("priority", self.priority)
            writer.field("subject", self.subject)
            writer.field("description", self.description)
            writer.field("occurredAt", self.occurredAt)
            writer.field("whatHappened", self.whatHappened)
            writer.field("sessionId", self.sessionId)
            writer.field("requesterId", self.requesterId)
            writer.field("tenantId", self.tenantId)
            writer.field("createdAt", self.createdAt)
            writer.field("firstResponseDueAt", self.firstResponseDueAt)
            writer.field("firstRespondedAt", self.firstRespondedAt)
            writer.field("firstResponseBusinessMinutes", self.firstResponseBusinessMinutes)
            writer.field("unverified", self.unverified)
            if let replies = self.replies {
                writer.key("replies")
                writer.array { writer in
                    for reply in replies {
                        writer.object { writer in
                            writer.field("id", reply.id)
                            writer.field("authorId", reply.authorId)
                            writer.field("side", reply.side)
                            writer.field("visibility", reply.visibility)
                            writer.field("body", reply.body)
                            writer.field("channel", reply.channel)
                            writer.field("createdAt", reply.createdAt)
                        }
                    }
                }
            }
            if let timeline = self.sessionTimeline {
                writer.key("sessionTimeline")
                writer.array { writer in
                    for event in timeline {
                        writer.object { writer in
                            writer.field("at", event.at)
                            writer.field("type", event.type)
                            writer.field("detail", event.detail)
                        }
                    }
                }
            }
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var writer = JSONWriter()
        self.write(to: &writer)
        return writer.response()
    }

    init(_ view: TicketView) {
        self.init(view.ticket)
        self.replies = view.replies.map {
            Reply(
                id: $0.id.description, authorId: $0.authorID.description, side: $0.side.rawValue, visibility: $0.visibility.rawValue,
                body: $0.body, channel: $0.channel.rawValue, createdAt: $0.createdAt)
        }
        self.sessionTimeline = view.sessionTimeline?.map { Event(at: $0.at, type: $0.type.rawValue, detail: $0.detail) }
    }
}

/// Ticket lists as JSON, each listed ticket's object kept by id and revision (``RenderedMemo``).
final class TicketJSONMemo: Sendable {
    private let written: RenderedMemo<RecordVersion, [UInt8]>

    init(capacity: Int = 20_000) {
        self.written = RenderedMemo(capacity: capacity)
    }

    func response(for tickets: [Ticket]) -> Response {
        self.list(tickets).response()
    }

    /// `{"items":[…]}` for `tickets`, in their order.
    func list(_ tickets: [Ticket]) -> JSONWriter {
        let objects = self.written.values(
            tickets, key: { RecordVersion(id: $0.id.rawValue, revision: $0.revision) },
            render: { ticket in
                var one = JSONWriter(capacity: 1_024)
                TicketDTO(ticket).write(to: &one)
                return one.bytes
            })
        var writer = JSONWriter(capacity: 256 + objects.reduce(0) { $0 + $1.count + 1 })
        writer.object { writer in
            writer.key("items")
            writer.array { writer in
                for object in objects { writer.raw(object) }
            }
        }
        return writer
    }
}
