import Foundation

/// How badly an incident hits the components it names; the raw values are wire words.
public enum IncidentImpact: String, Sendable, Codable, Hashable, CaseIterable {
    case degraded
    case partialOutage = "partial-outage"
    case majorOutage = "major-outage"

    /// Parses the wire form.
    /// - Throws: `invalid_impact`, listing the valid impacts.
    public init(validating text: String) throws {
        self = try parseWireValue(text, code: "invalid_impact", noun: "incident impact")
    }

    /// The state an affected component shows while the incident is open.
    public var componentState: ComponentState {
        switch self {
        case .degraded: .degraded
        case .partialOutage: .partialOutage
        case .majorOutage: .majorOutage
        }
    }

    public init(from decoder: any Decoder) throws {
        try self.init(validating: decoder.singleValueContainer().decode(String.self))
    }
}

/// Where an incident stands; every update states one. Only `resolved` closes the incident.
public enum IncidentStatus: String, Sendable, Codable, Hashable, CaseIterable {
    /// Something is wrong and the team is looking for the cause.
    case investigating
    /// The cause is known and a fix is under way.
    case identified
    /// A fix is in place and the team is watching that it holds.
    case monitoring
    /// Over. The incident no longer counts on the status page and takes no further updates.
    case resolved

    /// Parses the wire form.
    /// - Throws: `invalid_status`, listing the valid statuses.
    public init(validating text: String) throws {
        self = try parseWireValue(text, code: "invalid_status", noun: "incident status")
    }

    public init(from decoder: any Decoder) throws {
        try self.init(validating: decoder.singleValueContainer().decode(String.self))
    }
}

/// One message on an incident's timeline, as subscribers read it on the page and in the feed.
public struct IncidentUpdate: Sendable, Codable, Hashable {
    public var at: Date
    /// The incident's status as of this update.
    public var status: IncidentStatus
    /// Plain text, stored as written and never interpreted as HTML; renderers escape it.
    public var body: String

    public init(at: Date, status: IncidentStatus, body: String) {
        self.at = at
        self.status = status
        self.body = body
    }
}

/// An unplanned problem shown on the status page until it is resolved.
///
/// Rules (pure; the store persists the results):
/// - **Opening** needs a one-line title (1–200 characters), at least one component, an impact, and a first message
///   (1–10,000 characters), which becomes update 0. The first status is usually `investigating`; opening straight
///   as `resolved` records an incident after the fact (a postmortem) that never shows as open.
/// - **Updates** append to the timeline and set the status (and, if given, a new impact as things get better or
///   worse). An update to a resolved incident is refused (`incident_resolved`): a problem that comes back is a new
///   incident, so the old timeline stays a true record.
/// - **Posting `resolved`** sets `resolvedAt`.
/// - Updates are append-only, so an update's position is a stable id (the Atom feed relies on it).
public struct Incident: Sendable, Codable, Hashable {
    public typealias ID = Identifier<Incident>

    public var id: ID
    public var title: String
    public var components: Set<StatusComponent>
    public var impact: IncidentImpact
    public var status: IncidentStatus
    public var createdAt: Date
    public var resolvedAt: Date?
    /// Oldest first; never empty (update 0 is the opening message).
    public var updates: [IncidentUpdate]

    public init(
        id: ID = ID(), title: String, components: Set<StatusComponent>, impact: IncidentImpact, status: IncidentStatus,
        createdAt: Date, resolvedAt: Date? = nil, updates: [IncidentUpdate]
    ) {
        self.id = id
        self.title = title
        self.components = components
        self.impact = impact
        self.status = status
        self.createdAt = createdAt
        self.resolvedAt = resolvedAt
        self.updates = updates
    }

    /// Whether the incident still counts on the status page.
    public var isOpen: Bool { self.status != .resolved }

    /// Opens an incident from untrusted input; `body` is the first message subscribers read.
    /// - Throws: `invalid_title`, `invalid_components`, `invalid_body`.
    public static func open(
        id: ID = ID(), title: String, components: Set<StatusComponent>, impact: IncidentImpact,
        status: IncidentStatus = .investigating, body: String, at now: Date
    ) throws -> Incident {
        let title = try checkedTitle(title)
        let components = try StatusComponent.requireNonEmpty(components)
        let body = try Self.checkedBody(body)
        return Incident(
            id: id, title: title, components: components, impact: impact, status: status, createdAt: now,
            resolvedAt: status == .resolved ? now : nil, updates: [IncidentUpdate(at: now, status: status, body: body)])
    }

    /// Posts an update, setting the status and optionally a new impact; returns the update as recorded.
    /// - Throws: `invalid_body`; `incident_resolved` (conflict) when the incident is already resolved.
    @discardableResult
    public mutating func post(
        status: IncidentStatus, body: String, impact: IncidentImpact? = nil, at now: Date
    ) throws
        -> IncidentUpdate
    {
        guard self.isOpen else {
            throw CoreError.conflict(
                "incident_resolved",
                "The incident \"\(self.title)\" is resolved and takes no more updates; if the problem is back, open a new incident.")
        }
        let update = IncidentUpdate(at: now, status: status, body: try Self.checkedBody(body))
        self.updates.append(update)
        self.status = status
        if let impact { self.impact = impact }
        if status == .resolved { self.resolvedAt = now }
        return update
    }

    /// Checks an update's text: 1–10,000 characters, not blank; returns it trimmed.
    static func checkedBody(_ body: String) throws -> String {
        try checkedText(body, field: "update", code: "invalid_body", limit: StatusLimits.textCharacters)
    }
}

/// Size limits of status-page text, in characters, and of maintenance windows.
public enum StatusLimits {
    public static let titleCharacters = 200
    public static let textCharacters = 10_000
    /// The longest maintenance window: a week. Anything longer is a migration plan, not a window.
    public static let maximumWindowLength: TimeInterval = 7 * 86_400
}

/// Checks a title from untrusted input: one line, 1–200 characters; returns it trimmed.
///
/// One line because it goes into mail subjects and iCalendar `SUMMARY`s, where a line break would end the field.
/// - Throws: `invalid_title`.
func checkedTitle(_ title: String) throws -> String {
    let title = try checkedText(title, field: "title", code: "invalid_title", limit: StatusLimits.titleCharacters)
    guard !title.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
        throw CoreError.invalidInput("invalid_title", "The title must be one line without control characters.")
    }
    return title
}
