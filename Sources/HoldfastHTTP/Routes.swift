import Foundation
import HoldfastCore
import Hummingbird
import Logging
import Mustache

/// Everything the HTTP layer needs from the rest of the application.
public struct HTTPDependencies: Sendable {
    public var repositories: Repositories
    public var authenticator: Authenticator
    public var now: @Sendable () -> Date
    /// Mark the session cookie `Secure` and `__Host-` (set when served behind HTTPS).
    public var secureCookies: Bool
    public var health: @Sendable () async -> Bool
    public var metrics: @Sendable () async -> String
    public var logger: Logger
    public var sessions: any SessionService
    public var workspaces: any WorkspaceService
    /// The live workspace files (list, download, upload); `nil` leaves the files API out.
    public var files: (any WorkspaceFileService)?
    public var support: any SupportService
    public var status: any StatusService
    public var continuity: any ContinuityService
    /// Maintenance banners for live terminal sessions.
    public var banners: SessionBanners
    /// Third-party browser bundles fetched at set-up (`vendor/xterm/…`), served under `/vendor`.
    public var vendorDirectory: String?
    /// Debian's noVNC, served under `/novnc` for the desktop viewer; `nil` when not installed.
    public var novncDirectory: String?
    /// What this host can give one session, measured when an operator changes a tenant's limits.
    public var hostCapacity: @Sendable () -> HostCapacity
    /// Per-session notices (a limit was hit) that the terminal gateway passes to attached clients.
    public var notices: SessionNotices
    /// Which requests come from the service's own pages (its public URL, or the Host reached).
    public var origins: OriginPolicy
    /// Proxies you run, whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    public var trustedProxies: [IPNetwork]
    /// The token a Prometheus scraper off this host must show (`--metrics-token-file`).
    public var metricsToken: String?
    /// This server's node name, and the secret it shares with the other nodes (attaches and
    /// closes that reach a node other than the session's are forwarded to it).
    public var node: String?
    public var nodeCredential: NodeCredential?

    public init(
        repositories: Repositories,
        authenticator: Authenticator,
        now: @escaping @Sendable () -> Date,
        secureCookies: Bool,
        health: @escaping @Sendable () async -> Bool,
        metrics: @escaping @Sendable () async -> String,
        logger: Logger,
        sessions: any SessionService,
        workspaces: any WorkspaceService,
        support: any SupportService,
        status: any StatusService,
        continuity: any ContinuityService,
        banners: SessionBanners,
        vendorDirectory: String? = nil,
        novncDirectory: String? = nil,
        hostCapacity: @escaping @Sendable () -> HostCapacity,
        notices: SessionNotices = SessionNotices(),
        origins: OriginPolicy = OriginPolicy(),
        trustedProxies: [IPNetwork] = [],
        metricsToken: String? = nil,
        files: (any WorkspaceFileService)? = nil,
        node: String? = nil,
        nodeCredential: NodeCredential? = nil
    ) {
        self.repositories = repositories
        self.authenticator = authenticator
        self.now = now
        self.secureCookies = secureCookies
        self.health = health
        self.metrics = metrics
        self.logger = logger
        self.sessions = sessions
        self.workspaces = workspaces
        self.support = support
        self.status = status
        self.continuity = continuity
        self.banners = banners
        self.vendorDirectory = vendorDirectory
        self.novncDirectory = novncDirectory
        self.hostCapacity = hostCapacity
        self.notices = notices
        self.origins = origins
        self.trustedProxies = trustedProxies
        self.metricsToken = metricsToken
        self.files = files
        self.node = node
        self.nodeCredential = nodeCredential
    }
}

/// The folder of templates, styles, scripts and the OpenAPI document shipped with the binary.
public let resourcesDirectory: URL = Bundle.module.bundleURL.appendingPathComponent("Resources")

/// Builds the router with every route of the service.
///
/// Middleware order matters: errors are turned into JSON outermost, so that a failure
/// anywhere (including authentication and unknown routes) has the same shape.
public func buildRouter(_ dependencies: HTTPDependencies) async throws -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    var quiet = dependencies.logger
    quiet.logLevel = .warning
    router.add(middleware: SecurityHeadersMiddleware(origins: dependencies.origins))
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: ClientAddressMiddleware(resolver: ClientAddressResolver(trustedProxies: dependencies.trustedProxies)))
    router.add(middleware: MetricsMiddleware())
    router.add(
        middleware: FileMiddleware(
            resourcesDirectory.appendingPathComponent("public").path,
            urlBasePath: "/static",
            cacheControl: .init([(MediaType(type: .any), [.noCache])]),
            logger: quiet
        )
    )
    if let vendor = dependencies.vendorDirectory {
        router.add(
            middleware: FileMiddleware(
                vendor, urlBasePath: "/vendor", cacheControl: .init([(MediaType(type: .any), [.noCache])]), logger: quiet))
    }
    if let novnc = dependencies.novncDirectory {
        router.add(
            middleware: FileMiddleware(
                novnc, urlBasePath: "/novnc", cacheControl: .init([(MediaType(type: .any), [.noCache])]), logger: quiet))
    }
    router.add(middleware: MetricsEndpoint(render: dependencies.metrics, token: dependencies.metricsToken))
    router.add(
        middleware: AuthenticationMiddleware(
            authenticator: dependencies.authenticator, cookie: SessionCookie(secure: dependencies.secureCookies),
            origins: dependencies.origins, nodeCredential: dependencies.nodeCredential, users: dependencies.repositories.users,
            now: dependencies.now))

    let openAPI = try Data(contentsOf: resourcesDirectory.appendingPathComponent("openapi.yaml"))
    OperationsRoutes(health: dependencies.health, openAPIDocument: ByteBuffer(bytes: openAPI))
        .add(to: router)

    let api = router.group("api/v1")
    AuthRoutes(
        authenticator: dependencies.authenticator, repositories: dependencies.repositories,
        cookie: SessionCookie(secure: dependencies.secureCookies)
    )
    .add(to: api)
    let audit = AuditRecorder(repository: dependencies.repositories.audit, now: dependencies.now, logger: dependencies.logger)
    TenantRoutes(
        authenticator: dependencies.authenticator, repositories: dependencies.repositories, now: dependencies.now,
        sessions: dependencies.sessions, continuity: dependencies.continuity, hostCapacity: dependencies.hostCapacity, audit: audit
    )
    .add(to: api)
    let forwarding = NodeForwarding(
        node: dependencies.node, credential: dependencies.nodeCredential, nodes: dependencies.repositories.nodes, now: dependencies.now,
        liveSessions: { [sessions = dependencies.repositories.sessions] in try await sessions.listLive() })
    SessionRoutes(sessions: dependencies.sessions, users: dependencies.repositories.users, audit: audit, nodes: forwarding).add(to: api)
    NodeRoutes(nodes: dependencies.repositories.nodes, sessions: dependencies.repositories.sessions, audit: audit).add(to: api)
    TerminalGateway(
        sessions: dependencies.sessions, banners: dependencies.banners, notices: dependencies.notices, now: dependencies.now,
        origins: dependencies.origins, nodes: forwarding
    )
    .add(to: api)
    WorkspaceRoutes(workspaces: dependencies.workspaces, audit: audit).add(to: api)
    if let files = dependencies.files { WorkspaceFileRoutes(files: files).add(to: api) }
    SupportRoutes(repositories: dependencies.repositories, now: dependencies.now, audit: audit).add(to: api)
    TicketRoutes(support: dependencies.support).add(to: api)
    SuggestionRoutes(support: dependencies.support, audit: audit).add(to: api)
    StatusRoutes(status: dependencies.status, audit: audit).add(to: api)
    ContinuityRoutes(continuity: dependencies.continuity, tenants: dependencies.repositories.tenants, audit: audit).add(to: api)
    let auditRoutes = AuditRoutes(repositories: dependencies.repositories, now: dependencies.now)
    auditRoutes.add(to: api)

    let templates = try await MustacheLibrary(directory: resourcesDirectory.appendingPathComponent("templates").path)
    let pages = PageRenderer(templates: templates, repositories: dependencies.repositories)
    SupportPages(
        pages: pages, support: dependencies.support, sessions: dependencies.sessions, repositories: dependencies.repositories,
        now: dependencies.now
    )
    .add(to: router)
    StatusPages(pages: pages, status: dependencies.status).add(to: router)
    ContinuityPages(pages: pages, continuity: dependencies.continuity).add(to: router)
    AuditPages(pages: pages, routes: auditRoutes, repositories: dependencies.repositories).add(to: router)
    PortalRoutes(
        pages: pages, repositories: dependencies.repositories, sessions: dependencies.sessions, workspaces: dependencies.workspaces
    )
    .add(to: router)
    return router
}
