import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastTestSupport
import Testing

/// The session-list and tenant caches follow the ticket list cache's rules (whose tests cover
/// the shared machinery: single reads, failures, capacity): a write through the cache shows at
/// once, a write it cannot see shows once the lifetime is over, and a lifetime of 0 reads the
/// store every time.
@Suite("Session list and tenant caches: fresh after every write here, stale at most their lifetime")
struct SessionAndTenantCacheTests {
    let clock = ManualClock()
    let store = InMemoryStore()

    func session(of user: User.ID, tenant: Tenant.ID, state: SessionState = .connected) -> Session {
        Session(
            tenantID: tenant, userID: user, kind: .terminal,
            machine: .init(state: state, grace: 1_800, createdAt: self.clock.now()))
    }

    @Test(arguments: [1.0, 0.0])
    func aUsersSessions(lifetime: TimeInterval) async throws {
        let clock = self.clock
        let base = self.store.repositories.sessions
        let cache = SessionListCache(base, lifetime: lifetime, now: { clock.now() })
        let (ann, bob, tenant) = (User.ID(), User.ID(), Tenant.ID())
        let first = self.session(of: ann, tenant: tenant)
        try await cache.create(first, events: [])
        #expect(try await cache.list(userID: ann, includeClosed: true).map(\.id) == [first.id])
        #expect(try await cache.list(userID: bob, includeClosed: true).isEmpty)

        // Another server's write: unseen until the lifetime is over (at once with the cache off).
        clock.advance(by: 0.5)
        let other = self.session(of: ann, tenant: tenant)
        try await base.create(other, events: [])
        let seen = try await cache.list(userID: ann, includeClosed: true).map(\.id)
        #expect(seen.count == (lifetime > 0 ? 1 : 2))
        clock.advance(by: 0.6)
        #expect(try await cache.list(userID: ann, includeClosed: true).count == 2)

        // A write through the cache: at once.
        var closed = first
        closed.machine.state = .closed
        closed.revision += 1
        try await cache.save(closed, events: [])
        #expect(try await cache.list(userID: ann, includeClosed: false).map(\.id) == [other.id])
        #expect(try await cache.list(userID: ann, includeClosed: true).count == 2)
        #expect(cache.statistics.hits == (lifetime > 0 ? 1 : 0))

        // The newest few, as the support form asks: kept apart from the full lists, emptied alike.
        #expect(try await cache.newest(userID: ann, limit: 1).map(\.state) == [.connected])
        var closedToo = other
        closedToo.machine.state = .closed
        closedToo.revision += 1
        try await cache.save(closedToo, events: [])
        #expect(try await cache.newest(userID: ann, limit: 1).map(\.state) == [.closed])
    }

    @Test(arguments: [1.0, 0.0])
    func tenants(lifetime: TimeInterval) async throws {
        let clock = self.clock
        let base = self.store.repositories.tenants
        let cache = TenantCache(base, lifetime: lifetime, now: { clock.now() })
        let acme = Tenant(name: "Acme", slug: "acme", createdAt: clock.now())
        #expect(try await cache.find(id: acme.id) == nil)
        try await cache.create(acme)
        #expect(try await cache.find(id: acme.id)?.name == "Acme")

        var renamed = acme
        renamed.name = "Acme Rockets"
        try await cache.update(renamed)
        #expect(try await cache.find(id: acme.id)?.name == "Acme Rockets")

        renamed.name = "Acme Space"
        try await base.update(renamed)
        #expect(try await cache.find(id: acme.id)?.name == (lifetime > 0 ? "Acme Rockets" : "Acme Space"))
        clock.advance(by: 1)
        #expect(try await cache.find(id: acme.id)?.name == "Acme Space")
    }
}
