import Foundation
import HoldfastCore
import Hummingbird

/// `/status`, `/incidents` and `/maintenance`: the public status, incidents posted by the team,
/// and planned maintenance scheduled by operators.
struct StatusRoutes {
    let status: any StatusService
    let audit: AuditRecorder

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("status", use: self.current)
        group.post("incidents", use: self.openIncident)
        group.post("incidents/:id/updates", use: self.postUpdate)
        group.get("maintenance", use: self.windows)
        group.post("maintenance", use: self.schedule)
        group.get("maintenance/recommendation", use: self.recommendation)
        group.patch("maintenance/:id", use: self.reschedule)
        group.post("maintenance/:id/cancel", use: self.cancel)
    }

    /// Public: the status page's data, for monitors and scripts.
    @Sendable func current(_ request: Request, context: AppRequestContext) async throws -> StatusDTO {
        StatusDTO(try await self.status.status())
    }

    struct IncidentRequest: Decodable {
        var title: String
        var components: [String]
        var impact: String
        var body: String
    }

    @Sendable func openIncident(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<IncidentDTO> {
        let user = try context.requireUser()
        let body = try await request.decodeJSON(as: IncidentRequest.self, context: context)
        let incident = try await self.status.openIncident(
            title: body.title, components: try StatusComponent.validatedSet(body.components),
            impact: try IncidentImpact(validating: body.impact), body: body.body, by: user)
        await self.audit.record(
            .incidentOpened, by: user, tenant: nil, target: "incident \(incident.id) \"\(incident.title)\"",
            detail: "impact: \(body.impact); components: \(body.components.sorted().joined(separator: ", "))", context: context)
        return EditedResponse(status: .created, response: IncidentDTO(incident))
    }

    struct UpdateRequest: Decodable {
        var status: String
        var body: String
        var impact: String?
    }

    @Sendable func postUpdate(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<IncidentDTO> {
        let user = try context.requireUser()
        let body = try await request.decodeJSON(as: UpdateRequest.self, context: context)
        let incident = try await self.status.postUpdate(
            to: try context.identifier(Incident.self, noun: "incident"), status: try IncidentStatus(validating: body.status),
            body: body.body, impact: try body.impact.map(IncidentImpact.init(validating:)), by: user)
        await self.audit.record(
            .incidentUpdated, by: user, tenant: nil, target: "incident \(incident.id) \"\(incident.title)\"",
            detail: "status: \(body.status)" + (body.impact.map { "; impact: \($0)" } ?? ""), context: context)
        return EditedResponse(status: .created, response: IncidentDTO(incident))
    }

    /// Public, like the page: what is planned.
    @Sendable func windows(_ request: Request, context: AppRequestContext) async throws -> ListDTO<WindowDTO> {
        ListDTO(items: try await self.status.maintenanceWindows().map(WindowDTO.init))
    }

    struct WindowRequest: Decodable {
        var title: String
        var details: String?
        var startsAt: Date
        var endsAt: Date
        var components: [String]
    }

    @Sendable func schedule(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<WindowDTO> {
        let user = try context.requireUser()
        let body = try await request.decodeJSON(as: WindowRequest.self, context: context)
        let window = try await self.status.schedule(
            title: body.title, details: body.details, startsAt: body.startsAt, endsAt: body.endsAt,
            components: try StatusComponent.validatedSet(body.components), by: user)
        await self.audit.record(
            .maintenanceScheduled, by: user, tenant: nil, target: Self.describe(window),
            detail: "\(window.startsAt.formatted(.iso8601)) to \(window.endsAt.formatted(.iso8601))", context: context)
        return EditedResponse(status: .created, response: WindowDTO(window))
    }

    struct RescheduleRequest: Decodable {
        var startsAt: Date
        var endsAt: Date
    }

    @Sendable func reschedule(_ request: Request, context: AppRequestContext) async throws -> WindowDTO {
        let user = try context.requireUser()
        let body = try await request.decodeJSON(as: RescheduleRequest.self, context: context)
        let window = try await self.status.reschedule(
            try context.identifier(MaintenanceWindow.self, noun: "maintenance window"), startsAt: body.startsAt,
            endsAt: body.endsAt, by: user)
        await self.audit.record(
            .maintenanceRescheduled, by: user, tenant: nil, target: Self.describe(window),
            detail: "now \(window.startsAt.formatted(.iso8601)) to \(window.endsAt.formatted(.iso8601))", context: context)
        return WindowDTO(window)
    }

    private static func describe(_ window: MaintenanceWindow) -> String {
        "maintenance \(window.id) \"\(window.title)\""
    }

    @Sendable func cancel(_ request: Request, context: AppRequestContext) async throws -> WindowDTO {
        let user = try context.requireUser()
        let window = try await self.status.cancel(try context.identifier(MaintenanceWindow.self, noun: "maintenance window"), by: user)
        await self.audit.record(.maintenanceCancelled, by: user, tenant: nil, target: Self.describe(window), context: context)
        return WindowDTO(window)
    }

    @Sendable func recommendation(_ request: Request, context: AppRequestContext) async throws -> RecommendationDTO {
        let user = try context.requireUser()
        guard let text = request.uri.queryParameters.get("duration") else {
            throw CoreError.invalidInput("invalid_duration", "Say how long the window is, e.g. ?duration=2h.")
        }
        let seconds: Int = try DurationText.seconds(String(text))
        let plan = try await self.status.recommendation(
            duration: TimeInterval(seconds), tenantSlug: request.uri.queryParameters.get("tenant").map { String($0) }, by: user)
        return RecommendationDTO(plan)
    }
}

struct IncidentDTO: ResponseEncodable {
    struct Update: Encodable, Sendable {
        var at: Date
        var status: String
        var body: String
    }

    var id: String
    var title: String
    var components: [String]
    var impact: String
    var status: String
    var createdAt: Date
    var resolvedAt: Date?
    var updates: [Update]

    init(_ incident: Incident) {
        self.id = incident.id.description
        self.title = incident.title
        self.components = StatusComponent.sorted(incident.components).map(\.rawValue)
        self.impact = incident.impact.rawValue
        self.status = incident.status.rawValue
        self.createdAt = incident.createdAt
        self.resolvedAt = incident.resolvedAt
        self.updates = incident.updates.map { Update(at: $0.at, status: $0.status.rawValue, body: $0.body) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode(self.title, forKey: .title)
        try container.encode(self.components, forKey: .components)
        try container.encode(self.impact, forKey: .impact)
        try container.encode(self.status, forKey: .status)
        try container.encode(self.createdAt, forKey: .createdAt)
        try container.encode(self.resolvedAt, forKey: .resolvedAt)
        try container.encode(self.updates, forKey: .updates)
    }

    enum CodingKeys: String, CodingKey { case id, title, components, impact, status, createdAt, resolvedAt, updates }
}

struct WindowDTO: ResponseEncodable {
    var id: String
    var title: String
    var details: String?
    var startsAt: Date
    var endsAt: Date
    var components: [String]
    var state: String
    var sequence: Int
    var createdAt: Date
    var updatedAt: Date

    init(_ window: MaintenanceWindow) {
        self.id = window.id.description
        self.title = window.title
        self.details = window.details
        self.startsAt = window.startsAt
        self.endsAt = window.endsAt
        self.components = StatusComponent.sorted(window.components).map(\.rawValue)
        self.state = window.state.rawValue
        self.sequence = window.sequence
        self.createdAt = window.createdAt
        self.updatedAt = window.updatedAt
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode(self.title, forKey: .title)
        try container.encode(self.details, forKey: .details)
        try container.encode(self.startsAt, forKey: .startsAt)
        try container.encode(self.endsAt, forKey: .endsAt)
        try container.encode(self.components, forKey: .components)
        try container.encode(self.state, forKey: .state)
        try container.encode(self.sequence, forKey: .sequence)
        try container.encode(self.createdAt, forKey: .createdAt)
        try container.encode(self.updatedAt, forKey: .updatedAt)
    }

    enum CodingKeys: String, CodingKey { case id, title, details, startsAt, endsAt, components, state, sequence, createdAt, updatedAt }
}

struct StatusDTO: ResponseEncodable {
    struct Component: Encodable, Sendable {
        var component: String
        var state: String
    }

    struct Maintenance: Encodable, Sendable {
        var current: [WindowDTO]
        var upcoming: [WindowDTO]
    }

    var overall: String
    var components: [Component]
    var incidents: [IncidentDTO]
    var maintenance: Maintenance

    init(_ page: StatusPage) {
        self.overall = page.overall.rawValue
        self.components = page.components.map { Component(component: $0.component.rawValue, state: $0.state.rawValue) }
        self.incidents = page.openIncidents.map(IncidentDTO.init)
        self.maintenance = Maintenance(
            current: page.currentMaintenance.map(WindowDTO.init), upcoming: page.upcomingMaintenance.map(WindowDTO.init))
    }
}

struct RecommendationDTO: ResponseEncodable {
    var startsAt: Date
    var endsAt: Date
    var expectedActiveSessions: Int
    var expectedSessionHours: Double
    var timeZone: String
    var weeksRecorded: Double

    init(_ plan: MaintenancePlan) {
        self.startsAt = plan.recommendation.startsAt
        self.endsAt = plan.recommendation.endsAt
        self.expectedActiveSessions = plan.recommendation.expectedActiveSessions
        self.expectedSessionHours = (plan.recommendation.expectedSessionHours * 100).rounded() / 100
        self.timeZone = plan.timeZone.identifier
        self.weeksRecorded = (plan.weeksRecorded * 10).rounded() / 10
    }
}
