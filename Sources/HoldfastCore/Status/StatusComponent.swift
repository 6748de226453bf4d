import Foundation

/// A part of the service the status page reports on; the raw values are the wire words of `GET /status`.
///
/// Decoding an unknown name throws a ``CoreError`` (`invalid_components`) that lists the valid names, so an API
/// client that sends `"components":["gateway"]` learns what to send instead of getting a bare decoding error.
public enum StatusComponent: String, Sendable, Codable, Hashable, CaseIterable, Comparable {
    /// The web portal and the REST API.
    case portal
    /// Terminal and desktop sessions, and the gateway that carries them.
    case sessions
    /// Workspaces and their backups.
    case storage
    /// The support desk: tickets, mail and the suggestion board.
    case support

    /// Parses the wire form.
    /// - Throws: `invalid_components`, listing the valid names.
    public init(validating text: String) throws {
        self = try parseWireValue(text, code: "invalid_components", noun: "status component")
    }

    /// Parses a list of names from untrusted input (a form, the command line) into a non-empty set.
    /// - Throws: `invalid_components` for an empty list or an unknown name.
    public static func validatedSet(_ names: [String]) throws -> Set<StatusComponent> {
        try self.requireNonEmpty(Set(names.map(StatusComponent.init(validating:))))
    }

    /// Checks that a set names at least one component: a notice about "maintenance of nothing" helps nobody.
    /// - Throws: `invalid_components`.
    static func requireNonEmpty(_ components: Set<StatusComponent>) throws -> Set<StatusComponent> {
        guard !components.isEmpty else {
            let names = Self.allCases.map(\.rawValue).joined(separator: ", ")
            throw CoreError.invalidInput("invalid_components", "Name at least one affected component: \(names).")
        }
        return components
    }

    /// Components in the status page's order, so lists read the same everywhere (page, mails, feeds).
    public static func sorted(_ components: Set<StatusComponent>) -> [StatusComponent] {
        self.allCases.filter(components.contains)
    }

    public init(from decoder: any Decoder) throws {
        try self.init(validating: decoder.singleValueContainer().decode(String.self))
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        Self.allCases.firstIndex(of: lhs)! < Self.allCases.firstIndex(of: rhs)!
    }
}

/// How a component is doing, as the status page shows it.
///
/// States are ranked by ``severity`` and the worst one that applies wins. Maintenance ranks *above* `degraded`
/// and *below* the outages: a planned window already tells people to expect disruption, so a slowdown during it
/// adds nothing, while an outage is unplanned and must show even in the middle of planned work.
public enum ComponentState: String, Sendable, Codable, Hashable, CaseIterable, Comparable {
    case operational
    case degraded
    case partialOutage = "partial-outage"
    case majorOutage = "major-outage"
    case underMaintenance = "under-maintenance"

    /// Parses the wire form.
    /// - Throws: `invalid_state`, listing the valid states.
    public init(validating text: String) throws {
        self = try parseWireValue(text, code: "invalid_state", noun: "component state")
    }

    /// The rank used to pick the worst state: operational 0, degraded 1, under-maintenance 2, partial-outage 3,
    /// major-outage 4.
    public var severity: Int {
        switch self {
        case .operational: 0
        case .degraded: 1
        case .underMaintenance: 2
        case .partialOutage: 3
        case .majorOutage: 4
        }
    }

    public init(from decoder: any Decoder) throws {
        try self.init(validating: decoder.singleValueContainer().decode(String.self))
    }

    /// Ordered by ``severity``: `max()` of a list is the state to show.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.severity < rhs.severity }
}
