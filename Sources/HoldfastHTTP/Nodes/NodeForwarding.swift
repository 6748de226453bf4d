import Foundation
import FoundationNetworking
import HTTPTypes
import HoldfastCore
import Hummingbird
import HummingbirdWSClient
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket

/// What a node does with a request for a session another node runs: it finds that node, and
/// forwards the request as itself, vouching for the user it authenticated (`NodeCredential`), so
/// one load balancer address serves every session.
struct NodeForwarding: Sendable {
    /// This node's name; `nil` on a server that is not one of many.
    let node: String?
    let credential: NodeCredential?
    let nodes: any NodeRepository
    let now: @Sendable () -> Date
    /// Every live session of the service (the load of each node).
    var liveSessions: (@Sendable () async throws -> [Session])?

    /// The node running `session` when it is another one, `nil` when it is this one.
    /// - Throws: `node_unavailable` when that node is down (the session is held for its grace),
    ///   `node_unreachable` when this node has no cluster secret to vouch with.
    func remoteOwner(of session: Session) async throws -> Node? {
        guard let owner = session.node, let node = self.node, owner != node else { return nil }
        guard let found = try await self.nodes.list().first(where: { $0.name == owner }), found.state != .down else {
            throw CoreError(
                .unavailable, code: "node_unavailable",
                message: "The session runs on node \(owner), which is not answering; it is held for its grace and comes back if "
                    + "that node does.")
        }
        guard self.credential != nil else {
            throw CoreError(
                .unavailable, code: "node_unreachable",
                message: "The session runs on node \(owner) (\(found.url)); this node has no --cluster-secret-file to reach it.")
        }
        return found
    }

    /// Where a new session should start when that is another node: of the nodes that are up and
    /// not draining, the one running the fewest live sessions (this one on a tie). `nil`: here —
    /// also when this node cannot vouch to others (no cluster secret) or is the only one up.
    func placement() async throws -> Node? {
        guard let node = self.node, self.credential != nil, let sessions = self.liveSessions else { return nil }
        let candidates = try await self.nodes.list().filter { $0.state == .up }
        guard candidates.contains(where: { $0.name != node }) else { return nil }
        var load: [String: Int] = [:]
        for session in try await sessions() { if let owner = session.node { load[owner, default: 0] += 1 } }
        let best = candidates.min { first, second in
            (load[first.name] ?? 0, first.name == node ? 0 : 1, first.name) < (
                load[second.name] ?? 0, second.name == node ? 0 : 1, second.name
            )
        }
        return best?.name == node ? nil : best
    }

    /// The header that vouches for `user` on `method path` at the other node.
    func vouch(method: String, path: String, for user: User) -> HTTPFields {
        guard let credential = self.credential, let node = self.node else { return [:] }
        var fields = HTTPFields()
        fields[HTTPField.Name(NodeCredential.header)!] = credential.sign(
            method: method, path: path, node: node, user: user.id, at: self.now())
        return fields
    }
}

extension NodeForwarding {
    /// Sends `request` (with `body`) to `owner` as this node, for `user`, and answers with what the
    /// owner answered; an owner that cannot be reached is `503 node_unreachable`.
    func forward(_ request: Request, body: ByteBuffer?, to owner: Node, for user: User) async throws -> Response {
        let path = request.uri.path
        guard var url = URL(string: owner.url + path) else {
            throw CoreError(.unavailable, code: "node_unreachable", message: "Node \(owner.name) has no usable URL (\(owner.url)).")
        }
        if let query = request.uri.query, !query.isEmpty, let withQuery = URL(string: url.absoluteString + "?" + query) { url = withQuery }
        var forwarded = URLRequest(url: url, timeoutInterval: 30)
        forwarded.httpMethod = request.method.rawValue
        for field in self.vouch(method: request.method.rawValue, path: path, for: user) {
            forwarded.setValue(field.value, forHTTPHeaderField: field.name.rawName)
        }
        if let type = request.headers[.contentType] { forwarded.setValue(type, forHTTPHeaderField: "Content-Type") }
        if let body { forwarded.httpBody = Data(body.readableBytesView) }
        let data: Data
        let answer: URLResponse
        do {
            (data, answer) = try await URLSession.shared.data(for: forwarded)
        } catch {
            throw CoreError(
                .unavailable, code: "node_unreachable",
                message: "The session runs on node \(owner.name), which could not be reached; try again in a moment.")
        }
        let status = (answer as? HTTPURLResponse)?.statusCode ?? 502
        var headers = HTTPFields()
        headers[.contentType] = (answer as? HTTPURLResponse)?.value(forHTTPHeaderField: "Content-Type") ?? "application/json"
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension TerminalGateway {
    /// Relays a viewer's WebSocket to the session's own node, frame for frame both ways: what the
    /// owner sends (the screen, notices, its close code) reaches the viewer, and what the viewer
    /// sends reaches the owner, each write awaited (no buffering here beyond a frame). This node
    /// watches the viewer's link itself (pings every heartbeat; two silent heartbeats end it), as
    /// the owner only sees this node's link.
    func forward(
        to owner: Node, session id: Session.ID, user: User, columns: Int, rows: Int, inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter, traffic: TrafficObserver, logger: Logger
    ) async {
        let path = "/api/v1/sessions/\(id)/attach"
        var base = owner.url
        if base.hasPrefix("https://") { base = "wss://" + base.dropFirst("https://".count) }
        if base.hasPrefix("http://") { base = "ws://" + base.dropFirst("http://".count) }
        let url = "\(base)\(path)?cols=\(columns)&rows=\(rows)"
        let configuration = WebSocketClientConfiguration(
            maxFrameSize: 1 << 20, additionalHeaders: self.nodes.vouch(method: "GET", path: path, for: user), autoPing: .disabled)
        let (writers, handOver) = AsyncStream.makeStream(of: WebSocketOutboundWriter.self)
        await withTaskGroup(of: Void.self) { group in
            // The owner's side: its frames go to the viewer; when it closes, the viewer hears the same.
            group.addTask {
                var closing: WebSocketCloseFrame?
                do {
                    closing = try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) {
                        ownerInbound, ownerOutbound, _ in
                        handOver.yield(ownerOutbound)
                        handOver.finish()
                        for try await message in ownerInbound.messages(maxSize: 1 << 20) {
                            switch message {
                            case .binary(let buffer): try await outbound.write(.binary(buffer))
                            case .text(let text): try await outbound.write(.text(text))
                            }
                        }
                    }
                } catch {
                    logger.warning("could not reach the session's node", metadata: ["node": "\(owner.name)", "error": "\(error)"])
                    try? await outbound.write(
                        .text(
                            Self.notice([
                                "type": "error", "code": "node_unreachable",
                                "message": "The session's node \(owner.name) could not be reached; reconnect in a moment.",
                            ])))
                }
                handOver.finish()
                let code = closing?.closeCode ?? .unexpectedServerError
                try? await outbound.close(code, reason: closing?.reason)
            }
            // This node's watch on the viewer's link.
            group.addTask {
                let heartbeat = self.sessions.heartbeat
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(heartbeat))
                    guard !Task.isCancelled else { return }
                    if self.now().timeIntervalSince(traffic.lastTrafficAt) >= 2 * heartbeat {
                        logger.debug("forwarded viewer went silent")
                        try? await outbound.close(.goingAway, reason: "silent")
                        return
                    }
                    let ping = WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(string: "holdfast"))
                    guard (try? await outbound.write(.custom(ping))) != nil else { return }
                }
            }
            // The viewer's side, in this task (the inbound stream is not Sendable).
            var iterator = writers.makeAsyncIterator()
            if let ownerOutbound = await iterator.next() {
                do {
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        switch message {
                        case .binary(let buffer): try await ownerOutbound.write(.binary(buffer))
                        case .text(let text): try await ownerOutbound.write(.text(text))
                        }
                    }
                } catch {
                    logger.debug("forwarded viewer stream ended", metadata: ["error": "\(error)"])
                }
                try? await ownerOutbound.close(.normalClosure, reason: nil)
            }
            group.cancelAll()
        }
    }
}
