import Foundation
import HoldfastBackup
import HoldfastCore
import HoldfastHTTP
import HoldfastHost
import HoldfastStore
import Hummingbird
import HummingbirdWebSocket
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// The version this binary reports.
public let holdfastVersion = "0.1.0"

/// A built server, ready to run, and what its first start created.
public struct HoldfastServer {
    public var application: Application<RouterResponder<AppRequestContext>>
    /// Set on the first start of an installation: the operator credentials to show once.
    public var firstOperator: Accounts.FirstOperator?

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully.
    public func run() async throws {
        try await self.application.runService()
    }
}

extension PrometheusCollectorRegistry {
    /// A registry that also receives every swift-metrics metric of the process (HTTP
    /// requests included). The global metrics system can be bootstrapped once per process,
    /// so only `serve` calls this; tests use a private registry.
    public static func bootstrapGlobal() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }
}

/// The composition root: turns a configuration into a running-ready application.
///
/// Used by `holdfast serve` and by the tests, so both exercise the same wiring.
/// - Parameters:
///   - onListening: called with the base URL once the socket is bound (with port 0, the real port).
///   - metrics: the registry `/metrics` shows; the caller decides whether it is also the global one.
///   - workspaceUsage: measures a user's workspace instead of its quota volume (tests: no volume is
///     mounted without a real session start).
public func buildServer(
    _ configuration: HoldfastConfiguration,
    logger: Logger,
    metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    now: @escaping @Sendable () -> Date = { Date() },
    host: (any SessionHost)? = nil,
    backupDriver: (any BackupDriver)? = nil,
    workspaceUsage: (@Sendable (Tenant.ID, User.ID) -> (usedBytes: Int, sizeBytes: Int)?)? = nil,
    onListening: @escaping @Sendable (String) async -> Void = { _ in }
) async throws -> HoldfastServer {
    let database = try await openDatabase(configuration, logger: logger)
    do {
        var repositories = Repositories.sql(database)
        let cacheLifetime = configuration.readCacheLifetime
        repositories.tickets = TicketListCache(repositories.tickets, lifetime: cacheLifetime, now: now)
        repositories.sessions = SessionListCache(repositories.sessions, lifetime: cacheLifetime, now: now)
        repositories.tenants = TenantCache(repositories.tenants, lifetime: cacheLifetime, now: now)
        repositories.settings = SettingsCache(repositories.settings, lifetime: cacheLifetime, now: now)
        let authenticator = Authenticator(configuration: configuration.authentication, repositories: repositories, now: now)
        let accounts = Accounts(repositories: repositories, authenticator: authenticator, now: now)
        let firstOperator = try await accounts.ensureOperator()

        let sessionHost = host ?? TmuxHost(configuration: .init(sessionsDirectory: configuration.sessionsDirectory), logger: logger)
        let accountFor: @Sendable (User) async throws -> UnixAccount? = { user in try await accounts.unixAccount(for: user) }
        let backups = WorkspaceBackups(
            configuration: .init(
                workspacesDirectory: configuration.workspacesDirectory, restoresDirectory: configuration.restoresDirectory,
                // Only with the real host: an injected one (tests, benchmarks) runs no sandboxes to confine.
                volumesDirectory: host == nil ? configuration.volumesDirectory : nil),
            driver: try backupDriver ?? resticDriver(configuration, logger: logger),
            repositories: repositories, accountFor: accountFor, now: now, logger: logger, measureUsage: workspaceUsage
        )
        var supervisorConfiguration = SessionSupervisor.Configuration()
        supervisorConfiguration.grace = configuration.sessions.grace
        supervisorConfiguration.heartbeat = configuration.sessions.heartbeat
        supervisorConfiguration.snapshotInterval = configuration.backups.snapshotInterval
        let membership = NodeMembership(
            registration: NodeRegistration(
                name: try DataDirectory.nodeName(
                    configuration.dataDirectory, given: configuration.node.name, fallback: configuration.resolvedNodeName),
                url: configuration.resolvedAdvertiseURL,
                identity: try DataDirectory.nodeIdentity(configuration.dataDirectory)),
            nodes: repositories.nodes, logger: logger)
        supervisorConfiguration.node = membership.name
        let supervisor = SessionSupervisor(
            configuration: supervisorConfiguration, repositories: repositories, host: sessionHost, backups: backups,
            accountFor: accountFor, now: now, logger: logger
        )
        if configuration.resolvedVendorDirectory == nil {
            logger.warning("the xterm.js bundle is missing, so the terminal page cannot load; run `scripts/setup.sh run`")
        }
        // Before serving: this node's name is claimed (refused while another server holds it), and
        // its sessions that outlived the previous server are found again.
        try await membership.join { node in await supervisor.setDraining(node.state == .draining) }
        let otherNodesUp = try await repositories.nodes.list().contains { $0.name != membership.name && $0.state != .down }
        try await supervisor.adoptAll(includingUnassigned: !otherNodesUp)

        let info = MetricNameDescriptor(
            namespace: "holdfast", metricName: "info", unitName: "", helpText: "Always 1; the labels describe this server.")
        metrics.makeGauge(descriptor: info, labels: [("version", holdfastVersion)]).set(Int64(1))
        let desk = SupportDesk(repositories: repositories, now: now, logger: logger)
        try await DeploymentRecord(configuration).save(in: repositories.settings, at: now())
        let banners = SessionBanners()
        let notices = SessionNotices()
        let dataDirectory = configuration.dataDirectory
        let continuity = ContinuityDesk(repositories: repositories, configuration: configuration, now: now, logger: logger)
        let statusDesk = StatusDesk(
            repositories: repositories,
            sessions: .init(
                refuseNewSessions: { refusal in await supervisor.setMaintenanceRefusal(refusal) },
                closeAllForMaintenance: { await supervisor.closeAllForMaintenance() }),
            banners: banners, baseURL: configuration.resolvedPublicURL, now: now, logger: logger)
        let files = WorkspaceFiles(
            // A change through the API is in a snapshot within the RPO, like one made in a session.
            configuration: .init(snapshotDelay: .seconds(min(30, configuration.backups.snapshotInterval))),
            backups: backups, repositories: repositories, accountFor: accountFor, now: now, logger: logger,
            hasOpenSession: { user in try await !supervisor.sessions(of: user, includeClosed: false).isEmpty })
        let router = try await buildRouter(
            HTTPDependencies(
                repositories: repositories,
                authenticator: authenticator,
                now: now,
                secureCookies: configuration.usesSecureCookies,
                health: { await database.isReachable() },
                metrics: { metrics.emitToString() },
                logger: logger,
                sessions: supervisor,
                workspaces: backups,
                support: desk,
                status: statusDesk,
                continuity: continuity,
                banners: banners,
                vendorDirectory: configuration.resolvedVendorDirectory,
                novncDirectory: FileManager.default.fileExists(atPath: configuration.novncDirectory + "/core/rfb.js")
                    ? configuration.novncDirectory : nil,
                hostCapacity: { HostCapacity.measure(dataDirectory: dataDirectory) },
                notices: notices,
                origins: OriginPolicy(publicOrigin: configuration.publicURL.flatMap(WebOrigin.init)),
                trustedProxies: configuration.http.trustedProxies,
                metricsToken: configuration.http.metricsToken,
                files: files,
                node: membership.name,
                nodeCredential: try configuration.node.clusterSecret.map(NodeCredential.init(secret:))
            )
        )
        // Services that run on every node: each looks after this node's own sessions, uploads, lease.
        let everyNode: [any Service] = [
            DatabaseService(database: database),
            membership,
            AccessTokenSweeper(repositories: repositories, now: now, logger: logger),
            UploadSweeper(files: files),
            SessionClock(supervisor: supervisor),
            SessionLimitWatch(
                supervisor: supervisor, host: sessionHost, repositories: repositories, notices: notices, now: now, logger: logger),
            MaintenanceClock(desk: statusDesk, interval: .seconds(1), advancing: false, applying: true, logger: logger),
        ]
        // Duties that must run on one node of the service at a time (`OnceOnly`): a mail is sent
        // once, a window's notices go out once, a drill runs once.
        var onceOnly: [(duty: String, service: any Service)] = [
            (
                "mailer",
                Mailer(
                    outbox: repositories.outbox,
                    destination: try MailDestination.parse(
                        configuration.resolvedSMTP, credentials: configuration.smtpCredentials, caFile: configuration.smtpCAFile),
                    renderer: OutgoingMailRenderer(
                        from: MailParser.address(configuration.mailFrom) ?? MailAddress(address: "support@holdfast.localhost"),
                        messageIDDomain: "holdfast.localhost"),
                    now: now, logger: logger)
            ),
            ("breach-warnings", BreachWarningService(desk: desk, interval: .seconds(60), logger: logger)),
            ("maintenance-clock", MaintenanceClock(desk: statusDesk, interval: .seconds(1), applying: false, logger: logger)),
            ("plan-keeper", PlanKeeper(desk: continuity, repositories: repositories, logger: logger)),
            (
                "node-watch",
                NodeWatch(
                    repositories: repositories, machineConfiguration: .init(heartbeat: configuration.sessions.heartbeat), now: now,
                    logger: logger)
            ),
            (
                "usage-recorder",
                UsageRecorder(
                    repositories: repositories,
                    activeSessions: { [sessions = repositories.sessions] in try await UsageRecorder.activeSessionsPerTenant(in: sessions) },
                    now: now, logger: logger)
            ),
            (
                "retention",
                RetentionService(
                    backups: backups, repositories: repositories, interval: .seconds(configuration.backups.retentionInterval),
                    logger: logger)
            ),
        ]
        if configuration.backups.drillInterval > 0 {
            onceOnly.append(
                (
                    "drills",
                    DrillScheduler(
                        drill: try Drill(configuration: configuration, repositories: repositories, now: now, logger: logger),
                        repositories: repositories, interval: configuration.backups.drillInterval, now: now, logger: logger)
                ))
        }
        let httpHost = configuration.http.host
        let application = Application(
            router: router,
            server: .holdfast(
                webSocketRouter: router,
                // The terminal gateway pings on its own heartbeat and counts pongs itself.
                webSocket: .init(maxFrameSize: 1 << 20, autoPing: .disabled),
                headerTimeout: .milliseconds(Int64(configuration.http.headerTimeout * 1000)),
                idleTimeout: .milliseconds(Int64(configuration.http.idleTimeout * 1000))
            ),
            configuration: .init(address: .hostname(httpHost, port: configuration.http.port), serverName: "holdfast"),
            services: everyNode + onceOnly.map { OnceOnly(duty: $0.duty, service: $0.service, membership: membership, logger: logger) },
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.http.port
                if configuration.node.advertiseURL == nil, port != configuration.http.port {
                    await membership.advertise("http://\(httpHost.contains(":") ? "[\(httpHost)]" : httpHost):\(port)")
                }
                await onListening("http://\(httpHost.contains(":") ? "[\(httpHost)]" : httpHost):\(port)")
            },
            logger: logger
        )
        return HoldfastServer(application: application, firstOperator: firstOperator)
    } catch {
        await database.close()
        throw error
    }
}

/// The restic driver for the configured repository.
func resticDriver(_ configuration: HoldfastConfiguration, logger: Logger) throws -> ResticBackupDriver {
    let location = try RepositoryLocation.parse(configuration.resolvedBackupRepository)
    return ResticBackupDriver(
        configuration: .init(
            repository: location, secretsDirectory: configuration.secretsDirectory, cacheDirectory: configuration.backupCacheDirectory,
            commandTimeout: .seconds(configuration.backups.commandTimeout),
            initialisationGroup: resticInitialisationGroup(logger: logger)
        ),
        logger: logger
    )
}

/// The throttled cgroup new tenant repositories are created in, so that their keys open in
/// milliseconds (see `ThrottledGroup`); `nil`, with a warning, when the host offers no CPU quota.
func resticInitialisationGroup(logger: Logger) -> String? {
    do {
        return try ThrottledGroup.prepare().procsFile
    } catch {
        logger.warning(
            "New backup repositories get restic's full-cost keys: every restic command will spend about half a second of CPU opening them",
            metadata: ["reason": "\(error)"])
        return nil
    }
}

/// Owns the database pool for the server's lifetime and closes it last on shutdown.
///
/// Services stop in reverse order of start, so listing this first means requests in flight
/// finish before the pool goes away.
struct DatabaseService: Service {
    let database: Database

    func run() async throws {
        try? await gracefulShutdown()
        await self.database.close()
    }
}

/// Removes unfinished uploads left for a day, every hour (a user who never comes back would keep
/// them on their quota otherwise).
struct UploadSweeper: Service {
    let files: WorkspaceFiles

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            await self.files.expireUploads()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}

/// Removes expired sign-ins every hour so the token table does not grow without bound.
struct AccessTokenSweeper: Service {
    let repositories: Repositories
    let now: @Sendable () -> Date
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            do {
                let removed = try await self.repositories.accessTokens.deleteExpired(before: self.now())
                if removed > 0 {
                    self.logger.debug("expired sign-ins removed", metadata: ["count": "\(removed)"])
                }
            } catch {
                self.logger.warning("could not remove expired sign-ins", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}
