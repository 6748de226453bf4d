import Foundation

/// One privileged action, as the audit log keeps it: who did what to what, when, and from where.
///
/// Events are only ever appended (``AuditRepository`` has no way to change or remove one). They
/// are recorded for users and roles, tenant settings and limits, another user's session extended
/// or closed, the support calendar, maintenance, incidents, troubleshooters, suggestions moderated,
/// restores and recovery drills (``AuditAction``).
public struct AuditEvent: Sendable, Hashable, Codable {
    public typealias ID = Identifier<AuditEvent>

    public var id: ID
    public var at: Date
    /// The tenant the action concerns; `nil` for the service as a whole (calendar, maintenance,
    /// incidents), which only operators see.
    public var tenantID: Tenant.ID?
    /// Who acted: a user, or `nil` for the service itself (a scheduled drill) or the command line.
    public var actorID: User.ID?
    /// The actor as shown: the user's e-mail at the time, or `service` / `command line`.
    public var actor: String
    public var action: AuditAction
    /// What was acted on, in words a reader can find: a tenant's slug, a user's e-mail, a session id.
    public var target: String
    /// What changed, briefly (`role=agent`, `limits.memoryMiB=1024`).
    public var detail: String
    /// The client address (behind `--trusted-proxy`, the one the proxy names); `local` for the
    /// command line and the service.
    public var from: String

    public init(
        id: ID = ID(), at: Date, tenantID: Tenant.ID?, actorID: User.ID?, actor: String, action: AuditAction, target: String,
        detail: String, from: String
    ) {
        self.id = id
        self.at = at
        self.tenantID = tenantID
        self.actorID = actorID
        self.actor = actor
        self.action = action
        self.target = target
        self.detail = detail
        self.from = from
    }

    /// The actor of changes made with `holdfast` on the host.
    public static let commandLine = "command line"
    /// The actor of what the service does by itself (a scheduled drill).
    public static let service = "service"
}

/// The privileged actions the audit log records.
public enum AuditAction: String, Sendable, Hashable, Codable, CaseIterable {
    case tenantCreated = "tenant.created"
    case tenantUpdated = "tenant.updated"
    case userCreated = "user.created"
    case sessionExtended = "session.extended"
    case sessionClosed = "session.closed"
    case calendarReplaced = "support.calendar_replaced"
    case holidaysImported = "support.holidays_imported"
    case maintenanceScheduled = "maintenance.scheduled"
    case maintenanceRescheduled = "maintenance.rescheduled"
    case maintenanceCancelled = "maintenance.cancelled"
    case incidentOpened = "incident.opened"
    case incidentUpdated = "incident.updated"
    case troubleshootersReplaced = "troubleshooters.replaced"
    case suggestionStatusChanged = "suggestion.status_changed"
    case suggestionsMerged = "suggestion.merged"
    case workspaceRestored = "workspace.restored"
    case drillRun = "drill.run"
    case nodeDrained = "node.drained"
    case nodeResumed = "node.resumed"
}

/// Which events to read: a tenant's (or all), within `[since, until)`, newest first.
public struct AuditQuery: Sendable, Hashable {
    /// `nil` is every event, the service's included (operators only).
    public var tenantID: Tenant.ID?
    public var since: Date?
    public var until: Date?
    public var limit: Int
    public var offset: Int

    public init(tenantID: Tenant.ID? = nil, since: Date? = nil, until: Date? = nil, limit: Int = 100, offset: Int = 0) {
        self.tenantID = tenantID
        self.since = since
        self.until = until
        self.limit = limit
        self.offset = offset
    }

    /// The widest range one query may ask for.
    public static let longestRange: TimeInterval = 400 * 86_400

    /// Checks the range: `since` before `until`, both after 2000 and not in the future (beyond a
    /// day of clock skew), and at most ``longestRange`` apart when both are given.
    /// - Throws: `invalid_range` (422).
    public func validated(at now: Date) throws -> AuditQuery {
        for instant in [self.since, self.until].compactMap({ $0 }) {
            guard instant >= TicketLimits.earliestInstant, instant <= now.addingTimeInterval(86_400) else {
                throw CoreError.invalidInput(
                    "invalid_range", "The range must lie between 2000-01-01 and now; \(instant.formatted(.iso8601)) does not.")
            }
        }
        if let since = self.since, let until = self.until {
            guard since < until else {
                throw CoreError.invalidInput("invalid_range", "'since' must come before 'until'.")
            }
            guard until.timeIntervalSince(since) <= Self.longestRange else {
                throw CoreError.invalidInput("invalid_range", "Ask for at most 400 days at a time.")
            }
        }
        guard (1...1000).contains(self.limit), self.offset >= 0 else {
            throw CoreError.invalidInput("invalid_range", "'limit' must be 1 to 1000 and 'offset' not negative.")
        }
        return self
    }
}

/// The audit log's store: append and read, nothing else.
public protocol AuditRepository: Sendable {
    func append(_ event: AuditEvent) async throws
    /// Events matching `query`, newest first.
    func list(_ query: AuditQuery) async throws -> [AuditEvent]
}
