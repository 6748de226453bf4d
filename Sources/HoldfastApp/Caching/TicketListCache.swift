import Foundation
import HoldfastCore

/// Keeps the ticket lists read in the last moment, in front of the store.
///
/// Agents' consoles and the API poll the same queue page over and over; without this, each
/// poll reads and decodes 50 rows. A list is served from memory while both hold:
///
/// - **no ticket was written through this server since it was read.** `create` and `save`
///   empty the cache once their transaction has ended, so a list read before (or during) a
///   write is never served after it, and whoever files or answers a ticket sees it in the next
///   list;
/// - **it is younger than `lifetime`** (1 s by default). That bounds how late a list shows the
///   writes this server cannot see: `holdfast mail-gate` filing a mailed ticket, or another
///   server on the same PostgreSQL.
///
/// Concurrent misses of one list share a single read. Single tickets, replies and writes go
/// straight to the store. A `lifetime` of zero turns the cache off.
public final class TicketListCache: TicketRepository {
    private enum Scope: Hashable {
        case requester(User.ID)
        case queue(Set<Tenant.ID>?)
    }

    private struct Key: Hashable {
        var scope: Scope
        var limit: Int
        var offset: Int
    }

    private let base: any TicketRepository
    /// More lists than `capacity` (customers × pages) and the stale ones are dropped, or all of
    /// them: a page of 50 tickets is ~75 KB, so the cache holds at most ~40 MB.
    private let lists: ReadCache<Key, [Ticket]>

    public init(
        _ base: any TicketRepository, lifetime: TimeInterval = 1, capacity: Int = 512,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.base = base
        self.lists = ReadCache(lifetime: lifetime, capacity: capacity, now: now)
    }

    /// Hits and misses so far.
    public var statistics: CacheStatistics {
        self.lists.statistics
    }

    public func list(requesterID: User.ID, limit: Int, offset: Int) async throws -> [Ticket] {
        let base = self.base
        return try await self.lists.value(for: Key(scope: .requester(requesterID), limit: limit, offset: offset)) {
            try await base.list(requesterID: requesterID, limit: limit, offset: offset)
        }
    }

    public func queue(tenantIDs: Set<Tenant.ID>?, limit: Int, offset: Int) async throws -> [Ticket] {
        let base = self.base
        return try await self.lists.value(for: Key(scope: .queue(tenantIDs), limit: limit, offset: offset)) {
            try await base.queue(tenantIDs: tenantIDs, limit: limit, offset: offset)
        }
    }

    public func create(
        _ ticket: Ticket, replies: [TicketReply], outbox: @Sendable (Ticket) throws -> [OutboxMessage]
    ) async throws -> Ticket {
        defer { self.lists.removeAll() }
        return try await self.base.create(ticket, replies: replies, outbox: outbox)
    }

    public func save(_ ticket: Ticket, replies: [TicketReply], outbox: [OutboxMessage]) async throws {
        defer { self.lists.removeAll() }
        try await self.base.save(ticket, replies: replies, outbox: outbox)
    }

    public func find(id: Ticket.ID) async throws -> Ticket? {
        try await self.base.find(id: id)
    }

    public func find(number: Int) async throws -> Ticket? {
        try await self.base.find(number: number)
    }

    public func replies(of ticketID: Ticket.ID) async throws -> [TicketReply] {
        try await self.base.replies(of: ticketID)
    }
}
