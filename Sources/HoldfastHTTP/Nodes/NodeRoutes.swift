import Foundation
import HoldfastCore
import Hummingbird
import Logging

/// The service's nodes, for operators: `GET /nodes`, `POST /nodes/{name}/drain` and
/// `DELETE /nodes/{name}/drain` (new sessions again).
struct NodeRoutes {
    let nodes: any NodeRepository
    let sessions: any SessionRepository
    let audit: AuditRecorder

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("nodes", use: self.list)
        group.post("nodes/:name/drain", use: self.drain)
        group.delete("nodes/:name/drain", use: self.resume)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> ListDTO<NodeDTO> {
        try Self.requireOperator(context)
        let nodes = try await self.nodes.list()
        let open = try await self.sessions.listLive()
        let duties = try await self.nodes.dutyHolders()
        return ListDTO(
            items: nodes.map { node in
                NodeDTO(node, sessions: open.filter { $0.node == node.name }, duties: duties.filter { $0.value == node.name }.keys.sorted())
            })
    }

    @Sendable func drain(_ request: Request, context: AppRequestContext) async throws -> NodeDTO {
        try await self.setDraining(true, context: context)
    }

    @Sendable func resume(_ request: Request, context: AppRequestContext) async throws -> NodeDTO {
        try await self.setDraining(false, context: context)
    }

    /// Takes effect on the node itself at its next lease renewal (within a few seconds).
    private func setDraining(_ draining: Bool, context: AppRequestContext) async throws -> NodeDTO {
        let user = try Self.requireOperator(context)
        let name = context.parameters.get("name") ?? ""
        guard let node = try await self.nodes.setDraining(name, draining) else {
            throw APIError(.notFound, code: "not_found", message: "There is no node '\(name)'; GET /api/v1/nodes lists them.")
        }
        context.logger.notice(draining ? "node drained" : "node resumed", metadata: ["node": "\(name)"])
        await self.audit.record(draining ? .nodeDrained : .nodeResumed, by: user, tenant: nil, target: name, context: context)
        let open = try await self.sessions.listLive().filter { $0.node == name }
        let duties = try await self.nodes.dutyHolders().filter { $0.value == name }.keys.sorted()
        return NodeDTO(node, sessions: open, duties: duties)
    }

    @discardableResult
    private static func requireOperator(_ context: AppRequestContext) throws -> User {
        let user = try context.requireUser()
        guard user.role == .operator else {
            throw APIError(.forbidden, code: "forbidden", message: "Only the service's operators see and drain nodes.")
        }
        return user
    }
}

/// A node as the API shows it: `liveSessions` counts its sessions that are not closed (held ones
/// too), `heldSessions` those of them waiting for their user to come back, `duties` the once-only
/// duties it runs now.
struct NodeDTO: ResponseEncodable {
    var name: String
    var url: String
    var state: String
    var liveSessions: Int
    var heldSessions: Int
    var startedAt: Date
    var lastSeenAt: Date
    var leaseExpiresAt: Date
    var duties: [String]

    init(_ node: Node, sessions: [Session], duties: [String]) {
        self.name = node.name
        self.url = node.url
        self.state = node.state.rawValue
        self.liveSessions = sessions.count
        self.heldSessions = sessions.filter { $0.state == .held }.count
        self.startedAt = node.startedAt
        self.lastSeenAt = node.lastSeenAt
        self.leaseExpiresAt = node.leaseExpiresAt
        self.duties = duties
    }
}
