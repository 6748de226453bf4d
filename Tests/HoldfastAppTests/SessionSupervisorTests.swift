import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastHTTP
import HoldfastTestSupport
import Logging
import Synchronization
import Testing

/// The supervisor carrying out the state machine's actions, with a fake host and a manual clock.
@Suite("Session supervisor")
struct SessionSupervisorTests {
    struct Fixture {
        let store = InMemoryStore()
        let host = FakeHost()
        let clock = ManualClock()
        let user: User
        let workspaces = FileManager.default.temporaryDirectory.appendingPathComponent("hf-ws-\(UUID().uuidString)").path

        init() async throws {
            let tenant = Tenant(name: "Acme", slug: "acme", graceSeconds: 600, createdAt: self.clock.now())
            try await self.store.repositories.tenants.create(tenant)
            self.user = User(tenantID: tenant.id, email: "ann@acme.test", name: "Ann", role: .member, createdAt: self.clock.now())
            try await self.store.repositories.users.create(self.user, passwordHash: "h")
        }

        func supervisor() -> SessionSupervisor {
            var configuration = SessionSupervisor.Configuration(workspacesDirectory: self.workspaces)
            configuration.heartbeat = 10
            return SessionSupervisor(
                configuration: configuration, repositories: self.store.repositories, host: self.host,
                accountFor: { _ in nil }, now: { [clock] in clock.now() }, logger: Logger(label: "test")
            )
        }

        func events(_ id: Session.ID) async throws -> [SessionEventType] {
            try await self.store.repositories.sessions.events(sessionID: id).map(\.type)
        }

        func stored(_ id: Session.ID) async throws -> Session {
            try #require(try await self.store.repositories.sessions.find(id: id))
        }
    }

    @Test func aDroppedSessionIsHeldFromTheLastTrafficAndClosesAtItsDeadline() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        let attachment = try await supervisor.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        fixture.clock.advance(by: 42)
        let lastTraffic = fixture.clock.now()
        await supervisor.trafficReceived(attachment, at: lastTraffic)
        fixture.clock.advance(by: 15)
        await supervisor.detached(attachment, lastTrafficAt: lastTraffic)

        let held = try await fixture.stored(session.id)
        #expect(held.state == .held)
        #expect(held.machine.lostAt == lastTraffic)
        #expect(held.machine.expiresAt == lastTraffic.addingTimeInterval(600))

        fixture.clock.advance(by: 600 - 15 - 0.001)
        await supervisor.tick()
        #expect(try await fixture.stored(session.id).state == .held)
        fixture.clock.advance(by: 0.001)
        await supervisor.tick()
        #expect(try await fixture.stored(session.id).state == .closed)
        #expect(try await fixture.host.runningSessions().isEmpty)
        #expect(try await fixture.events(session.id) == [.started, .attached, .lost, .expired, .closed])
    }

    @Test func aSilentClientIsDroppedAfterTwoHeartbeatsDatedByItsLastTraffic() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        let dropped = Mutex(false)
        let attachment = try await supervisor.attach(
            session.id, user: fixture.user, columns: 80, rows: 24, disconnect: { dropped.withLock { $0 = true } })
        let lastTraffic = fixture.clock.now()
        await supervisor.trafficReceived(attachment, at: lastTraffic)
        fixture.clock.advance(by: 19.9)
        await supervisor.tick()
        #expect(!dropped.withLock { $0 })
        fixture.clock.advance(by: 0.1)
        await supervisor.tick()
        #expect(dropped.withLock { $0 })
        let held = try await fixture.stored(session.id)
        #expect(held.state == .held)
        #expect(held.machine.lostAt == lastTraffic)
    }

    @Test func aResumeBeforeTheDeadlineKeepsTheSession() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        let first = try await supervisor.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        await supervisor.detached(first, lastTrafficAt: fixture.clock.now())
        fixture.clock.advance(by: 599.999)
        _ = try await supervisor.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        #expect(try await fixture.stored(session.id).state == .connected)
        #expect(try await fixture.events(session.id) == [.started, .attached, .lost, .resumed])
    }

    @Test func aRestartedSupervisorAdoptsLiveSessionsAndClosesDeadOnes() async throws {
        let fixture = try await Fixture()
        let before = fixture.supervisor()
        let alive = try await before.start(kind: .terminal, for: fixture.user)
        _ = try await before.attach(alive.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        let dead = try await before.start(kind: .terminal, for: fixture.user)
        fixture.host.kill(dead.id)
        fixture.clock.advance(by: 30)

        let after = fixture.supervisor()
        try await after.adoptAll()
        let adopted = try await fixture.stored(alive.id)
        #expect(adopted.state == .held)
        #expect(try await fixture.events(alive.id).contains(.adopted))
        #expect(try await fixture.stored(dead.id).state == .closed)
        #expect(try await fixture.stored(dead.id).machine.closeReason == .processesDied)
        #expect(await after.liveCount == 1)
    }

    @Test func aFailedCloseKeepsTheSessionClosingAndRetries() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        fixture.host.setFailures(terminate: true)
        _ = try await supervisor.close(session.id, by: fixture.user)
        #expect(try await fixture.stored(session.id).state == .closing)
        #expect(try await fixture.events(session.id).last == .failed)

        fixture.host.setFailures()
        fixture.clock.advance(by: 5)
        await supervisor.tick()
        #expect(try await fixture.stored(session.id).state == .closed)
    }

    @Test func aShellThatExitedClosesTheSession() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        fixture.host.kill(session.id)
        await supervisor.watchProcesses()
        let closed = try await fixture.stored(session.id)
        #expect(closed.state == .closed)
        #expect(closed.machine.closeReason == .processesDied)
    }
}
