import ArgumentParser
import Foundation
import HoldfastApp
import HoldfastCore

/// `holdfast serve`: the portal, the API and every background duty, in one process.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server.")

    @OptionGroup var store: StoreOptions

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one and prints it.")
    var port = 8080

    @Option(
        name: .customLong("secrets-dir"),
        help:
            "Where the tenants' backup passwords are kept (0700, files 0600); the data directory's secrets folder by default. Nodes sharing a backup store must share it."
    )
    var secretsDir: String?

    @Option(
        name: .customLong("cluster-secret-file"),
        help:
            "A file only its owner can read, holding the secret all nodes share (at least 32 characters; or set HOLDFAST_CLUSTER_SECRET): a node that gets an attach or a close for another node's session forwards it with it."
    )
    var clusterSecretFile: String?

    @Option(help: "This server's name among the service's nodes (many servers on one PostgreSQL); the host's name by default.")
    var node: String?

    @Option(
        name: .customLong("advertise-url"),
        help: "Where the other nodes reach this one (http://HOST:PORT); the address and port it listens on by default.")
    var advertiseURL: String?

    @Flag(help: "Mark the sign-in cookie Secure and __Host- (when a TLS proxy fronts the server; an https --public-url implies it).")
    var secureCookies = false

    @Option(help: "How long a new connection may take to send its first request header (slow clients are cut off).")
    var headerTimeout = "10s"

    @Option(help: "How long a connection with no request in progress is kept open.")
    var idleTimeout = "60s"

    @Option(
        name: .customLong("trusted-proxy"),
        help:
            "A proxy you run, as an address or CIDR (repeatable): the client its X-Forwarded-For names counts as the caller, for sign-in throttling, /metrics and the audit log."
    )
    var trustedProxies: [String] = []

    @Option(
        name: .customLong("metrics-token-file"),
        help:
            "A file only its owner can read, holding the bearer token Prometheus shows to scrape /metrics from off this host (or set HOLDFAST_METRICS_TOKEN). Without it /metrics answers this host only."
    )
    var metricsTokenFile: String?

    @Option(help: "How long a dropped session is held, from the last traffic received (tenants may override).")
    var grace = "30m"

    @Option(help: "Ping interval; a client silent for twice this is declared lost.")
    var heartbeat = "10s"

    @Option(
        name: .customLong("backup-repository"),
        help:
            "Where workspaces are backed up: local:DIR or s3:http(s)://HOST:PORT/BUCKET/PREFIX (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY). Default: local:DATA-DIR/backups."
    )
    var backupRepository: String?

    @Option(name: .customLong("snapshot-interval"), help: "How often a live session's changed workspace is snapshotted (the RPO).")
    var snapshotInterval = "5m"

    @Option(
        help:
            "Where mail goes: smtp://HOST:PORT (plain, the local MTA), smtp+starttls://HOST:587, smtps://HOST:465, or file:DIR (default: file:DATA-DIR/mail)."
    )
    var smtp: String?

    @Option(
        name: .customLong("smtp-credentials-file"),
        help:
            "A file only its owner can read: the SMTP user name on the first line, the password on the second (or set HOLDFAST_SMTP_USERNAME and HOLDFAST_SMTP_PASSWORD). Sent over TLS only."
    )
    var smtpCredentialsFile: String?

    @Option(
        name: .customLong("smtp-ca-file"), help: "PEM file of the CA that signed the SMTP server's certificate (default: the system's).")
    var smtpCAFile: String?

    @Option(
        name: .customLong("drill-interval"),
        help: "Run a recovery drill for a tenant whose last drill is older than this (0 turns scheduled drills off).")
    var drillInterval = "90d"

    @Option(
        name: .customLong("public-url"),
        help: "The address users reach the service at, e.g. https://holdfast.example.com (links in feeds and plans; calendar ids).")
    var publicURL: String?

    @Option(
        name: .customLong("backup-timeout"),
        help:
            "How long one backup command may run before it is interrupted and retried (a store that is down makes restic retry for minutes)."
    )
    var backupTimeout = "10m"

    @Option(
        name: .customLong("read-cache"),
        help:
            "How long ticket lists, a user's sessions, tenants and settings (the support calendar) may be served from memory; the most they lag what mail-gate or another server writes (0s turns it off; at most 1m)."
    )
    var readCache = "1s"

    func run() async throws {
        let logger = Console.logger(level: self.store.logLevel)
        var configuration = try self.store.configuration()
        configuration.http.host = self.host
        configuration.http.port = self.port
        configuration.http.secureCookies = self.secureCookies
        if let node = self.node, !Node.isValidName(node) {
            throw ValidationFailure(
                message: "--node \(node): a node name is 1 to 63 letters, digits, '.', '-' or '_', starting with a letter or digit.")
        }
        configuration.node.name = self.node
        configuration.node.clusterSecret = try Console.parse {
            try Secret.read(file: self.clusterSecretFile, environment: "HOLDFAST_CLUSTER_SECRET", flag: "--cluster-secret-file")
        }
        if let url = self.advertiseURL {
            guard let parsed = URLComponents(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
                parsed.host?.isEmpty == false, parsed.path.isEmpty || parsed.path == "/", parsed.query == nil
            else {
                throw ValidationFailure(message: "--advertise-url \(url): give http://HOST:PORT (or https://), with no path.")
            }
            configuration.node.advertiseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        configuration.http.trustedProxies = try self.trustedProxies.map { text in
            try Console.parse {
                do { return try IPNetwork(text) } catch {
                    throw ValidationFailure(message: "--trusted-proxy \(text): give an address or a CIDR such as 10.0.0.0/8.")
                }
            }
        }
        configuration.http.metricsToken = try Console.parse {
            try Secret.read(file: self.metricsTokenFile, environment: "HOLDFAST_METRICS_TOKEN", flag: "--metrics-token-file")
        }
        configuration.http.headerTimeout = TimeInterval(try Console.parse { try DurationText.seconds(self.headerTimeout) })
        configuration.http.idleTimeout = TimeInterval(try Console.parse { try DurationText.seconds(self.idleTimeout) })
        guard configuration.http.headerTimeout >= 1, configuration.http.idleTimeout >= 1 else {
            throw ValidationFailure(message: "--header-timeout and --idle-timeout must be at least 1s.")
        }
        configuration.sessions.grace = TimeInterval(try Console.parse { try DurationText.seconds(self.grace) })
        configuration.sessions.heartbeat = TimeInterval(try Console.parse { try DurationText.seconds(self.heartbeat) })
        guard configuration.sessions.heartbeat >= 1, configuration.sessions.grace >= 1 else {
            throw ValidationFailure(message: "--grace and --heartbeat must be at least 1s.")
        }
        configuration.backups.repository = self.backupRepository
        configuration.backups.secretsDirectory = self.secretsDir.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        configuration.smtp = self.smtp
        configuration.smtpCAFile = self.smtpCAFile
        configuration.smtpCredentials = try Console.parse {
            if let file = self.smtpCredentialsFile {
                return try SMTPCredentials(fileContents: try Secret.read(file: file, flag: "--smtp-credentials-file"))
            }
            let username = Secret.environment("HOLDFAST_SMTP_USERNAME")
            let password = Secret.environment("HOLDFAST_SMTP_PASSWORD")
            guard let username, let password else { return nil }
            return SMTPCredentials(username: username, password: password)
        }
        configuration.publicURL = self.publicURL
        configuration.backups.drillInterval = TimeInterval(try Console.parse { try DurationText.seconds(self.drillInterval) })
        configuration.backups.snapshotInterval = TimeInterval(try Console.parse { try DurationText.seconds(self.snapshotInterval) })
        configuration.backups.commandTimeout = TimeInterval(try Console.parse { try DurationText.seconds(self.backupTimeout) })
        configuration.readCacheLifetime = TimeInterval(try Console.parse { try DurationText.seconds(self.readCache) })
        guard (0...60).contains(configuration.readCacheLifetime) else {
            throw ValidationFailure(message: "--read-cache must be between 0s and 1m.")
        }
        guard configuration.backups.snapshotInterval >= 10, configuration.backups.commandTimeout >= 5 else {
            throw ValidationFailure(message: "--snapshot-interval must be at least 10s and --backup-timeout at least 5s.")
        }

        let server = try await Console.run {
            try await buildServer(
                configuration, logger: logger, metrics: .bootstrapGlobal(),
                onListening: { url in
                    Console.say("listening on \(url)")
                })
        }
        if let first = server.firstOperator {
            Console.say(
                """
                First start: created the operator account.
                  e-mail:   \(first.email)
                  password: \(first.password)
                Keep the password now: it is shown only this once.
                """
            )
        }
        try await server.run()
    }
}
