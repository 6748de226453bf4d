import Foundation
import HoldfastCore
import Hummingbird
import Mustache

/// The server-rendered portal: `/login`, `/` (home) and `/admin`.
///
/// Pages read data directly from the repositories and post changes through the JSON API
/// with small scripts, so the API stays the one way to change anything.
struct PortalRoutes {
    let pages: PageRenderer
    let repositories: Repositories
    let sessions: any SessionService
    let workspaces: any WorkspaceService

    func add(to router: Router<AppRequestContext>) {
        router.get("/", use: self.home)
        router.get("login", use: self.login)
        router.get("admin", use: self.admin)
        router.get("sessions/:id", use: self.viewer)
        router.get("workspace", use: self.versions)
        router.get("files", use: self.files)
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        if context.user != nil {
            return .redirect(to: "/", type: .normal)
        }
        let next = OriginPolicy.localPath(request.uri.queryParameters.get("next").map { String($0) }) ?? "/"
        return try self.pages.render("login", LoginPage(page: PageChrome(title: "Sign in", user: nil), next: next))
    }

    @Sendable func home(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = context.user else { return PageRenderer.signInFirst(request) }
        let chrome = try await self.pages.chrome(title: "Your sessions", user: user)
        let sessions = try await self.sessions.sessions(of: user, includeClosed: false)
        // The page is where a user starts work: a usage that cannot be read only leaves its line out.
        let usage = try? await self.workspaces.usage(for: user)
        return try self.pages.render(
            "home", HomePage(page: chrome, sessions: sessions.map(SessionRow.init), workspace: usage.map(WorkspaceUsageLine.init)))
    }

    /// The session's viewer, xterm.js or noVNC by its kind; the page itself holds no secret, it
    /// asks for a ticket per connection.
    @Sendable func viewer(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = context.user else { return PageRenderer.signInFirst(request) }
        let session = try await self.sessions.session(try SessionRoutes.id(context), for: user)
        let desktop = session.kind == .desktop
        let chrome = try await self.pages.chrome(title: desktop ? "Desktop" : "Terminal", user: user)
        return try self.pages.render(desktop ? "desktop" : "session", ViewerPage(page: chrome, session: SessionRow(session)))
    }

    /// The Files page: the script browses, uploads and downloads through `/api/v1/workspace/…`.
    @Sendable func files(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = context.user else { return PageRenderer.signInFirst(request) }
        return try self.pages.render("files", FilesPage(page: try await self.pages.chrome(title: "Files", user: user)))
    }

    /// The versions page: the user's snapshots, and one snapshot's folder to browse and restore from.
    @Sendable func versions(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = context.user else { return PageRenderer.signInFirst(request) }
        let chrome = try await self.pages.chrome(title: "Versions", user: user)
        let snapshots: [Snapshot]
        do {
            snapshots = try await self.workspaces.snapshots(for: user)
        } catch let error as CoreError where error.kind == .unavailable {
            return try self.pages.render("workspace", VersionsPage(page: chrome, unavailable: error.message), status: .serviceUnavailable)
        }
        var page = VersionsPage(page: chrome, snapshots: snapshots)
        if let wanted = request.uri.queryParameters.get("snapshot") {
            let id = try WorkspaceRoutes.snapshotID(String(wanted))
            guard let snapshot = snapshots.first(where: { $0.id.hasPrefix(id) }) else {
                throw CoreError.notFound("You have no snapshot \(id).")
            }
            let path = try WorkspacePath(request.uri.formParameters["path"] ?? "")
            let entries = try await self.workspaces.files(in: snapshot.id, path: path, for: user)
            page.select(snapshot, path: path, entries: entries)
        }
        return try self.pages.render("workspace", page)
    }

    @Sendable func admin(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = context.user else { return PageRenderer.signInFirst(request) }
        let chrome = try await self.pages.chrome(title: "Administration", user: user)
        guard user.role == .operator || user.role == .tenantAdmin else {
            return try self.pages.notForYourRole(chrome, "Only tenant admins and operators can open the administration page.")
        }
        let tenants = user.role == .operator ? try await self.repositories.tenants.list() : []
        let wanted = request.uri.queryParameters.get("tenant")
        let selected: Tenant?
        if user.role == .operator, let wanted {
            selected = tenants.first { $0.slug == wanted }
        } else {
            selected = try await self.repositories.tenants.find(id: user.tenantID)
        }
        var users: [User] = []
        var sessions: [AdminPage.SessionRow] = []
        if let selected {
            users = try await self.repositories.users.list(tenantID: selected.id)
            let emails = Dictionary(uniqueKeysWithValues: users.map { ($0.id, $0.email) })
            let live = try await self.sessions.tenantSessions(selected, by: user)
            let usage = try await self.sessions.usage(of: live, by: user)
            sessions = live.map {
                AdminPage.SessionRow(session: SessionRow($0), userEmail: emails[$0.userID] ?? "", usage: usage[$0.id])
            }
        }
        let grantable = Role.allCases.filter { (try? AccessPolicy.requireGrant(of: $0, by: user)) != nil }
        let alerts = await self.sessions.alerts(visibleTo: user).map {
            AdminPage.AlertRow(sessionId: $0.sessionID.description, message: $0.message, since: $0.since.formatted(.iso8601))
        }
        let page = AdminPage(
            page: chrome,
            isOperator: user.role == .operator,
            tenants: tenants.map { AdminPage.TenantRow(tenant: $0, selected: $0.id == selected?.id) },
            selected: selected.map { AdminPage.TenantRow(tenant: $0, selected: true) },
            users: users.map(AdminPage.UserRow.init),
            roles: grantable.map(\.rawValue),
            sessions: sessions,
            hasSessions: !sessions.isEmpty,
            alerts: alerts,
            hasAlerts: !alerts.isEmpty,
            graceMinutes: (selected?.graceSeconds).map { $0 / 60 }
        )
        return try self.pages.render("admin", page)
    }
}

/// What every page shows around its content: the title and who is signed in.
struct PageChrome: Hashable, Sendable {
    struct SignedIn: Hashable, Sendable {
        var name: String
        var email: String
        var role: String
        var tenantName: String
        var tenantSlug: String?
        var canAdminister: Bool
        var isTeam: Bool

        init(user: User, tenant: Tenant?) {
            self.name = user.name
            self.email = user.email
            self.role = user.role.rawValue
            self.tenantName = tenant?.name ?? ""
            self.tenantSlug = tenant?.slug
            self.canAdminister = user.role == .operator || user.role == .tenantAdmin
            self.isTeam = AccessPolicy.isSupportTeam(user)
        }
    }

    var title: String
    var user: SignedIn?
}

struct LoginPage {
    var page: PageChrome
    var next: String
}

struct HomePage {
    var page: PageChrome
    var sessions: [SessionRow]
    /// Stored, not computed: Mustache reads values through reflection, which sees stored properties only.
    var hasSessions: Bool
    var workspace: WorkspaceUsageLine?

    init(page: PageChrome, sessions: [SessionRow], workspace: WorkspaceUsageLine? = nil) {
        self.page = page
        self.sessions = sessions
        self.hasSessions = !sessions.isEmpty
        self.workspace = workspace
    }
}

/// The home page's line about the workspace's disk, and its warning from 90 %: when the volume
/// is full, programs fail to save, often with an error that does not say why.
struct WorkspaceUsageLine: Hashable, Sendable {
    /// "1.2 GiB of 10 GiB used", or the quota alone while the use is unknown.
    var text: String
    /// The warning to make room; `nil` below 90 % and while unknown.
    var warning: String?
    /// The whole percent used, for the page's meter; `nil` while unknown.
    var percent: Int?

    init(_ usage: WorkspaceUsage) {
        self.percent = usage.percent
        guard let used = usage.usedBytes, let quota = usage.quotaBytes, let percent = usage.percent else {
            self.text = "Your workspace can hold \(Self.grouped(usage.quotaGiB)) GiB."
            return
        }
        self.text = "\(Self.size(used)) of \(Self.size(quota)) used"
        if usage.isNearlyFull {
            self.warning =
                "Your workspace is \(percent) % full: \(Self.size(used)) of \(Self.size(quota)). Delete files or ask your "
                + "administrator for more space; when it is full, programs cannot save."
        }
    }

    /// "9.3 GiB" (rounded down, so a workspace short of full never reads as full), "10 GiB",
    /// and "312 MiB" under a gibibyte.
    static func size(_ bytes: Int) -> String {
        guard bytes >= 1 << 30 else { return "\(Self.grouped(max(0, bytes) >> 20)) MiB" }
        let tenths = (bytes * 10) >> 30
        let whole = Self.grouped(tenths / 10)
        return tenths % 10 == 0 ? "\(whole) GiB" : "\(whole).\(tenths % 10) GiB"
    }

    private static func grouped(_ value: Int) -> String {
        value.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_GB")))
    }
}

struct FilesPage {
    var page: PageChrome
}

struct ViewerPage {
    var page: PageChrome
    var session: SessionRow
}

/// A session as pages show it; times are ISO 8601 for the page's script to count down.
struct SessionRow: Hashable, Sendable {
    var id: String
    var kind: String
    var state: String
    var createdAt: String
    var expiresAt: String?
    var graceSeconds: Int
    var isHeld: Bool

    init(_ session: Session) {
        let machine = session.machine
        self.id = session.id.description
        self.kind = session.kind.rawValue
        self.state = machine.state.rawValue
        self.createdAt = machine.createdAt.formatted(.iso8601)
        self.expiresAt = machine.state == .held ? machine.expiresAt?.formatted(.iso8601) : nil
        self.graceSeconds = Int(machine.grace)
        self.isHeld = machine.state == .held
    }
}

struct VersionsPage {
    struct SnapshotRow {
        var id: String
        var shortId: String
        var time: String
        var selected: Bool
    }

    struct EntryRow {
        var snapshot: String
        var path: String
        var pathQuery: String
        var name: String
        var size: String
        var modifiedAt: String?
        var isDirectory: Bool
    }

    struct Crumb {
        var snapshot: String
        var path: String
        var name: String
    }

    struct Browse {
        var shortId: String
        var time: String
        var crumbs: [Crumb]
        var entries: [EntryRow]
        var hasEntries: Bool
    }

    var page: PageChrome
    var unavailable: String?
    var snapshots: [SnapshotRow] = []
    var hasSnapshots = false
    var browse: Browse?

    init(page: PageChrome, unavailable: String) {
        self.page = page
        self.unavailable = unavailable
    }

    init(page: PageChrome, snapshots: [Snapshot]) {
        self.page = page
        self.snapshots = snapshots.map { SnapshotRow(id: $0.id, shortId: $0.shortID, time: $0.time.formatted(.iso8601), selected: false) }
        self.hasSnapshots = !snapshots.isEmpty
    }

    mutating func select(_ snapshot: Snapshot, path: WorkspacePath, entries: [SnapshotEntry]) {
        for index in self.snapshots.indices where self.snapshots[index].id == snapshot.id {
            self.snapshots[index].selected = true
        }
        var crumbs = [Crumb(snapshot: snapshot.id, path: "", name: "workspace")]
        for depth in path.components.indices {
            let prefix = path.components[...depth].joined(separator: "/")
            crumbs.append(Crumb(snapshot: snapshot.id, path: Self.query(prefix), name: path.components[depth]))
        }
        let rows = entries.map {
            EntryRow(
                snapshot: snapshot.id, path: $0.path, pathQuery: Self.query($0.path), name: $0.name,
                size: $0.kind == .directory ? "—" : ByteText.format($0.size),
                modifiedAt: $0.modifiedAt?.formatted(.iso8601), isDirectory: $0.kind == .directory)
        }
        self.browse = Browse(
            shortId: snapshot.shortID, time: snapshot.time.formatted(.iso8601), crumbs: crumbs, entries: rows, hasEntries: !rows.isEmpty)
    }

    /// A path for a query string; Mustache escapes it for HTML.
    static func query(_ path: String) -> String {
        path.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+#"))) ?? path
    }
}

struct MessagePage {
    var page: PageChrome
    var heading: String
    var text: String
}

struct AdminPage {
    struct AlertRow {
        var sessionId: String
        var message: String
        var since: String
    }

    struct TenantRow {
        var name: String
        var slug: String
        var timeZone: String
        var selected: Bool

        init(tenant: Tenant, selected: Bool) {
            self.name = tenant.name
            self.slug = tenant.slug
            self.timeZone = tenant.timeZone
            self.selected = selected
        }
    }

    struct UserRow {
        var name: String
        var email: String
        var role: String
        var createdAt: String

        init(_ user: User) {
            self.name = user.name
            self.email = user.email
            self.role = user.role.rawValue
            self.createdAt = user.createdAt.formatted(.iso8601.year().month().day())
        }
    }

    struct SessionRow {
        var session: HoldfastHTTP.SessionRow
        var userEmail: String
        /// "312 MiB of 2,048 MiB"; `nil` when unknown.
        var memory: String?
        /// "12 of 512"; `nil` when unknown.
        var processes: String?
        /// Near a limit (90 % or more of memory or processes): the row is marked.
        var nearLimit: Bool

        init(session: HoldfastHTTP.SessionRow, userEmail: String, usage: SessionUsage?) {
            self.session = session
            self.userEmail = userEmail
            let mebibyte = 1024 * 1024
            if let used = usage?.memoryBytes {
                let limit = usage?.memoryLimitBytes.map { " of \(Self.grouped($0 / mebibyte)) MiB" } ?? ""
                self.memory = "\(Self.grouped(used / mebibyte)) MiB" + limit
            }
            if let pids = usage?.pids {
                self.processes = "\(Self.grouped(pids))" + (usage?.pidsLimit.map { " of \(Self.grouped($0))" } ?? "")
            }
            func near(_ used: Int?, _ limit: Int?) -> Bool {
                guard let used, let limit, limit > 0 else { return false }
                return used * 10 >= limit * 9
            }
            self.nearLimit = near(usage?.memoryBytes, usage?.memoryLimitBytes) || near(usage?.pids, usage?.pidsLimit)
        }

        private static func grouped(_ value: Int) -> String {
            value.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_GB")))
        }
    }

    var page: PageChrome
    var isOperator: Bool
    var tenants: [TenantRow]
    var selected: TenantRow?
    var users: [UserRow]
    var roles: [String]
    var sessions: [SessionRow]
    var hasSessions: Bool
    var alerts: [AlertRow]
    var hasAlerts: Bool
    /// The tenant's own grace in minutes, `nil` when it uses the server default.
    var graceMinutes: Int?
}
