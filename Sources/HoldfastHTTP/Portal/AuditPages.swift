import Foundation
import HoldfastCore
import Hummingbird

/// `/audit`: the audit log as a page, for operators (every tenant, or one) and a tenant's admins
/// (their own), with the JSON-lines export of the same query.
struct AuditPages {
    let pages: PageRenderer
    let routes: AuditRoutes
    let repositories: Repositories

    func add(to router: Router<AppRequestContext>) {
        router.get("audit", use: self.page)
    }

    @Sendable func page(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = context.user else { return PageRenderer.signInFirst(request) }
        let chrome = try await self.pages.chrome(title: "Audit log", user: user)
        guard user.role == .operator || user.role == .tenantAdmin else {
            return try self.pages.notForYourRole(chrome, "Only operators and tenant admins read the audit log.")
        }
        let query = try await self.routes.query(request, for: user)
        let events = try await self.repositories.audit.list(query)
        let slugs = try await self.routes.slugs(of: events)
        var tenant: String?
        if let id = query.tenantID {
            tenant = try await self.repositories.tenants.find(id: id)?.slug
        }
        var export = URLComponents(string: "/api/v1/audit")!
        export.queryItems =
            [URLQueryItem(name: "format", value: "ndjson")] + (tenant.map { [URLQueryItem(name: "tenant", value: $0)] } ?? [])
        return try self.pages.render(
            "audit",
            AuditPage(
                page: chrome,
                rows: events.map { event in
                    AuditPage.Row(
                        at: event.at.formatted(.iso8601), actor: event.actor, action: event.action.rawValue, target: event.target,
                        detail: event.detail, from: event.from, tenant: event.tenantID.flatMap { slugs[$0] } ?? "service")
                },
                hasRows: !events.isEmpty, scope: tenant ?? "every tenant and the service", isOperator: user.role == .operator,
                tenant: tenant ?? "", exportURL: export.string ?? "/api/v1/audit?format=ndjson"))
    }
}

struct AuditPage {
    struct Row {
        var at: String
        var actor: String
        var action: String
        var target: String
        var detail: String
        var from: String
        var tenant: String
    }

    var page: PageChrome
    var rows: [Row]
    var hasRows: Bool
    var scope: String
    var isOperator: Bool
    var tenant: String
    var exportURL: String
}
