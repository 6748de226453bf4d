/// Everything the application stores, as one value to pass around.
public struct Repositories: Sendable {
    public var tenants: any TenantRepository
    public var users: any UserRepository
    public var accessTokens: any AccessTokenRepository
    public var sessions: any SessionRepository

    public init(
        tenants: any TenantRepository,
        users: any UserRepository,
        accessTokens: any AccessTokenRepository,
        sessions: any SessionRepository
    ) {
        self.tenants = tenants
        self.users = users
        self.accessTokens = accessTokens
        self.sessions = sessions
    }
}
