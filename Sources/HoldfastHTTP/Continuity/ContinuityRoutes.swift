import Foundation
import HoldfastCore
import Hummingbird

/// `/tenants/{slug}/troubleshooters`, `/tenants/{slug}/plans/…`, `/tenants/{slug}/drills` and
/// `/tenants/{slug}/report`.
///
/// A plan is served as JSON, Markdown or HTML as the `Accept` header asks (`?format=` overrides
/// it, for links and `curl`): the HTML is a complete printable document.
struct ContinuityRoutes {
    let continuity: any ContinuityService
    let tenants: any TenantRepository
    let audit: AuditRecorder

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("tenants/:slug/troubleshooters", use: self.troubleshooters)
        group.put("tenants/:slug/troubleshooters", use: self.setTroubleshooters)
        group.get("tenants/:slug/plans/:kind", use: self.plan)
        group.get("tenants/:slug/plans/:kind/versions", use: self.versions)
        group.get("tenants/:slug/plans/:kind/versions/:version", use: self.plan)
        group.get("tenants/:slug/drills", use: self.drills)
        group.get("tenants/:slug/report", use: self.report)
    }

    static func slug(_ context: AppRequestContext) throws -> String {
        try context.parameters.require("slug")
    }

    @Sendable func troubleshooters(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        return try Self.json(try await self.continuity.troubleshooters(tenantSlug: try Self.slug(context), by: user))
    }

    @Sendable func setTroubleshooters(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let list = try await request.decodeJSON(as: [Troubleshooter].self, context: context)
        let slug = try Self.slug(context)
        let saved = try await self.continuity.setTroubleshooters(list, tenantSlug: slug, by: user)
        await self.audit.record(
            .troubleshootersReplaced, by: user, tenant: try await self.tenants.find(slug: slug)?.id, target: slug,
            detail: list.map { "\($0.name) (\($0.role))" }.joined(separator: ", "), context: context)
        return try Self.json(saved)
    }

    @Sendable func plan(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let kind = try ContinuityPlan.Kind(validating: try context.parameters.require("kind"))
        var version: Int?
        if let text = context.parameters.get("version") {
            guard let number = Int(text), number >= 1 else {
                throw CoreError.invalidInput("invalid_version", "'\(text)' is not a plan version; versions are 1, 2, 3, …")
            }
            version = number
        }
        let (plan, tenantName) = try await self.continuity.plan(tenantSlug: try Self.slug(context), kind: kind, version: version, by: user)
        switch try Self.format(request) {
        case .json: return try Self.json(plan)
        case .markdown: return Self.text(PlanMarkdown.render(plan, tenantName: tenantName), type: "text/markdown; charset=utf-8")
        case .html: return Self.text(PlanHTML.render(plan, tenantName: tenantName), type: "text/html; charset=utf-8")
        }
    }

    @Sendable func versions(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        let kind = try ContinuityPlan.Kind(validating: try context.parameters.require("kind"))
        let plans = try await self.continuity.planVersions(tenantSlug: try Self.slug(context), kind: kind, by: user)
        struct Version: Encodable, Sendable {
            var version: Int
            var generatedAt: Date
            var rpoSeconds: Int
            var rtoSeconds: Int
        }
        return try Self.json(
            ListDTO(
                items: plans.map {
                    Version(version: $0.version, generatedAt: $0.generatedAt, rpoSeconds: $0.rpoSeconds, rtoSeconds: $0.rtoSeconds)
                }))
    }

    @Sendable func drills(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        return try Self.json(ListDTO(items: try await self.continuity.drills(tenantSlug: try Self.slug(context), by: user)))
    }

    @Sendable func report(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try context.requireUser()
        return try Self.json(try await self.continuity.report(tenantSlug: try Self.slug(context), by: user))
    }

    enum Format { case json, markdown, html }

    /// `?format=json|markdown|html`, else the first of those the `Accept` header names, else JSON.
    static func format(_ request: Request) throws -> Format {
        if let wanted = request.uri.queryParameters.get("format") {
            switch wanted {
            case "json": return .json
            case "markdown", "md": return .markdown
            case "html": return .html
            default: throw CoreError.invalidInput("invalid_format", "'\(wanted)' is not a plan format; use json, markdown or html.")
            }
        }
        let accept = request.headers[.accept]?.lowercased() ?? ""
        let offered: [(String, Format)] = [("application/json", .json), ("text/markdown", .markdown), ("text/html", .html)]
        let positions = offered.compactMap { type, format in
            accept.range(of: type).map { (accept.distance(from: accept.startIndex, to: $0.lowerBound), format) }
        }
        return positions.min { $0.0 < $1.0 }?.1 ?? .json
    }

    /// JSON as the rest of the API writes it (the same encoder), so plans read like every other answer.
    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder.api
        return Self.text(String(decoding: try encoder.encode(value), as: UTF8.self), type: "application/json; charset=utf-8")
    }

    static func text(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
