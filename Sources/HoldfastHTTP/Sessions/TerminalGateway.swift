import Foundation
import HoldfastCore
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// `GET /api/v1/sessions/{id}/attach`: the WebSocket between a browser and a terminal, or a
/// desktop's VNC server.
///
/// For a desktop, binary frames carry RFB both ways (the gateway is noVNC's WebSocket peer, in
/// place of websockify), checked on the way in by the host (`ProtocolRefusal` ends the connection
/// with its code). For a terminal, binary frames carry terminal bytes both ways; text frames carry JSON control messages
/// (`{"type":"resize","cols","rows"}` from the client, notices from the server). One
/// connection is one task group with three pumps — client→terminal, terminal→client and the
/// heartbeat — and when the first of them ends, all end and the supervisor learns when the client
/// was last heard from.
struct TerminalGateway {
    let sessions: any SessionService
    let banners: SessionBanners
    let notices: SessionNotices
    let now: @Sendable () -> Date
    let origins: OriginPolicy
    /// Where a session another node runs is attached through.
    let nodes: NodeForwarding

    func add(to group: RouterGroup<AppRequestContext>) {
        group.ws("sessions/:id/attach", shouldUpgrade: self.shouldUpgrade, onUpgrade: self.run)
    }

    /// Upgrades every request from our own pages or from a client that is not a browser: the
    /// browser's WebSocket API cannot read an HTTP error, so a refused client instead gets a JSON
    /// notice and a close code it can act on (see `refuse`). That holds for a session at its
    /// client limit too: the refusal (`client_limit`, 4409) comes after the upgrade, and the
    /// refused client is never counted.
    ///
    /// An upgrade another site's page asked for (its `Origin` is not ours) is refused before it
    /// happens, whatever it carries: a page elsewhere must never hold a terminal open.
    @Sendable func shouldUpgrade(_ request: Request, context: AppRequestContext) async throws -> RouterShouldUpgrade {
        _ = try SessionRoutes.id(context)
        // A node forwarding a viewer (it checked the viewer's origin itself) is no page.
        if context.forwardedBy == nil,
            case .foreign(let origin) = self.origins.check(origin: request.headers[.origin], host: request.head.authority)
        {
            context.logger.notice("cross-origin terminal attach refused", metadata: ["origin": "\(origin)"])
            throw APIError(
                .forbidden, code: "cross_origin",
                message: "A page of \(origin) may not open a terminal here; attach from this service's own pages.")
        }
        return .upgrade([:])
    }

    /// The user behind the attach: a single-use ticket (browsers) or a bearer token in the
    /// `Authorization` header (scripts). The sign-in cookie alone never attaches: a browser
    /// sends it with an upgrade any page asks for.
    private func authorize(_ request: Request, context: AppRequestContext, session id: Session.ID) async throws -> User {
        if let ticket = request.uri.queryParameters.get("ticket") {
            return try await self.sessions.redeemTicket(String(ticket), for: id)
        }
        guard !context.signedInByCookie else {
            throw APIError(
                .unauthorized, code: "ticket_required",
                message: "Attach with a ticket (POST /api/v1/sessions/{id}/tickets) or a bearer token; the sign-in cookie alone "
                    + "does not open a terminal.")
        }
        let user = try context.requireUser()
        _ = try await self.sessions.session(id, for: user)
        return user
    }

    /// Tells a refused client why, then closes with a code in the private range: 4401 sign in
    /// (or get a new ticket), 4403 not yours, 4404 no such session, 4409 closed, expiring or at its
    /// client limit (`client_limit`).
    private func refuse(_ error: any Error, outbound: WebSocketOutboundWriter) async {
        let apiError = APIError(from: error)
        let code: UInt16 =
            switch apiError.status.code {
            case 401: 4401
            case 403: 4403
            case 404: 4404
            case 409: 4409
            default: 4500
            }
        try? await outbound.write(.text(Self.notice(["type": "error", "code": apiError.code, "message": apiError.message])))
        try? await outbound.close(.unknown(code), reason: apiError.code)
    }

    @Sendable func run(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        context: WebSocketRouterContext<AppRequestContext>
    ) async throws {
        let request = context.request
        let requestContext = context.requestContext
        let logger = requestContext.logger
        let id = try SessionRoutes.id(requestContext)
        let user: User
        do {
            user = try await self.authorize(request, context: requestContext, session: id)
        } catch {
            await self.refuse(error, outbound: outbound)
            return
        }
        // A missing or impossible first size falls back to a common one; the browser resizes at once.
        var columns = request.uri.queryParameters.get("cols").flatMap { Int($0) } ?? 120
        var rows = request.uri.queryParameters.get("rows").flatMap { Int($0) } ?? 36
        if !Self.isValidSize(columns: columns, rows: rows) {
            (columns, rows) = (120, 36)
        }

        let traffic = TrafficObserver(now: self.now)
        try await requestContext.channel.pipeline.addHandler(traffic, position: .first).get()
        // A session another node runs is attached there, through this node.
        do {
            if let owner = try await self.nodes.remoteOwner(of: try await self.sessions.session(id, for: user)) {
                logger.debug("attach forwarded", metadata: ["session.id": "\(id)", "node": "\(owner.name)"])
                await self.forward(
                    to: owner, session: id, user: user, columns: columns, rows: rows, inbound: inbound, outbound: outbound,
                    traffic: traffic, logger: logger)
                return
            }
        } catch {
            await self.refuse(error, outbound: outbound)
            return
        }
        let dropped = NIOLockedValueBox(false)
        let channel = requestContext.channel
        let attachment: TerminalAttachment
        do {
            attachment = try await self.sessions.attach(
                id, user: user, columns: columns, rows: rows,
                disconnect: {
                    dropped.withLockedValue { $0 = true }
                    channel.close(promise: nil)
                }
            )
        } catch {
            await self.refuse(error, outbound: outbound)
            return
        }
        let session = attachment.sessionID
        // Notices posted from now on reach this client; older ones were for the clients of then.
        let noticesBefore = self.notices.latest(for: session)
        var connectionLogger = logger
        connectionLogger[metadataKey: "session.id"] = "\(session)"
        connectionLogger[metadataKey: "client.id"] = "\(attachment.clientID)"
        // A desktop's socket is relayed on this connection's own event loop, without copies.
        let socketBacked = attachment.connection as? any SocketBackedConnection
        var relay: DesktopRelay?
        if let socketBacked, let descriptor = socketBacked.takeSocket() {
            do {
                relay = try await DesktopRelay.start(descriptor: descriptor, webSocket: channel)
            } catch {
                connectionLogger.error("relaying a desktop failed", metadata: ["error": "\(error)"])
                await self.refuse(
                    CoreError(.unavailable, code: "attach_failed", message: "The desktop could not be attached; try again."),
                    outbound: outbound)
                await attachment.connection.close()
                await self.sessions.detached(attachment, lastTrafficAt: traffic.lastTrafficAt)
                return
            }
        }
        connectionLogger.debug("terminal client attached")

        await withTaskGroup(of: Void.self) { [relay] group in
            // Terminal → client: screen bytes, a full redraw first (a desktop's relay writes them itself).
            group.addTask {
                if let relay {
                    try? await relay.ended.get()
                } else {
                    for await bytes in attachment.connection.output {
                        do {
                            try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
                        } catch {
                            return
                        }
                    }
                }
                try? await outbound.write(.text(Self.notice(["type": "ended", "message": "The session has ended."])))
                try? await outbound.close(.normalClosure, reason: "session ended")
            }
            // Heartbeat: a ping every heartbeat, and every second the supervisor hears when the
            // client last sent anything (it declares the client lost after two silent heartbeats).
            group.addTask {
                let heartbeat = self.sessions.heartbeat
                var reported = Date.distantPast
                var pinged = Date.distantPast
                var bannersSent = 0  // version 0: no banner was ever set
                var noticesSent = noticesBefore
                while !Task.isCancelled {
                    // Limits the session hit (memory, processes): each notice once, as it comes.
                    let (fresh, latest) = self.notices.notices(for: session, after: noticesSent)
                    for notice in fresh {
                        let text = Self.notice(["type": "notice", "code": notice.code, "message": notice.message])
                        guard (try? await outbound.write(.text(text))) != nil else { return }
                    }
                    noticesSent = latest
                    // Maintenance banners: all of them whenever they change, and at once on attach.
                    let banners = self.banners.current
                    if banners.version != bannersSent {
                        guard (try? await outbound.write(.text(Self.bannerMessage(banners.banners)))) != nil else { return }
                        bannersSent = banners.version
                    }
                    let last = traffic.lastTrafficAt
                    if last > reported {
                        await self.sessions.trafficReceived(attachment, at: last)
                        reported = last
                    }
                    if self.now().timeIntervalSince(pinged) >= heartbeat {
                        let ping = WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(string: "holdfast"))
                        guard (try? await outbound.write(.custom(ping))) != nil else { return }
                        pinged = self.now()
                    }
                    try? await Task.sleep(for: .seconds(min(1, heartbeat / 2)))
                }
            }
            // Client → terminal, in this task (the inbound stream is not Sendable); when the
            // client goes, the other pumps are cancelled.
            do {
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    switch message {
                    case .binary(let buffer):
                        if let relay, let socketBacked {
                            try socketBacked.admit(Array(buffer.readableBytesView))
                            try await relay.write(buffer)
                        } else {
                            try await attachment.connection.write(Array(buffer.readableBytesView))
                        }
                    case .text(let text):
                        try await self.control(text, attachment: attachment, outbound: outbound)
                    }
                }
            } catch let refusal as ProtocolRefusal {
                // A desktop viewer sent what its session refuses (not RFB, an absurd desktop size, a
                // huge clipboard): it hears why, and the desktop never saw the offending bytes.
                connectionLogger.info("viewer refused", metadata: ["code": "\(refusal.code)", "reason": "\(refusal.message)"])
                let text = Self.notice(["type": "error", "code": refusal.code, "message": refusal.message])
                try? await outbound.write(.text(text))
                try? await outbound.close(.policyViolation, reason: refusal.code)
            } catch {
                connectionLogger.debug("client stream ended", metadata: ["error": "\(error)"])
            }
            group.cancelAll()
            // The relay's pump waits for the socket's end, not for cancellation.
            await relay?.close()
        }
        await attachment.connection.close()
        await self.sessions.detached(attachment, lastTrafficAt: traffic.lastTrafficAt)
        connectionLogger.debug("terminal client detached", metadata: ["dropped": "\(dropped.withLockedValue { $0 })"])
    }

    /// Applies a JSON control message; unknown ones are ignored so newer clients work with older servers.
    /// An impossible size is refused with a notice and changes nothing: the session keeps its screen.
    private func control(_ text: String, attachment: TerminalAttachment, outbound: WebSocketOutboundWriter) async throws {
        struct Control: Decodable {
            var type: String
            var cols: Int?
            var rows: Int?
        }
        guard let message = try? JSONDecoder().decode(Control.self, from: Data(text.utf8)) else {
            try await outbound.write(
                .text(
                    Self.notice(["type": "error", "code": "invalid_control", "message": "Control messages are JSON objects with a type."])))
            return
        }
        guard message.type == "resize" else { return }
        guard let cols = message.cols, let rows = message.rows, Self.isValidSize(columns: cols, rows: rows) else {
            let text = "A resize needs cols 2–1000 and rows 2–500; the terminal keeps its size."
            try await outbound.write(.text(Self.notice(["type": "error", "code": "invalid_size", "message": text])))
            return
        }
        try await attachment.connection.resize(columns: cols, rows: rows)
    }

    static func isValidSize(columns: Int, rows: Int) -> Bool {
        (2...1000).contains(columns) && (2...500).contains(rows)
    }

    static func notice(_ fields: [String: String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// `{"type":"banners","banners":[{"id","text","startsAt","endsAt"}]}`: every maintenance notice
    /// the session should show now (an empty list clears them); the page counts down to `startsAt`.
    static func bannerMessage(_ banners: [SessionBanner]) -> String {
        struct Message: Encodable {
            var type = "banners"
            var banners: [SessionBanner]
        }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        let data = (try? encoder.encode(Message(banners: banners))) ?? Data(#"{"type":"banners","banners":[]}"#.utf8)
        return String(decoding: data, as: UTF8.self)
    }

}

/// Notes the time of every byte that arrives from the client, below the WebSocket layer,
/// so pongs count as traffic too (the WebSocket library consumes them without telling us).
final class TrafficObserver: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let last: NIOLockedValueBox<Date>
    private let now: @Sendable () -> Date

    init(now: @escaping @Sendable () -> Date) {
        self.now = now
        self.last = NIOLockedValueBox(now())
    }

    var lastTrafficAt: Date { self.last.withLockedValue { $0 } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let time = self.now()
        self.last.withLockedValue { $0 = time }
        context.fireChannelRead(data)
    }
}
