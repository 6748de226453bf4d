import Foundation
import HoldfastCore
import Synchronization

/// Repositories kept in memory, for tests of code above the store. They obey the same
/// contract suite as the SQL ones, so a test passing here means the same against SQL.
public final class InMemoryStore: Sendable {
    struct State {
        var tenants: [Tenant.ID: Tenant] = [:]
        var users: [User.ID: (user: User, hash: String)] = [:]
        var tokens: [String: AccessToken] = [:]
        var sessions: [Session.ID: Session] = [:]
        var events: [Session.ID: [SessionEvent]] = [:]
        var tickets: [String: AttachTicket] = [:]
        var uids: [User.ID: UInt32] = [:]
        var settings: [String: String] = [:]
        var audit: [AuditEvent] = []
        var nodes: [String: (node: Node, identity: String, instance: String, draining: Bool)] = [:]
        var duties: [String: (node: String, instance: String, leaseExpiresAt: Date)] = [:]
    }

    let state = Mutex(State())
    /// The support desk's tickets, suggestions and outbox, behind their own lock (their changes never touch
    /// the accounts or sessions above, and a ticket change and its outbox rows stay atomic there).
    public let support = InMemorySupportStore()

    public init() {}

    public var repositories: Repositories {
        Repositories(
            tenants: InMemoryTenantRepository(store: self),
            users: InMemoryUserRepository(store: self),
            accessTokens: InMemoryAccessTokenRepository(store: self),
            sessions: InMemorySessionRepository(store: self),
            tickets: self.support.tickets,
            suggestions: self.support.suggestions,
            outbox: self.support.outbox,
            settings: InMemorySettingsRepository(store: self),
            incidents: self.support.incidents,
            maintenance: self.support.maintenance,
            usage: self.support.usage,
            continuity: self.support.continuity,
            audit: InMemoryAuditRepository(store: self),
            nodes: InMemoryNodeRepository(store: self)
        )
    }
}

struct InMemoryAuditRepository: AuditRepository {
    let store: InMemoryStore

    func append(_ event: AuditEvent) async throws {
        self.store.state.withLock { $0.audit.append(event) }
    }

    func list(_ query: AuditQuery) async throws -> [AuditEvent] {
        let all = self.store.state.withLock { $0.audit }
        let matching = all.filter { event in
            (query.tenantID == nil || event.tenantID == query.tenantID) && (query.since.map { event.at >= $0 } ?? true)
                && (query.until.map { event.at < $0 } ?? true)
        }
        // Newest first; the order of appending breaks ties, as the SQL store's sequence does.
        let ordered = matching.enumerated().sorted { ($0.element.at, $0.offset) > ($1.element.at, $1.offset) }.map(\.element)
        return Array(ordered.dropFirst(query.offset).prefix(query.limit))
    }
}

struct InMemorySettingsRepository: SettingsRepository {
    let store: InMemoryStore

    func value(for key: String) async throws -> String? {
        self.store.state.withLock { $0.settings[key] }
    }

    func set(_ value: String, for key: String, at now: Date) async throws {
        self.store.state.withLock { $0.settings[key] = value }
    }
}

struct InMemoryTenantRepository: TenantRepository {
    let store: InMemoryStore

    func create(_ tenant: Tenant) async throws {
        try self.store.state.withLock { state in
            guard !state.tenants.values.contains(where: { $0.slug == tenant.slug }) else {
                throw CoreError.conflict("slug_taken", "The slug '\(tenant.slug)' is already taken; choose another.")
            }
            state.tenants[tenant.id] = tenant
        }
    }

    func find(id: Tenant.ID) async throws -> Tenant? {
        self.store.state.withLock { $0.tenants[id] }
    }

    func find(slug: String) async throws -> Tenant? {
        self.store.state.withLock { $0.tenants.values.first { $0.slug == slug } }
    }

    func list() async throws -> [Tenant] {
        self.store.state.withLock { $0.tenants.values.sorted { $0.slug < $1.slug } }
    }

    func update(_ tenant: Tenant) async throws {
        try self.store.state.withLock { state in
            guard let stored = state.tenants[tenant.id] else { throw CoreError.notFound("There is no tenant '\(tenant.slug)'.") }
            var updated = tenant
            updated.slug = stored.slug
            state.tenants[tenant.id] = updated
        }
    }
}

struct InMemoryUserRepository: UserRepository {
    let store: InMemoryStore

    func create(_ user: User, passwordHash: String) async throws {
        try self.store.state.withLock { state in
            guard state.tenants[user.tenantID] != nil else {
                throw CoreError.notFound("There is no tenant with id \(user.tenantID).")
            }
            guard !state.users.values.contains(where: { $0.user.email == user.email }) else {
                throw CoreError.conflict("email_taken", "A user with the e-mail '\(user.email)' already exists.")
            }
            state.users[user.id] = (user, passwordHash)
        }
    }

    func find(id: User.ID) async throws -> User? {
        self.store.state.withLock { $0.users[id]?.user }
    }

    func credentials(email: String) async throws -> (user: User, passwordHash: String)? {
        self.store.state.withLock { state in
            state.users.values.first { $0.user.email == email }.map { ($0.user, $0.hash) }
        }
    }

    func list(tenantID: Tenant.ID) async throws -> [User] {
        self.store.state.withLock { state in
            state.users.values.map(\.user).filter { $0.tenantID == tenantID }.sorted { $0.email < $1.email }
        }
    }

    func count(role: Role) async throws -> Int {
        self.store.state.withLock { $0.users.values.filter { $0.user.role == role }.count }
    }

    func unixUID(for userID: User.ID, firstUID: UInt32) async throws -> UInt32 {
        self.store.state.withLock { state in
            if let uid = state.uids[userID] { return uid }
            let uid = max(firstUID, (state.uids.values.max() ?? 0) + 1)
            state.uids[userID] = uid
            return uid
        }
    }
}

struct InMemoryAccessTokenRepository: AccessTokenRepository {
    let store: InMemoryStore

    func create(_ token: AccessToken) async throws {
        self.store.state.withLock { $0.tokens[token.digest] = token }
    }

    func find(digest: String) async throws -> AccessToken? {
        self.store.state.withLock { $0.tokens[digest] }
    }

    func delete(digest: String) async throws {
        _ = self.store.state.withLock { $0.tokens.removeValue(forKey: digest) }
    }

    func deleteExpired(before date: Date) async throws -> Int {
        self.store.state.withLock { state in
            let expired = state.tokens.filter { $0.value.expiresAt < date }.map(\.key)
            expired.forEach { state.tokens[$0] = nil }
            return expired.count
        }
    }
}

struct InMemorySessionRepository: SessionRepository {
    let store: InMemoryStore

    func create(_ session: Session, events: [SessionEvent]) async throws {
        try self.store.state.withLock { state in
            guard state.sessions[session.id] == nil else {
                throw CoreError.conflict("session_exists", "A session with id \(session.id) exists.")
            }
            state.sessions[session.id] = session
            state.events[session.id] = events
        }
    }

    func save(_ session: Session, events: [SessionEvent]) async throws {
        try self.store.state.withLock { state in
            guard let stored = state.sessions[session.id] else {
                throw CoreError.notFound("There is no session \(session.id).")
            }
            guard session.revision == stored.revision + 1 else {
                throw CoreError.conflict(
                    "session_changed", "Session \(session.id) is at revision \(stored.revision), not \(session.revision - 1).")
            }
            state.sessions[session.id] = session
            state.events[session.id, default: []].append(contentsOf: events)
        }
    }

    func find(id: Session.ID) async throws -> Session? {
        self.store.state.withLock { $0.sessions[id] }
    }

    func list(userID: User.ID, includeClosed: Bool) async throws -> [Session] {
        self.store.state.withLock { state in
            Self.newestFirst(state.sessions.values.filter { $0.userID == userID && (includeClosed || $0.state != .closed) })
        }
    }

    func newest(userID: User.ID, limit: Int) async throws -> [Session] {
        Array(try await self.list(userID: userID, includeClosed: true).prefix(limit))
    }

    func listLive(tenantID: Tenant.ID) async throws -> [Session] {
        self.store.state.withLock { state in
            Self.newestFirst(state.sessions.values.filter { $0.tenantID == tenantID && $0.state != .closed })
        }
    }

    func listLive() async throws -> [Session] {
        self.store.state.withLock { state in Self.newestFirst(state.sessions.values.filter { $0.state != .closed }) }
    }

    func events(sessionID: Session.ID) async throws -> [SessionEvent] {
        self.store.state.withLock { $0.events[sessionID] ?? [] }
    }

    func createTicket(_ ticket: AttachTicket) async throws {
        self.store.state.withLock { $0.tickets[ticket.digest] = ticket }
    }

    func redeemTicket(digest: String, now: Date) async throws -> AttachTicket? {
        self.store.state.withLock { state in
            state.tickets = state.tickets.filter { $0.value.expiresAt > now }
            return state.tickets.removeValue(forKey: digest)
        }
    }

    private static func newestFirst(_ sessions: some Sequence<Session>) -> [Session] {
        sessions.sorted { ($0.machine.createdAt, $0.id.description) > ($1.machine.createdAt, $1.id.description) }
    }
}

/// Nodes in memory; the "database clock" is this process's.
struct InMemoryNodeRepository: NodeRepository {
    let store: InMemoryStore

    private static func milliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }

    private static func seen(_ entry: (node: Node, identity: String, instance: String, draining: Bool), now: Date) -> Node {
        var node = entry.node
        node.state = node.leaseExpiresAt <= now ? .down : entry.draining ? .draining : .up
        return node
    }

    func register(_ registration: NodeRegistration, lease: Duration) async throws -> Node {
        let now = Self.milliseconds(Date())
        return try self.store.state.withLock { state in
            let draining = state.nodes[registration.name]?.draining ?? false
            if let held = state.nodes[registration.name], held.identity != registration.identity,
                Self.seen(held, now: now).state != .down
            {
                throw CoreError.conflict(
                    "node_name_taken", "Another server is running as node '\(registration.name)' (at \(held.node.url)).")
            }
            let node = Node(
                name: registration.name, url: registration.url, state: .up, startedAt: now, lastSeenAt: now,
                leaseExpiresAt: now.addingTimeInterval(lease.timeInterval))
            let entry = (node: node, identity: registration.identity, instance: registration.instance, draining: draining)
            state.nodes[registration.name] = entry
            return Self.seen(entry, now: now)
        }
    }

    func renew(_ registration: NodeRegistration, lease: Duration) async throws -> Node? {
        let now = Self.milliseconds(Date())
        return self.store.state.withLock { state in
            guard var entry = state.nodes[registration.name], entry.instance == registration.instance else { return nil }
            entry.node.lastSeenAt = now
            entry.node.leaseExpiresAt = now.addingTimeInterval(lease.timeInterval)
            entry.node.url = registration.url
            state.nodes[registration.name] = entry
            return Self.seen(entry, now: now)
        }
    }

    func release(_ registration: NodeRegistration) async throws {
        let now = Self.milliseconds(Date())
        self.store.state.withLock { state in
            guard state.nodes[registration.name]?.instance == registration.instance else { return }
            state.nodes[registration.name]?.node.leaseExpiresAt = now
        }
    }

    func list() async throws -> [Node] {
        let now = Date()
        return self.store.state.withLock { state in
            state.nodes.values.map { Self.seen($0, now: now) }.sorted { $0.name < $1.name }
        }
    }

    func claimDuty(_ duty: String, for registration: NodeRegistration, lease: Duration) async throws -> Bool {
        let now = Self.milliseconds(Date())
        return self.store.state.withLock { state in
            if let held = state.duties[duty], held.instance != registration.instance, held.leaseExpiresAt > now,
                state.nodes[held.node]?.instance == held.instance
            {
                return false
            }
            state.duties[duty] = (registration.name, registration.instance, now.addingTimeInterval(lease.timeInterval))
            return true
        }
    }

    func releaseDuty(_ duty: String, for registration: NodeRegistration) async throws {
        let now = Self.milliseconds(Date())
        self.store.state.withLock { state in
            guard state.duties[duty]?.instance == registration.instance else { return }
            state.duties[duty]?.leaseExpiresAt = now
        }
    }

    func dutyHolders() async throws -> [String: String] {
        let now = Date()
        return self.store.state.withLock { state in state.duties.filter { $0.value.leaseExpiresAt > now }.mapValues(\.node) }
    }

    func setDraining(_ name: String, _ draining: Bool) async throws -> Node? {
        let now = Date()
        return self.store.state.withLock { state in
            guard state.nodes[name] != nil else { return nil }
            state.nodes[name]?.draining = draining
            return state.nodes[name].map { Self.seen($0, now: now) }
        }
    }
}
