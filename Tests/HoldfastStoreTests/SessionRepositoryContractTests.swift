import Foundation
import HoldfastCore
import SQLKit
import Testing

@testable import HoldfastStore

/// The behaviour every session repository must share.
@Suite("Session repository contract")
struct SessionRepositoryContractTests {
    let start = Date(timeIntervalSince1970: 1_795_000_000.250)

    /// A tenant with two users, stored; returns the tenant and the users.
    func seed(_ repositories: Repositories) async throws -> (Tenant, User, User) {
        let tenant = Tenant(name: "Acme", slug: "acme", createdAt: self.start)
        try await repositories.tenants.create(tenant)
        let ann = User(tenantID: tenant.id, email: "ann@acme.test", name: "Ann", role: .member, createdAt: self.start)
        let bob = User(tenantID: tenant.id, email: "bob@acme.test", name: "Bob", role: .member, createdAt: self.start)
        try await repositories.users.create(ann, passwordHash: "h")
        try await repositories.users.create(bob, passwordHash: "h")
        return (tenant, ann, bob)
    }

    func session(of user: User, at offset: TimeInterval, state: SessionState = .starting) -> Session {
        let created = self.start.addingTimeInterval(offset)
        return Session(
            tenantID: user.tenantID, userID: user.id, kind: .terminal,
            machine: .init(state: state, grace: 1800, createdAt: created, expiresAt: created.addingTimeInterval(1800))
        )
    }

    @Test(arguments: StoreKind.allCases)
    func sessionsRoundTripWithTheirTimeline(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let (_, ann, _) = try await self.seed(repositories)
            var session = self.session(of: ann, at: 0)
            let started = SessionEvent(at: self.start, type: .started, detail: "tmux up")
            try await repositories.sessions.create(session, events: [started])
            #expect(try await repositories.sessions.find(id: session.id) == session)

            session.machine.state = .held
            session.machine.lostAt = self.start.addingTimeInterval(61.5)
            session.machine.expiresAt = self.start.addingTimeInterval(61.5 + 1800)
            let lost = SessionEvent(at: self.start.addingTimeInterval(80), type: .lost, detail: "silent")
            let snapshot = SessionEvent(at: self.start.addingTimeInterval(81), type: .snapshot, detail: "abc")
            session.revision = 1
            try await repositories.sessions.save(session, events: [lost, snapshot])

            #expect(try await repositories.sessions.find(id: session.id) == session)
            #expect(try await repositories.sessions.events(sessionID: session.id) == [started, lost, snapshot])
        }
    }

    /// A save carries the stored revision plus one: of two writers from one revision, the second is
    /// refused and leaves neither the state nor the timeline touched.
    @Test(arguments: StoreKind.allCases)
    func aSaveFromAStaleRevisionIsRefusedAndWritesNothing(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let (_, ann, _) = try await self.seed(repositories)
            let session = self.session(of: ann, at: 0)
            try await repositories.sessions.create(session, events: [])
            var first = session
            first.machine.state = .held
            first.revision = 1
            var second = session
            second.machine.state = .closing
            second.revision = 1
            try await repositories.sessions.save(first, events: [SessionEvent(at: self.start, type: .lost, detail: "first")])
            let refused = await #expect(throws: CoreError.self) {
                try await repositories.sessions.save(second, events: [SessionEvent(at: self.start, type: .closing, detail: "second")])
            }
            #expect(refused?.code == "session_changed")
            #expect(try await repositories.sessions.find(id: session.id) == first)
            #expect(try await repositories.sessions.events(sessionID: session.id).map(\.detail) == ["first"])
            // A revision that skips one is refused too.
            second.revision = 3
            await #expect(throws: CoreError.self) { try await repositories.sessions.save(second, events: []) }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func listsAreScopedAndNewestFirst(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let (tenant, ann, bob) = try await self.seed(repositories)
            let old = self.session(of: ann, at: 0)
            let new = self.session(of: ann, at: 10)
            let closed = self.session(of: ann, at: 5, state: .closed)
            let bobs = self.session(of: bob, at: 20, state: .held)
            for session in [old, new, closed, bobs] {
                try await repositories.sessions.create(session, events: [])
            }
            #expect(try await repositories.sessions.list(userID: ann.id, includeClosed: false).map(\.id) == [new.id, old.id])
            #expect(try await repositories.sessions.list(userID: ann.id, includeClosed: true).map(\.id) == [new.id, closed.id, old.id])
            #expect(try await repositories.sessions.newest(userID: ann.id, limit: 2).map(\.id) == [new.id, closed.id])
            #expect(try await repositories.sessions.newest(userID: ann.id, limit: 10).map(\.id) == [new.id, closed.id, old.id])
            #expect(try await repositories.sessions.newest(userID: bob.id, limit: 1).map(\.id) == [bobs.id])
            #expect(try await repositories.sessions.listLive(tenantID: tenant.id).map(\.id) == [bobs.id, new.id, old.id])
            #expect(try await repositories.sessions.listLive().count == 3)
            #expect(try await repositories.sessions.listLive(tenantID: Tenant.ID()).isEmpty)
        }
    }

    /// The support form asks for a user's ten newest sessions on every miss of its cache; a user with
    /// years of sessions must not make that a scan and a sort of all of them.
    @Test(arguments: StoreKind.sql)
    func aUsersNewestSessionsComeOffAnIndexInOrder(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, database in
            let (_, ann, bob) = try await self.seed(repositories)
            for (index, user) in [ann, bob, ann, ann].enumerated() {
                try await repositories.sessions.create(self.session(of: user, at: TimeInterval(index)), events: [])
            }
            let plan = try await database!.withTransaction { sql in
                let newest = SQLSessionRepository.newest(sql, userID: ann.id, limit: 10).select
                switch kind {
                case .postgres:
                    // Four rows would be read straight through; ask what the planner does when reading
                    // and sorting them costs as much as it would with many. It sorts only if it must.
                    for method in ["seqscan", "bitmapscan", "sort"] {
                        try await sql.raw("SET LOCAL enable_\(unsafeRaw: method) = off").run()
                    }
                    return try await sql.raw("EXPLAIN \(newest)").all().map { try $0.decode(column: "QUERY PLAN", as: String.self) }
                default:
                    return try await sql.raw("EXPLAIN QUERY PLAN \(newest)").all().map { try $0.decode(column: "detail", as: String.self) }
                }
            }
            let text = plan.joined(separator: "\n")
            #expect(text.contains("sessions_user_created"), "not read off the index:\n\(text)")
            #expect(!text.contains("Sort") && !text.contains("TEMP B-TREE"), "sorted after reading:\n\(text)")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aTicketWorksOnceAndNotAfterItExpires(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let (_, ann, _) = try await self.seed(repositories)
            let session = self.session(of: ann, at: 0)
            try await repositories.sessions.create(session, events: [])
            let expiry = self.start.addingTimeInterval(30)
            try await repositories.sessions.createTicket(.init(digest: "t1", sessionID: session.id, userID: ann.id, expiresAt: expiry))
            try await repositories.sessions.createTicket(.init(digest: "t2", sessionID: session.id, userID: ann.id, expiresAt: expiry))

            let redeemed = try await repositories.sessions.redeemTicket(digest: "t1", now: self.start)
            #expect(redeemed?.sessionID == session.id)
            #expect(redeemed?.userID == ann.id)
            #expect(try await repositories.sessions.redeemTicket(digest: "t1", now: self.start) == nil)
            #expect(try await repositories.sessions.redeemTicket(digest: "t2", now: expiry) == nil)
            #expect(try await repositories.sessions.redeemTicket(digest: "nope", now: self.start) == nil)
        }
    }
}
