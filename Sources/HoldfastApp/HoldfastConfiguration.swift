import Foundation
import HoldfastCore
import HoldfastHTTP
import HoldfastStore

/// Everything `holdfast serve` can be told, with the embedded defaults.
///
/// Filled once, at the composition root, from the command line; library targets receive
/// the parts they need and never read flags or the environment themselves.
public struct HoldfastConfiguration: Sendable {
    public struct HTTP: Sendable {
        public var host = "127.0.0.1"
        /// `0` picks a free port; the chosen one is announced on stdout.
        public var port = 8080
        /// Mark the session cookie `Secure` (and `__Host-`); set it when a TLS proxy fronts the
        /// server. An `https://` public URL implies it.
        public var secureCookies = false
        /// A connection must send its first request's whole header within this (slowloris).
        public var headerTimeout: TimeInterval = 10
        /// A connection with no request in progress is closed after this; later requests' headers
        /// must arrive within it too (bytes that do not complete a header do not count).
        public var idleTimeout: TimeInterval = 60
        /// Proxies you run: the client their `X-Forwarded-For` names is the caller.
        public var trustedProxies: [IPNetwork] = []
        /// Lets a scraper off this host read `/metrics` (`Authorization: Bearer`).
        public var metricsToken: String?

        public init() {}
    }

    public struct Sessions: Sendable {
        /// How long a dropped session is held, counted from the last traffic (tenants may override).
        public var grace: TimeInterval = 30 * 60
        /// Ping interval; a client silent for twice this is lost.
        public var heartbeat: TimeInterval = 10

        public init() {}
    }

    public struct Backups: Sendable {
        /// `local:DIR` or `s3:http(s)://HOST:PORT/BUCKET/PREFIX`; `nil` is `local:` the data
        /// directory's `backups` folder.
        public var repository: String?
        /// Where the tenants' backup passwords are kept; `nil` is the data directory's `secrets`.
        /// Nodes sharing a backup store must share these (one folder every node mounts).
        public var secretsDirectory: String?
        /// A live session whose workspace changed is snapshotted this often: the RPO.
        public var snapshotInterval: TimeInterval = 5 * 60
        /// How long one restic command may run (a store that is down makes restic retry for minutes).
        public var commandTimeout: TimeInterval = 10 * 60
        /// How often the retention policies are applied.
        public var retentionInterval: TimeInterval = 60 * 60
        /// A tenant whose latest recovery drill is older than this gets one (`holdfast drill` in
        /// the server); 0 turns scheduled drills off. The plans name it as the test schedule.
        public var drillInterval: TimeInterval = TimeInterval(PlanInputs.defaultDrillIntervalDays) * 86_400

        public init() {}
    }

    /// This server's name among the service's nodes and where the others reach it.
    public struct NodeOptions: Sendable {
        /// `nil`: the host's name.
        public var name: String?
        /// `nil`: the address and port the server listens on.
        public var advertiseURL: String?
        /// The secret every node shares, with which one vouches to another for the user it acts
        /// for (`--cluster-secret-file`); `nil`: this node forwards nothing and accepts nothing forwarded.
        public var clusterSecret: String?

        public init() {}
    }

    /// Holds the database, the workspaces, the backups and the mail outbox by default.
    public var dataDirectory = "./holdfast-data"
    /// `nil` means the SQLite file `holdfast.sqlite` in the data directory.
    public var database: DatabaseLocation?
    public var http = HTTP()
    public var sessions = Sessions()
    public var backups = Backups()
    public var node = NodeOptions()
    /// `smtp://`, `smtp+starttls://` or `smtps://` `HOST:PORT`, or `file:DIR`; `nil` is `file:` the
    /// data directory's `mail` folder.
    public var smtp: String?
    /// `AUTH PLAIN` credentials for the SMTP server (sent over TLS only).
    public var smtpCredentials: SMTPCredentials?
    /// The CA that signed the SMTP server's certificate; `nil` trusts the system's roots.
    public var smtpCAFile: String?
    /// The sender of the support desk's mails; replies to it reach `holdfast mail-gate`.
    public var mailFrom = "Holdfast Support <support@holdfast.localhost>"
    /// The address users reach the service at (`https://holdfast.example.com`): links in feeds
    /// and plans, and the host in iCalendar UIDs and Atom ids, which must never change.
    public var publicURL: String?

    /// Whether the sign-in cookie is `Secure` and `__Host-` prefixed.
    public var usesSecureCookies: Bool {
        self.http.secureCookies || (self.publicURL?.lowercased().hasPrefix("https://") ?? false)
    }
    /// Where `scripts/setup.sh` unpacked the browser bundles (xterm.js); `nil` looks in
    /// `./vendor`, then in the source tree the binary was built in.
    public var vendorDirectory: String?
    /// Debian's noVNC (the `novnc` package), served under `/novnc/` for the desktop viewer.
    public var novncDirectory = "/usr/share/novnc"
    public var authentication = Authenticator.Configuration()
    /// How long the reads the portal repeats on every page may be served again from memory:
    /// ticket lists (``TicketListCache``), a user's sessions (``SessionListCache``), tenants
    /// (``TenantCache``) and settings such as the support calendar (``SettingsCache``). The most
    /// they lag writes this server does not make itself (mail-gate, other servers); its own
    /// writes show at once. 0 reads everything from the store.
    public var readCacheLifetime: TimeInterval = 1
    /// Each workspace is a loop-mounted filesystem of the tenant's disk limit, so a user who fills
    /// it stops at the quota, not at the end of the data disk. Needs a server running as root
    /// (without root, workspaces are plain folders and the server says so once).
    public var workspaceQuotas = true

    public init() {}

    /// The node's name: `--node`, else the host's name cut to what a node name allows (the
    /// server keeps the name of its first start in the data directory: see `DataDirectory.nodeName`).
    public var resolvedNodeName: String {
        if let name = self.node.name { return name }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? ""
        let name = String(
            host.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }.prefix(63))
        return Node.isValidName(name) ? name : "holdfast"
    }

    /// Where the other nodes reach this one: `--advertise-url`, else the listening address.
    public var resolvedAdvertiseURL: String {
        if let url = self.node.advertiseURL { return url }
        let host = self.http.host.contains(":") ? "[\(self.http.host)]" : self.http.host
        return "http://\(host):\(self.http.port)"
    }

    /// Users' home directories, one per tenant and user.
    public var workspacesDirectory: String { URL(fileURLWithPath: self.dataDirectory).appendingPathComponent("workspaces").path }
    /// Scratch space for restores, beside the workspaces (same file system: restores move in by rename).
    public var restoresDirectory: String { self.absolute("restores") }
    /// Images of the workspace volumes that enforce the per-user disk quota, one sparse file per
    /// tenant and user (`<tenant id>/<user id>.img`); `nil` when `workspaceQuotas` is off.
    public var volumesDirectory: String? { self.workspaceQuotas ? self.absolute("volumes") : nil }
    /// Backup passwords, one 0600 file per tenant.
    public var secretsDirectory: String { self.backups.secretsDirectory ?? self.absolute("secrets") }
    /// restic's cache; safe to delete.
    public var backupCacheDirectory: String { self.absolute("cache/restic") }
    /// The backup repositories' place as given, or the default under the data directory.
    public var resolvedBackupRepository: String { self.backups.repository ?? "local:" + self.absolute("backups") }

    func absolute(_ name: String) -> String {
        URL(fileURLWithPath: self.dataDirectory).appendingPathComponent(name).standardizedFileURL.path
    }

    /// The mail destination as given, or the default outbox folder under the data directory.
    public var resolvedSMTP: String { self.smtp ?? "file:" + self.absolute("mail") }

    /// The public address as given, else `http://HOST:PORT` of the listener.
    public var resolvedPublicURL: URL {
        if let text = self.publicURL, let url = URL(string: text), url.host() != nil { return url }
        let host = self.http.host.contains(":") ? "[\(self.http.host)]" : self.http.host
        return URL(string: "http://\(host):\(self.http.port)") ?? URL(string: "http://holdfast.localhost")!
    }

    /// Per-session folders (tmux socket and configuration).
    public var sessionsDirectory: String { URL(fileURLWithPath: self.dataDirectory).appendingPathComponent("sessions").path }

    /// The vendor folder actually used, if one exists.
    public var resolvedVendorDirectory: String? {
        if let explicit = self.vendorDirectory { return explicit }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let candidates = [
            URL(fileURLWithPath: "vendor"),
            executable.deletingLastPathComponent().appendingPathComponent("../../../vendor").standardizedFileURL,
        ]
        return candidates.map(\.path).first { FileManager.default.fileExists(atPath: $0 + "/xterm/xterm.js") }
    }

    /// The database actually used.
    public var resolvedDatabase: DatabaseLocation {
        self.database ?? .sqlite(path: URL(fileURLWithPath: self.dataDirectory).appendingPathComponent("holdfast.sqlite").path)
    }
}
