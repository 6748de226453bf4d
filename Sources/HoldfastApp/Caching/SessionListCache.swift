import Foundation
import HoldfastCore

/// Keeps each user's session list for a moment, in front of the store: the portal's pages list
/// the user's sessions (the home page, the support form's "the session it happened in"), and a
/// page polled or reloaded would otherwise read them all each time.
///
/// Same rules as ``TicketListCache``: `create` and `save` (every state change the supervisor
/// records) empty the cache once their transaction has ended, and a list is never older than
/// `lifetime`, which bounds how late it shows another server's writes. Everything else goes
/// straight to the store.
public final class SessionListCache: SessionRepository {
    private enum Key: Hashable {
        case all(User.ID, includeClosed: Bool)
        case newest(User.ID, limit: Int)
    }

    private let base: any SessionRepository
    private let lists: ReadCache<Key, [Session]>

    public init(
        _ base: any SessionRepository, lifetime: TimeInterval = 1, capacity: Int = 4_096,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.base = base
        self.lists = ReadCache(lifetime: lifetime, capacity: capacity, now: now)
    }

    public var statistics: CacheStatistics {
        self.lists.statistics
    }

    public func list(userID: User.ID, includeClosed: Bool) async throws -> [Session] {
        let base = self.base
        return try await self.lists.value(for: .all(userID, includeClosed: includeClosed)) {
            try await base.list(userID: userID, includeClosed: includeClosed)
        }
    }

    public func newest(userID: User.ID, limit: Int) async throws -> [Session] {
        let base = self.base
        return try await self.lists.value(for: .newest(userID, limit: limit)) { try await base.newest(userID: userID, limit: limit) }
    }

    public func create(_ session: Session, events: [SessionEvent]) async throws {
        defer { self.lists.removeAll() }
        try await self.base.create(session, events: events)
    }

    public func save(_ session: Session, events: [SessionEvent]) async throws {
        defer { self.lists.removeAll() }
        try await self.base.save(session, events: events)
    }

    public func find(id: Session.ID) async throws -> Session? {
        try await self.base.find(id: id)
    }

    public func listLive(tenantID: Tenant.ID) async throws -> [Session] {
        try await self.base.listLive(tenantID: tenantID)
    }

    public func listLive() async throws -> [Session] {
        try await self.base.listLive()
    }

    public func events(sessionID: Session.ID) async throws -> [SessionEvent] {
        try await self.base.events(sessionID: sessionID)
    }

    public func createTicket(_ ticket: AttachTicket) async throws {
        try await self.base.createTicket(ticket)
    }

    public func redeemTicket(digest: String, now: Date) async throws -> AttachTicket? {
        try await self.base.redeemTicket(digest: digest, now: now)
    }
}
