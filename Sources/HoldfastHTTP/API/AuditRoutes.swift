import Foundation
import HoldfastCore
import Hummingbird

/// `GET /audit`: the privileged actions, newest first, for operators (all, or one tenant's) and a
/// tenant's admins (their tenant's). `Accept: application/x-ndjson` (or `?format=ndjson`) gives
/// JSON lines, one event a line, for export.
struct AuditRoutes {
    let repositories: Repositories
    let now: @Sendable () -> Date

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("audit", use: self.list)
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let query = try await self.query(request, for: user)
        let events = try await self.repositories.audit.list(query)
        let slugs = try await self.slugs(of: events)
        let items = events.map { AuditEventDTO($0, tenant: $0.tenantID.flatMap { slugs[$0] }) }
        let wantsLines =
            request.uri.queryParameters.get("format") == "ndjson"
            || (request.headers[.accept]?.contains("application/x-ndjson") ?? false)
        let encoder = JSONEncoder.api
        var body = Data()
        if wantsLines {
            for item in items {
                body += try encoder.encode(item)
                body.append(UInt8(ascii: "\n"))
            }
        } else {
            body = try encoder.encode(ListDTO(items: items))
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: wantsLines ? "application/x-ndjson; charset=utf-8" : "application/json; charset=utf-8",
                .cacheControl: "no-store",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The query the caller may make: operators any tenant or all, a tenant's admins their own.
    func query(_ request: Request, for user: User) async throws -> AuditQuery {
        guard user.role == .operator || user.role == .tenantAdmin else {
            throw CoreError.forbidden("Only operators and tenant admins read the audit log.")
        }
        let parameters = request.uri.queryParameters
        var query = AuditQuery()
        if let slug = parameters.get("tenant").map { String($0) }, !slug.isEmpty {
            guard let tenant = try await self.repositories.tenants.find(slug: slug) else {
                throw CoreError.notFound("There is no tenant '\(slug.prefix(80))'.")
            }
            try AccessPolicy.requireVisibility(of: tenant, to: user)
            query.tenantID = tenant.id
        } else if user.role != .operator {
            query.tenantID = user.tenantID
        }
        query.since = try Self.instant(parameters.get("since").map { String($0) }, name: "since")
        query.until = try Self.instant(parameters.get("until").map { String($0) }, name: "until")
        if let text = parameters.get("limit") {
            guard let limit = Int(text) else { throw CoreError.invalidInput("invalid_range", "'limit' must be a number from 1 to 1000.") }
            query.limit = limit
        }
        if let text = parameters.get("offset") {
            guard let offset = Int(text) else { throw CoreError.invalidInput("invalid_range", "'offset' must be a number.") }
            query.offset = offset
        }
        return try query.validated(at: self.now())
    }

    private static func instant(_ text: String?, name: String) throws -> Date? {
        guard let text else { return nil }
        guard let date = Date(apiText: text) else {
            throw CoreError.invalidInput(
                "invalid_range", "'\(name)' must be an ISO 8601 instant with a zone, like 2026-12-01T00:00:00Z.")
        }
        return date
    }

    /// The slugs of the tenants `events` concern.
    func slugs(of events: [AuditEvent]) async throws -> [Tenant.ID: String] {
        var slugs: [Tenant.ID: String] = [:]
        for id in Set(events.compactMap(\.tenantID)) {
            slugs[id] = try await self.repositories.tenants.find(id: id)?.slug
        }
        return slugs
    }
}

struct AuditEventDTO: Encodable, Sendable {
    var at: Date
    var actor: String
    var action: String
    var target: String
    var detail: String
    var from: String
    /// The tenant's slug; `null` for the service as a whole.
    var tenant: String?

    init(_ event: AuditEvent, tenant: String?) {
        self.at = event.at
        self.actor = event.actor
        self.action = event.action.rawValue
        self.target = event.target
        self.detail = event.detail
        self.from = event.from
        self.tenant = tenant
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.at, forKey: .at)
        try container.encode(self.actor, forKey: .actor)
        try container.encode(self.action, forKey: .action)
        try container.encode(self.target, forKey: .target)
        try container.encode(self.detail, forKey: .detail)
        try container.encode(self.from, forKey: .from)
        try container.encode(self.tenant, forKey: .tenant)  // null, not absent
    }

    enum CodingKeys: String, CodingKey {
        case at, actor, action, target, detail, from, tenant
    }
}
