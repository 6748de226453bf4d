import Foundation
import HoldfastCore
import Synchronization

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
    public struct Statistics: Sendable, Equatable {
        public var hits = 0
        public var misses = 0

        public init(hits: Int = 0, misses: Int = 0) {
            self.hits = hits
            self.misses = misses
        }
    }

    private enum Scope: Hashable {
        case requester(User.ID)
        case queue(Set<Tenant.ID>?)
    }

    private struct Key: Hashable {
        var scope: Scope
        var limit: Int
        var offset: Int
    }

    private struct Entry {
        var readAt: Date
        var tickets: Task<[Ticket], any Error>
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var statistics = Statistics()
    }

    private let base: any TicketRepository
    private let lifetime: TimeInterval
    private let now: @Sendable () -> Date
    /// More lists than this (customers × pages) and the stale ones are dropped, or all of them:
    /// a page of 50 tickets is ~75 KB, so the cache holds at most ~40 MB.
    private let capacity: Int
    private let state = Mutex(State())

    public init(
        _ base: any TicketRepository, lifetime: TimeInterval = 1, capacity: Int = 512,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.base = base
        self.lifetime = lifetime
        self.capacity = capacity
        self.now = now
    }

    /// Hits and misses so far.
    public var statistics: Statistics {
        self.state.withLock { $0.statistics }
    }

    public func list(requesterID: User.ID, limit: Int, offset: Int) async throws -> [Ticket] {
        try await self.cached(Key(scope: .requester(requesterID), limit: limit, offset: offset)) { base in
            try await base.list(requesterID: requesterID, limit: limit, offset: offset)
        }
    }

    public func queue(tenantIDs: Set<Tenant.ID>?, limit: Int, offset: Int) async throws -> [Ticket] {
        try await self.cached(Key(scope: .queue(tenantIDs), limit: limit, offset: offset)) { base in
            try await base.queue(tenantIDs: tenantIDs, limit: limit, offset: offset)
        }
    }

    public func create(
        _ ticket: Ticket, replies: [TicketReply], outbox: @Sendable (Ticket) throws -> [OutboxMessage]
    ) async throws -> Ticket {
        defer { self.invalidate() }
        return try await self.base.create(ticket, replies: replies, outbox: outbox)
    }

    public func save(_ ticket: Ticket, replies: [TicketReply], outbox: [OutboxMessage]) async throws {
        defer { self.invalidate() }
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

    /// Forgets every list; called after each write of this server, committed or not.
    private func invalidate() {
        self.state.withLock { $0.entries.removeAll(keepingCapacity: true) }
    }

    private func cached(
        _ key: Key, read: @escaping @Sendable (any TicketRepository) async throws -> [Ticket]
    ) async throws -> [Ticket] {
        guard self.lifetime > 0 else {
            return try await read(self.base)
        }
        let now = self.now()
        let task = self.state.withLock { state -> Task<[Ticket], any Error> in
            if let entry = state.entries[key], now >= entry.readAt, now.timeIntervalSince(entry.readAt) < self.lifetime {
                state.statistics.hits += 1
                return entry.tickets
            }
            state.statistics.misses += 1
            if state.entries.count >= self.capacity {
                state.entries = state.entries.filter { now.timeIntervalSince($0.value.readAt) < self.lifetime }
                if state.entries.count >= self.capacity {
                    state.entries.removeAll(keepingCapacity: true)
                }
            }
            let base = self.base
            let task = Task { try await read(base) }
            state.entries[key] = Entry(readAt: now, tickets: task)
            return task
        }
        do {
            return try await task.value
        } catch {
            // A failed read is not kept: the next caller tries the store again.
            self.state.withLock { state in
                if state.entries[key]?.readAt == now { state.entries[key] = nil }
            }
            throw error
        }
    }
}
