/// Everything the application stores, as one value to pass around.
public struct Repositories: Sendable {
    public var tenants: any TenantRepository
    public var users: any UserRepository
    public var accessTokens: any AccessTokenRepository
    public var sessions: any SessionRepository
    public var tickets: any TicketRepository
    public var suggestions: any SuggestionRepository
    /// The transactional outbox; tickets and suggestions write to it in their own transactions.
    public var outbox: any OutboxRepository
    public var settings: any SettingsRepository
    public var incidents: any IncidentRepository
    public var maintenance: any MaintenanceRepository
    public var usage: any UsageRepository
    public var continuity: any ContinuityRepository
    /// The audit log of privileged actions: append and read only.
    public var audit: any AuditRepository
    /// The service's nodes and their leases.
    public var nodes: any NodeRepository

    public init(
        tenants: any TenantRepository,
        users: any UserRepository,
        accessTokens: any AccessTokenRepository,
        sessions: any SessionRepository,
        tickets: any TicketRepository,
        suggestions: any SuggestionRepository,
        outbox: any OutboxRepository,
        settings: any SettingsRepository,
        incidents: any IncidentRepository,
        maintenance: any MaintenanceRepository,
        usage: any UsageRepository,
        continuity: any ContinuityRepository,
        audit: any AuditRepository,
        nodes: any NodeRepository
    ) {
        self.tenants = tenants
        self.users = users
        self.accessTokens = accessTokens
        self.sessions = sessions
        self.tickets = tickets
        self.suggestions = suggestions
        self.outbox = outbox
        self.settings = settings
        self.incidents = incidents
        self.maintenance = maintenance
        self.usage = usage
        self.continuity = continuity
        self.audit = audit
        self.nodes = nodes
    }
}
