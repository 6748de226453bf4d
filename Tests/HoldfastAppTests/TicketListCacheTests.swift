import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastTestSupport
import Synchronization
import Testing

/// The list cache may answer from memory only while that cannot hide a write of this server,
/// and never longer than its lifetime; and one customer's list is never another's.
@Suite("Ticket list cache: fresh after every write here, stale at most its lifetime")
struct TicketListCacheTests {
    /// Counts the reads that reach the store, optionally slowly, optionally failing.
    final class CountingRepository: TicketRepository {
        let base: any TicketRepository
        let reads = Mutex(0)
        let delay: Duration
        let failing = Mutex(false)

        init(_ base: any TicketRepository, delay: Duration = .zero) {
            self.base = base
            self.delay = delay
        }

        func read() async throws {
            self.reads.withLock { $0 += 1 }
            if self.delay > .zero { try await Task.sleep(for: self.delay) }
            if self.failing.withLock({ $0 }) { throw CoreError.invalidInput("store_down", "The store is down.") }
        }

        func list(requesterID: User.ID, limit: Int, offset: Int) async throws -> [Ticket] {
            try await self.read()
            return try await self.base.list(requesterID: requesterID, limit: limit, offset: offset)
        }

        func queue(tenantIDs: Set<Tenant.ID>?, limit: Int, offset: Int) async throws -> [Ticket] {
            try await self.read()
            return try await self.base.queue(tenantIDs: tenantIDs, limit: limit, offset: offset)
        }

        func create(
            _ ticket: Ticket, replies: [TicketReply], outbox: @Sendable (Ticket) throws -> [OutboxMessage]
        ) async throws -> Ticket {
            try await self.base.create(ticket, replies: replies, outbox: outbox)
        }

        func save(_ ticket: Ticket, replies: [TicketReply], outbox: [OutboxMessage]) async throws {
            try await self.base.save(ticket, replies: replies, outbox: outbox)
        }

        func find(id: Ticket.ID) async throws -> Ticket? { try await self.base.find(id: id) }
        func find(number: Int) async throws -> Ticket? { try await self.base.find(number: number) }
        func replies(of ticketID: Ticket.ID) async throws -> [TicketReply] { try await self.base.replies(of: ticketID) }
    }

    let tenant = Tenant.ID()
    let ann = User.ID()
    let bob = User.ID()
    let clock = ManualClock()

    func ticket(by requester: User.ID, subject: String = "Terminal froze") -> Ticket {
        Ticket(
            id: .init(), number: 0, tenantID: self.tenant, requesterID: requester, kind: .bug, channel: .web, status: .new,
            priority: .normal, subject: subject, description: "It froze.", occurredAt: self.clock.now(), whatHappened: "Froze.",
            sessionID: nil, createdAt: self.clock.now(), firstResponseTargetMinutes: 240,
            firstResponseDueAt: self.clock.now().addingTimeInterval(4 * 3_600), assigneeID: nil)
    }

    func fixture(
        delay: Duration = .zero, lifetime: TimeInterval = 1, capacity: Int = 512
    ) -> (TicketListCache, CountingRepository, any TicketRepository) {
        let store = InMemorySupportStore().tickets
        let counting = CountingRepository(store, delay: delay)
        let clock = self.clock
        return (TicketListCache(counting, lifetime: lifetime, capacity: capacity, now: { clock.now() }), counting, store)
    }

    @Test("Past its capacity the cache drops what it holds, and the lists stay right")
    func capacity() async throws {
        let (cache, counting, _) = self.fixture(capacity: 2)
        let requesters = [self.ann, self.bob, User.ID()]
        for requester in requesters {
            _ = try await cache.create(self.ticket(by: requester, subject: "\(requester)"), replies: [], outbox: { _ in [] })
        }
        for requester in requesters {
            #expect(try await cache.list(requesterID: requester, limit: 50, offset: 0).map(\.subject) == ["\(requester)"])
        }
        #expect(counting.reads.withLock { $0 } == 3)
        // Ann's list was dropped to make room for the third; Bob's was dropped with it.
        #expect(try await cache.list(requesterID: self.ann, limit: 50, offset: 0).map(\.subject) == ["\(self.ann)"])
        #expect(counting.reads.withLock { $0 } == 4)
    }

    @Test("A list read again within the lifetime comes from memory; after it, from the store")
    func lifetime() async throws {
        let (cache, counting, _) = self.fixture()
        _ = try await cache.create(self.ticket(by: self.ann), replies: [], outbox: { _ in [] })
        let first = try await cache.queue(tenantIDs: nil, limit: 50, offset: 0)
        let second = try await cache.queue(tenantIDs: nil, limit: 50, offset: 0)
        #expect(first.map(\.id) == second.map(\.id) && first.count == 1)
        #expect(counting.reads.withLock { $0 } == 1)
        self.clock.advance(by: 0.999)
        _ = try await cache.queue(tenantIDs: nil, limit: 50, offset: 0)
        #expect(counting.reads.withLock { $0 } == 1)
        self.clock.advance(by: 0.001)
        _ = try await cache.queue(tenantIDs: nil, limit: 50, offset: 0)
        #expect(counting.reads.withLock { $0 } == 2)
        #expect(cache.statistics == .init(hits: 2, misses: 2))
    }

    @Test("Filing or changing a ticket here shows in the very next list")
    func writesHereInvalidate() async throws {
        let (cache, counting, _) = self.fixture()
        let first = try await cache.create(self.ticket(by: self.ann), replies: [], outbox: { _ in [] })
        #expect(try await cache.list(requesterID: self.ann, limit: 50, offset: 0).count == 1)
        _ = try await cache.create(self.ticket(by: self.ann, subject: "Second"), replies: [], outbox: { _ in [] })
        #expect(try await cache.list(requesterID: self.ann, limit: 50, offset: 0).count == 2)
        var changed = try #require(try await cache.find(id: first.id))
        changed.status = .open
        changed.revision += 1
        try await cache.save(changed, replies: [], outbox: [])
        let listed = try await cache.list(requesterID: self.ann, limit: 50, offset: 0)
        #expect(listed.first { $0.id == first.id }?.status == .open)
        #expect(counting.reads.withLock { $0 } == 3)
    }

    @Test("A write this server did not make (mail-gate, another server) shows once the lifetime is over")
    func writesElsewhereWithinLifetime() async throws {
        let (cache, _, store) = self.fixture()
        #expect(try await cache.queue(tenantIDs: [self.tenant], limit: 50, offset: 0).isEmpty)
        _ = try await store.create(self.ticket(by: self.bob), replies: [], outbox: { _ in [] })
        #expect(try await cache.queue(tenantIDs: [self.tenant], limit: 50, offset: 0).isEmpty)
        self.clock.advance(by: 1)
        #expect(try await cache.queue(tenantIDs: [self.tenant], limit: 50, offset: 0).count == 1)
    }

    @Test("Each requester, tenant set and page has its own entry")
    func scopes() async throws {
        let (cache, _, _) = self.fixture()
        _ = try await cache.create(self.ticket(by: self.ann, subject: "Ann's"), replies: [], outbox: { _ in [] })
        #expect(try await cache.list(requesterID: self.ann, limit: 50, offset: 0).map(\.subject) == ["Ann's"])
        #expect(try await cache.list(requesterID: self.bob, limit: 50, offset: 0).isEmpty)
        #expect(try await cache.list(requesterID: self.ann, limit: 50, offset: 1).isEmpty)
        #expect(try await cache.queue(tenantIDs: [Tenant.ID()], limit: 50, offset: 0).isEmpty)
        #expect(try await cache.queue(tenantIDs: [self.tenant], limit: 50, offset: 0).count == 1)
        #expect(try await cache.queue(tenantIDs: nil, limit: 50, offset: 0).count == 1)
    }

    @Test("Concurrent misses of one list make one read")
    func singleRead() async throws {
        let (cache, counting, _) = self.fixture(delay: .milliseconds(200))
        _ = try await cache.create(self.ticket(by: self.ann), replies: [], outbox: { _ in [] })
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<16 {
                group.addTask { try await cache.queue(tenantIDs: nil, limit: 50, offset: 0).count }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(counts == Array(repeating: 1, count: 16))
        #expect(counting.reads.withLock { $0 } == 1)
    }

    @Test("A failed read is not kept, and a lifetime of zero reads every time")
    func failuresAndOff() async throws {
        let (cache, counting, _) = self.fixture()
        counting.failing.withLock { $0 = true }
        await #expect(throws: CoreError.self) { try await cache.queue(tenantIDs: nil, limit: 50, offset: 0) }
        counting.failing.withLock { $0 = false }
        #expect(try await cache.queue(tenantIDs: nil, limit: 50, offset: 0).isEmpty)
        #expect(counting.reads.withLock { $0 } == 2)

        let (off, offCounting, _) = self.fixture(lifetime: 0)
        for _ in 0..<3 { _ = try await off.queue(tenantIDs: nil, limit: 50, offset: 0) }
        #expect(offCounting.reads.withLock { $0 } == 3)
    }
}
