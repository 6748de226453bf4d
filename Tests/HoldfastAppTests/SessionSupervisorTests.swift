import Foundation
import HoldfastCore
import HoldfastHTTP
import HoldfastTestSupport
import Logging
import Synchronization
import Testing

@testable import HoldfastApp

/// The supervisor carrying out the state machine's actions, with a fake host and a manual clock.
@Suite("Session supervisor")
struct SessionSupervisorTests {
    struct Fixture {
        let store = InMemoryStore()
        let host = FakeHost()
        let clock = ManualClock()
        let user: User
        let workspaces = FileManager.default.temporaryDirectory.appendingPathComponent("hf-ws-\(UUID().uuidString)").path
        let driver: FakeBackupDriver
        let backups: WorkspaceBackups

        init() async throws {
            self.driver = FakeBackupDriver(now: { [clock] in clock.now() })
            self.backups = WorkspaceBackups(
                configuration: .init(workspacesDirectory: self.workspaces, restoresDirectory: self.workspaces + "-restores"),
                driver: self.driver, repositories: self.store.repositories, accountFor: { _ in nil }, now: { [clock] in clock.now() },
                logger: Logger(label: "test"))
            let tenant = Tenant(name: "Acme", slug: "acme", graceSeconds: 600, createdAt: self.clock.now())
            try await self.store.repositories.tenants.create(tenant)
            self.user = User(tenantID: tenant.id, email: "ann@acme.test", name: "Ann", role: .member, createdAt: self.clock.now())
            try await self.store.repositories.users.create(self.user, passwordHash: "h")
        }

        func supervisor(snapshotInterval: TimeInterval = 300, node: String? = nil) -> SessionSupervisor {
            var configuration = SessionSupervisor.Configuration()
            configuration.node = node
            configuration.heartbeat = 10
            configuration.snapshotInterval = snapshotInterval
            return SessionSupervisor(
                configuration: configuration, repositories: self.store.repositories, host: self.host, backups: self.backups,
                accountFor: { _ in nil }, now: { [clock] in clock.now() }, logger: Logger(label: "test")
            )
        }

        /// Writes a small file into the session's workspace (an empty one has nothing to back up).
        func write(_ name: String, in session: Session) throws {
            let workspace = self.backups.workspace(tenant: session.tenantID, user: session.userID)
            try Data("\(name)\n".utf8).write(to: URL(fileURLWithPath: workspace + "/" + name))
        }

        func events(_ id: Session.ID) async throws -> [SessionEventType] {
            try await self.store.repositories.sessions.events(sessionID: id).map(\.type)
        }

        /// Waits until a backup of the user's workspace runs: it reported half its progress and
        /// waits in the held driver.
        func backupIsHeld() async throws {
            while await self.backups.activity(for: self.user).first?.progress == nil { try await Task.sleep(for: .milliseconds(1)) }
        }

        func stored(_ id: Session.ID) async throws -> Session {
            try #require(try await self.store.repositories.sessions.find(id: id))
        }
    }

    @Test func aDroppedSessionIsHeldFromTheLastTrafficAndClosesAtItsDeadline() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        try fixture.write("notes.txt", in: session)
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
        await supervisor.closesSettled()
        #expect(try await fixture.stored(session.id).state == .held)
        fixture.clock.advance(by: 0.001)
        await supervisor.tick()
        await supervisor.closesSettled()
        #expect(try await fixture.stored(session.id).state == .closed)
        #expect(try await fixture.host.runningSessions().isEmpty)
        // The snapshot on loss runs in the background; the final one comes between expiry and close.
        let events = try await fixture.events(session.id)
        #expect(events.filter { $0 != .snapshot } == [.started, .attached, .lost, .expired, .closed])
        #expect(Array(events.suffix(2)) == [.snapshot, .closed])
    }

    /// Whether `body` returns within `limit` of real time (it is left running if not).
    func finishes(within limit: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
        let done = Mutex(false)
        let task = Task {
            await body()
            done.withLock { $0 = true }
        }
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if done.withLock({ $0 }) { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        _ = task
        return false
    }

    @Test func aCloseThatHangsKeepsNoOtherSessionWaitingForItsExpiry() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let first = try await supervisor.start(kind: .terminal, for: fixture.user)
        let second = try await supervisor.start(kind: .terminal, for: fixture.user)
        try fixture.write("notes.txt", in: first)
        let firstClient = try await supervisor.attach(first.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        let secondClient = try await supervisor.attach(second.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        await supervisor.detached(firstClient, lastTrafficAt: fixture.clock.now())
        fixture.clock.advance(by: 100)
        await supervisor.detached(secondClient, lastTrafficAt: fixture.clock.now())
        // The backup store hangs: a close that reaches its final snapshot waits there.
        fixture.driver.hold()

        fixture.clock.advance(by: 500)  // the first session's deadline
        #expect(await self.finishes(within: .seconds(5)) { await supervisor.tick() }, "the clock waited for a close")
        #expect(try await self.eventually { try await fixture.stored(first.id).state == .closing })
        fixture.clock.advance(by: 100)  // the second's deadline, while the first still hangs
        #expect(await self.finishes(within: .seconds(5)) { await supervisor.tick() }, "the clock waited for a close")
        #expect(try await self.eventually { try await fixture.stored(second.id).state == .closing })
        #expect(try await fixture.stored(second.id).machine.closeReason == .expired)
        // Nor does a close asked for by a user, or a maintenance drain, wait for one.
        let third = try await supervisor.start(kind: .terminal, for: fixture.user)
        #expect(await self.finishes(within: .seconds(5)) { _ = try? await supervisor.close(third.id, by: fixture.user) })
        #expect(await self.finishes(within: .seconds(5)) { _ = await supervisor.closeAllForMaintenance() })

        fixture.driver.release()
        await supervisor.closesSettled()
        for id in [first.id, second.id, third.id] {
            #expect(try await fixture.stored(id).state == .closed)
        }
    }

    @Test func atMostTheConfiguredNumberOfClosesRunAtOnce() async throws {
        let fixture = try await Fixture()
        var configuration = SessionSupervisor.Configuration()
        configuration.closeConcurrency = 2
        let supervisor = SessionSupervisor(
            configuration: configuration, repositories: fixture.store.repositories, host: fixture.host, backups: fixture.backups,
            accountFor: { _ in nil }, now: { [clock = fixture.clock] in clock.now() }, logger: Logger(label: "test"))
        var users: [User] = []
        for index in 0..<4 {
            let user = User(
                tenantID: fixture.user.tenantID, email: "user\(index)@acme.test", name: "U\(index)", role: .member,
                createdAt: fixture.clock.now())
            try await fixture.store.repositories.users.create(user, passwordHash: "h")
            users.append(user)
        }
        var sessions: [Session] = []
        for user in users {
            let session = try await supervisor.start(kind: .terminal, for: user)
            try fixture.write("work.txt", in: session)
            sessions.append(session)
        }
        fixture.driver.hold()
        for (session, user) in zip(sessions, users) {
            _ = try await supervisor.close(session.id, by: user)
        }
        // Two final snapshots run (held); the other two closes wait for a slot.
        #expect(
            try await self.eventually {
                var running = 0
                for user in users { running += await fixture.backups.activity(for: user).count }
                return running == 2
            })
        try await Task.sleep(for: .milliseconds(200))
        var running = 0
        for user in users { running += await fixture.backups.activity(for: user).count }
        #expect(running == 2)
        fixture.driver.release()
        await supervisor.closesSettled()
        for session in sessions {
            #expect(try await fixture.stored(session.id).state == .closed)
        }
        #expect(fixture.driver.backupCount == 4)
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
        await supervisor.closesSettled()
        #expect(!dropped.withLock { $0 })
        fixture.clock.advance(by: 0.1)
        await supervisor.tick()
        await supervisor.closesSettled()
        #expect(dropped.withLock { $0 })
        let held = try await fixture.stored(session.id)
        #expect(held.state == .held)
        #expect(held.machine.lostAt == lastTraffic)
    }

    @Test func aClientWhoseTrafficNeedsNoWriteIsStillHeardAndNotDroppedAsSilent() async throws {
        let fixture = try await Fixture()
        var configuration = SessionSupervisor.Configuration()
        configuration.heartbeat = 1  // silent after 2 s, while the last traffic is written every 5 s
        let supervisor = SessionSupervisor(
            configuration: configuration, repositories: fixture.store.repositories, host: fixture.host, backups: fixture.backups,
            accountFor: { _ in nil }, now: { [clock = fixture.clock] in clock.now() }, logger: Logger(label: "test"))
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        let dropped = Mutex(false)
        let client = try await supervisor.attach(
            session.id, user: fixture.user, columns: 80, rows: 24, disconnect: { dropped.withLock { $0 = true } })
        for _ in 0..<20 {  // 10 s of pongs every half second, the clock ticking in between
            fixture.clock.advance(by: 0.5)
            await supervisor.trafficReceived(client, at: fixture.clock.now())
            await supervisor.tick()
        }
        await supervisor.closesSettled()
        #expect(!dropped.withLock { $0 }, "a client that kept answering was dropped as silent")
        #expect(try await fixture.stored(session.id).state == .connected)
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
        #expect(try await fixture.events(session.id).filter { $0 != .snapshot } == [.started, .attached, .lost, .resumed])
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
        // Adoption only starts the dead session's close (start-up never waits for a backup).
        await after.closesSettled()
        let adopted = try await fixture.stored(alive.id)
        #expect(adopted.state == .held)
        #expect(try await fixture.events(alive.id).contains(.adopted))
        #expect(try await fixture.stored(dead.id).state == .closed)
        #expect(try await fixture.stored(dead.id).machine.closeReason == .processesDied)
        #expect(await after.liveCount == 1)
    }

    /// Many nodes on one store: a node records itself on the sessions it starts and adopts only
    /// its own at start-up (before nodes, every server adopted every live session, so two servers
    /// on one database closed each other's); sessions from before nodes go to the only node.
    @Test func aNodeAdoptsOnlyItsOwnSessions() async throws {
        let fixture = try await Fixture()
        let nodeA = fixture.supervisor(node: "node-a")
        let placed = try await nodeA.start(kind: .terminal, for: fixture.user)
        #expect(try await fixture.stored(placed.id).node == "node-a")
        let legacy = Session(
            tenantID: fixture.user.tenantID, userID: fixture.user.id, kind: .terminal,
            machine: .init(state: .connected, grace: 600, createdAt: fixture.clock.now(), startedAt: fixture.clock.now()))
        try await fixture.store.repositories.sessions.create(legacy, events: [])

        let nodeB = fixture.supervisor(node: "node-b")
        try await nodeB.adoptAll(includingUnassigned: false)
        #expect(await nodeB.liveCount == 0)
        #expect(try await fixture.events(placed.id).contains(.adopted) == false)
        #expect(try await fixture.stored(legacy.id).node == nil)

        let restartedA = fixture.supervisor(node: "node-a")
        try await restartedA.adoptAll(includingUnassigned: true)
        await restartedA.closesSettled()
        #expect(try await fixture.events(placed.id).contains(.adopted))
        // The unassigned session is node-a's from now on (its processes are gone: node-a closes it).
        #expect(try await fixture.stored(legacy.id).node == "node-a")
    }

    /// A node whose lease lapsed: the node watch holds its sessions from the last traffic known; the
    /// node, back within the grace, meets the changed record on its next save and adopts the session
    /// again; a node that never comes back has its sessions closed as "host lost" when their grace ends.
    @Test func aLostNodesSessionsAreHeldTakenBackOrClosedAsHostLost() async throws {
        let fixture = try await Fixture()
        let nodes = fixture.store.repositories.nodes
        let watch = NodeWatch(
            repositories: fixture.store.repositories, machineConfiguration: .init(heartbeat: 10),
            now: { [clock = fixture.clock] in clock.now() },
            logger: Logger(label: "test"))
        let bob = User(tenantID: fixture.user.tenantID, email: "bob@acme.test", name: "Bob", role: .member, createdAt: fixture.clock.now())
        try await fixture.store.repositories.users.create(bob, passwordHash: "h")

        let nodeB = fixture.supervisor(node: "node-b")
        let nodeC = fixture.supervisor(node: "node-c")
        _ = try await nodes.register(NodeRegistration(name: "node-b", url: "http://b", identity: "b"), lease: .milliseconds(100))
        _ = try await nodes.register(NodeRegistration(name: "node-c", url: "http://c", identity: "c"), lease: .milliseconds(100))
        let onB = try await nodeB.start(kind: .terminal, for: fixture.user)
        let attachment = try await nodeB.attach(onB.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        let onC = try await nodeC.start(kind: .terminal, for: bob)
        try await Task.sleep(for: .milliseconds(300))  // neither renews: both leases lapse
        fixture.clock.advance(by: 5)
        try await watch.sweep()
        #expect(try await fixture.stored(onB.id).state == .held)
        #expect(try await fixture.stored(onC.id).state == .held)
        #expect(try await fixture.events(onB.id).last == .lost)

        // node-b was only cut off: its next save meets the watch's record, and it adopts the session.
        await nodeB.detached(attachment, lastTrafficAt: fixture.clock.now())
        var adopted = false
        for _ in 0..<200 where !adopted {
            adopted = try await fixture.events(onB.id).contains(.adopted)
            if !adopted { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(adopted, "node-b did not take its session back")
        #expect(await nodeB.liveCount == 1)
        _ = try await nodes.register(NodeRegistration(name: "node-b", url: "http://b", identity: "b"), lease: .seconds(60))

        // node-c never comes back: at the end of the grace (600 s) its session closes as host lost.
        fixture.clock.advance(by: 600)
        try await watch.sweep()
        let closed = try await fixture.stored(onC.id)
        #expect(closed.state == .closed)
        #expect(closed.machine.closeReason == .hostLost)
        #expect(try await fixture.stored(onB.id).state != .closed)
    }

    /// A drained node starts no new session and says why; lifting the drain lets them start again.
    @Test func aDrainedNodeRefusesNewSessions() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor(node: "node-a")
        await supervisor.setDraining(true)
        await #expect(throws: CoreError.self) { try await supervisor.start(kind: .terminal, for: fixture.user) }
        do {
            _ = try await supervisor.start(kind: .terminal, for: fixture.user)
        } catch let error as CoreError {
            #expect(error.code == "node_draining")
            #expect(error.kind == .unavailable)
        }
        #expect(try await fixture.store.repositories.sessions.list(userID: fixture.user.id, includeClosed: true).isEmpty)
        await supervisor.setDraining(false)
        _ = try await supervisor.start(kind: .terminal, for: fixture.user)
    }

    @Test func aFailedCloseKeepsTheSessionClosingAndRetries() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        fixture.host.setFailures(terminate: true)
        _ = try await supervisor.close(session.id, by: fixture.user)
        await supervisor.closesSettled()
        #expect(try await fixture.stored(session.id).state == .closing)
        #expect(try await fixture.events(session.id).last == .failed)

        fixture.host.setFailures()
        fixture.clock.advance(by: 5)
        await supervisor.tick()
        await supervisor.closesSettled()
        #expect(try await fixture.stored(session.id).state == .closed)
    }

    @Test func aShellThatExitedClosesTheSession() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        fixture.host.kill(session.id)
        await supervisor.watchProcesses()
        await supervisor.closesSettled()
        let closed = try await fixture.stored(session.id)
        #expect(closed.state == .closed)
        #expect(closed.machine.closeReason == .processesDied)
    }

    @Test func aLivenessCheckThatFailsOrHangsNeverEndsASessionAndAlertsOnceItLasts() async throws {
        let fixture = try await Fixture()
        var configuration = SessionSupervisor.Configuration()
        configuration.livenessTimeout = .milliseconds(200)
        configuration.unknownAlertAfter = 60
        let supervisor = SessionSupervisor(
            configuration: configuration, repositories: fixture.store.repositories, host: fixture.host, backups: fixture.backups,
            accountFor: { _ in nil }, now: { [clock = fixture.clock] in clock.now() }, logger: Logger(label: "test"))
        let failing = try await supervisor.start(kind: .terminal, for: fixture.user)
        let hanging = try await supervisor.start(kind: .terminal, for: fixture.user)
        let operatorUser = User(
            tenantID: fixture.user.tenantID, email: "op@acme.test", name: "Op", role: .operator, createdAt: fixture.clock.now())
        fixture.host.setLiveness(.answer(.unknown(reason: "EACCES reading /proc")), of: failing.id)
        fixture.host.setLiveness(.hang, of: hanging.id)

        // A hung check is given up on after its timeout; the other sessions' checks do not wait.
        #expect(await self.finishes(within: .seconds(5)) { await supervisor.watchProcesses() }, "a hung check held up the watch")
        fixture.clock.advance(by: 30)
        await supervisor.watchProcesses()
        await supervisor.closesSettled()
        for id in [failing.id, hanging.id] {
            #expect(try await fixture.stored(id).state == .starting)
        }
        #expect(await supervisor.alerts(visibleTo: operatorUser).isEmpty, "an alert before the unknown state lasted")
        // The hung check is not asked again while it has not returned.
        let checks = fixture.host.livenessChecks
        await supervisor.watchProcesses()
        #expect(fixture.host.livenessChecks == checks + 1)

        fixture.clock.advance(by: 31)
        await supervisor.watchProcesses()
        let alerted = await supervisor.alerts(visibleTo: operatorUser)
        #expect(Set(alerted.map(\.sessionID)) == [failing.id, hanging.id])
        #expect(alerted.allSatisfy { $0.message.contains("kept open") })
        #expect(await supervisor.alerts(visibleTo: fixture.user).isEmpty, "a member sees operators' alerts")

        // Known again: the alert is over. Definite evidence of an exit closes the session.
        fixture.host.setLiveness(nil, of: failing.id)
        fixture.host.setLiveness(.answer(.dead(evidence: "the sandbox's leader has exited")), of: hanging.id)
        await supervisor.watchProcesses()
        await supervisor.closesSettled()
        #expect(try await fixture.stored(failing.id).state == .starting)
        // The hung check of `hanging` still has not returned, so it is not asked: unknown, still open.
        #expect(await supervisor.alerts(visibleTo: operatorUser).map(\.sessionID) == [hanging.id], "an alert stayed once known")
        #expect(try await fixture.stored(hanging.id).state == .starting)
    }

    @Test func aStoreOutageLosesNoTransitionNorTimelineRowAndNothingEndsBeforeTheStoreKnows() async throws {
        let fixture = try await Fixture()
        let flaky = FailingSessionRepository(wrapping: fixture.store.repositories.sessions)
        var repositories = fixture.store.repositories
        repositories.sessions = flaky
        var configuration = SessionSupervisor.Configuration()
        configuration.writeRetryLimit = 0.05
        configuration.answerWaitsForStore = .milliseconds(100)
        let supervisor = SessionSupervisor(
            configuration: configuration, repositories: repositories, host: fixture.host, backups: fixture.backups,
            accountFor: { _ in nil }, now: { [clock = fixture.clock] in clock.now() }, logger: Logger(label: "test"))
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        try fixture.write("notes.txt", in: session)
        let client = try await supervisor.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})

        flaky.setDown(true)
        // The client drops, and the session expires, while the store is down: nobody waits for it.
        #expect(await self.finishes(within: .seconds(5)) { await supervisor.detached(client, lastTrafficAt: fixture.clock.now()) })
        fixture.clock.advance(by: 600)
        #expect(await self.finishes(within: .seconds(5)) { await supervisor.tick() }, "the clock waited for the store")
        // It is not reported closing, and its processes are not ended, while the store cannot know it.
        try await Task.sleep(for: .milliseconds(300))
        #expect([.connected, .held].contains(try await supervisor.session(session.id, for: fixture.user).state))
        #expect(await fixture.host.isAlive(session.id))
        #expect(flaky.refused >= 3, "the writer did not retry")

        flaky.setDown(false)
        await supervisor.closesSettled()
        let closed = try await fixture.stored(session.id)
        #expect(closed.state == .closed && closed.machine.closeReason == .expired)
        #expect(await !fixture.host.isAlive(session.id))
        let timeline = try await fixture.events(session.id).filter { $0 != .snapshot }
        #expect(timeline == [.started, .attached, .lost, .expired, .closed], "\(timeline)")
        // Every save committed in order, each on the revision before it.
        #expect(flaky.savedRevisions == Array(1...closed.revision))
        #expect(await supervisor.liveCount == 0)
    }

    @Test func aSaveThatCommittedButWhoseAnswerWasLostIsNotTakenForAnotherWriter() async throws {
        let fixture = try await Fixture()
        let flaky = FailingSessionRepository(wrapping: fixture.store.repositories.sessions)
        var repositories = fixture.store.repositories
        repositories.sessions = flaky
        var configuration = SessionSupervisor.Configuration()
        configuration.writeRetryLimit = 0.05
        let supervisor = SessionSupervisor(
            configuration: configuration, repositories: repositories, host: fixture.host, backups: fixture.backups,
            accountFor: { _ in nil }, now: { [clock = fixture.clock] in clock.now() }, logger: Logger(label: "test"))
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        let dropped = Mutex(false)
        let client = try await supervisor.attach(
            session.id, user: fixture.user, columns: 80, rows: 24, disconnect: { dropped.withLock { $0 = true } })
        await supervisor.closesSettled()

        // The database commits the next save, then the connection dies before its answer.
        flaky.loseAnswers(of: 1)
        let savesBefore = flaky.savedRevisions.count
        fixture.clock.advance(by: 6)
        await supervisor.trafficReceived(client, at: fixture.clock.now())
        fixture.clock.advance(by: 1)
        await supervisor.tick()
        await supervisor.closesSettled()
        #expect(flaky.savedRevisions.count > savesBefore, "no save happened: the lost answer was not tried")
        #expect(await supervisor.liveCount == 1, "the server let go of its own session")
        #expect(!dropped.withLock { $0 }, "the client was disconnected")
        let stored = try await fixture.stored(session.id)
        #expect(stored.state == .connected)
        #expect(flaky.savedRevisions == Array(1...stored.revision), "a save was written twice or skipped")
        #expect(try await fixture.events(session.id) == [.started, .attached])
    }

    @Test func aSecondWriterOfASessionWinsAndTheStaleCopyLetsItGo() async throws {
        let fixture = try await Fixture()
        let stale = fixture.supervisor()
        let session = try await stale.start(kind: .terminal, for: fixture.user)
        let client = try await stale.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        await stale.closesSettled()
        let owner = fixture.supervisor()
        try await owner.adoptAll()
        await owner.closesSettled()
        let adopted = try await fixture.stored(session.id)
        #expect(adopted.state == .held)

        // The stale server writes on: the store refuses its save (compare and set), and it lets go.
        fixture.clock.advance(by: 5)
        await stale.detached(client, lastTrafficAt: fixture.clock.now())
        await stale.closesSettled()
        #expect(await stale.liveCount == 0)
        #expect(try await fixture.stored(session.id) == adopted, "the stale copy wrote over the owner's record")
        #expect(await owner.liveCount == 1)
    }

    @Test func aSessionWhoseLivenessIsUnknownAtStartUpIsAdoptedNotClosed() async throws {
        let fixture = try await Fixture()
        let before = fixture.supervisor()
        let unsure = try await before.start(kind: .terminal, for: fixture.user)
        _ = try await before.attach(unsure.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        await before.closesSettled()
        fixture.host.setLiveness(.hang, of: unsure.id)
        var configuration = SessionSupervisor.Configuration()
        configuration.livenessTimeout = .milliseconds(200)
        let after = SessionSupervisor(
            configuration: configuration, repositories: fixture.store.repositories, host: fixture.host, backups: fixture.backups,
            accountFor: { _ in nil }, now: { [clock = fixture.clock] in clock.now() }, logger: Logger(label: "test"))
        #expect(await self.finishes(within: .seconds(5)) { try? await after.adoptAll() }, "adoption waited for a hung check")
        await after.closesSettled()
        #expect(try await fixture.stored(unsure.id).state == .held)
        #expect(await after.liveCount == 1)
    }

    @Test func aCloseDuringTheLaunchEndsWhatTheLaunchStartedAfterIt() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        fixture.host.holdLaunches()
        let starting = Task { try await supervisor.start(kind: .terminal, for: fixture.user) }
        #expect(try await self.eventually { await supervisor.liveCount == 1 && !fixture.host.launches.isEmpty })
        let id = try #require(fixture.host.launches.first?.sessionID)
        _ = try await supervisor.close(id, by: fixture.user)
        // The close waits for the launch: terminating now would miss what it is still starting.
        try await Task.sleep(for: .milliseconds(200))
        #expect(fixture.host.terminations.isEmpty)
        fixture.host.releaseLaunches()
        _ = try? await starting.value
        await supervisor.closesSettled()
        #expect(fixture.host.terminations == [id])
        #expect(await !fixture.host.isAlive(id))
        #expect(try await fixture.stored(id).state == .closed)
    }

    @Test func aServerKilledDuringALaunchLeavesNoSessionStartingAfterTheRestart() async throws {
        let fixture = try await Fixture()
        let before = fixture.supervisor()
        fixture.host.holdLaunches()
        // The launch has started the sandbox and hangs: then the server is gone (`before` is abandoned).
        let abandoned = Task { try await before.start(kind: .terminal, for: fixture.user) }
        #expect(try await self.eventually { !fixture.host.launches.isEmpty })
        let id = try #require(fixture.host.launches.first?.sessionID)
        #expect(try await self.eventually { try await fixture.store.repositories.sessions.find(id: id) != nil })

        let after = fixture.supervisor()
        try await after.adoptAll()
        await after.closesSettled()
        let failed = try await fixture.stored(id)
        #expect(failed.state == .closed && failed.machine.closeReason == .startFailed)
        #expect(fixture.host.terminations == [id], "the half-launched sandbox was left running")
        abandoned.cancel()
        fixture.host.releaseLaunches()
    }

    // MARK: Backups

    /// Polls (real time) for something a background task does. The limit is generous because a
    /// loaded machine running every suite at once can be slow; a pass returns as soon as it holds.
    func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    @Test func aDroppedSessionIsSnapshottedAtOnceWithItsFiles() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        let workspace = fixture.backups.workspace(tenant: session.tenantID, user: session.userID)
        try Data("draft".utf8).write(to: URL(fileURLWithPath: workspace + "/notes.txt"))
        let attachment = try await supervisor.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        await supervisor.detached(attachment, lastTrafficAt: fixture.clock.now())

        #expect(try await self.eventually { try await fixture.events(session.id).contains(.snapshot) })
        let snapshot = try #require(try await fixture.driver.snapshots(tenant: session.tenantID, user: session.userID).first)
        #expect(snapshot.sessionID == session.id)
        #expect(fixture.driver.files(of: snapshot.id) == ["notes.txt": Data("draft".utf8)])
    }

    @Test func withTheStoreDownASessionStaysClosingWithItsWorkspaceUntilTheStoreIsBack() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        let workspace = fixture.backups.workspace(tenant: session.tenantID, user: session.userID)
        try Data("precious".utf8).write(to: URL(fileURLWithPath: workspace + "/thesis.tex"))
        fixture.driver.setUnreachable(true)

        _ = try await supervisor.close(session.id, by: fixture.user)
        await supervisor.closesSettled()
        #expect(try await fixture.stored(session.id).state == .closing)
        for _ in 0..<4 {  // retries at 5, 10, 20, 40 s all fail
            fixture.clock.advance(by: 60)
            await supervisor.tick()
            await supervisor.closesSettled()
        }
        #expect(try await fixture.stored(session.id).state == .closing)
        #expect(try await fixture.events(session.id).filter { $0 == .failed }.count == 5)
        #expect(FileManager.default.contents(atPath: workspace + "/thesis.tex") == Data("precious".utf8))
        #expect(fixture.driver.backupCount == 0)
        let operatorUser = User(
            tenantID: session.tenantID, email: "op@acme.test", name: "Op", role: .operator, createdAt: fixture.clock.now())
        let alerts = await supervisor.alerts(visibleTo: operatorUser)
        #expect(alerts.map(\.sessionID) == [session.id])
        #expect(alerts.first?.message.contains("backup repository") == true)
        #expect(await supervisor.alerts(visibleTo: fixture.user).isEmpty)

        fixture.driver.setUnreachable(false)
        fixture.clock.advance(by: 300)
        await supervisor.tick()
        await supervisor.closesSettled()
        #expect(try await fixture.stored(session.id).state == .closed)
        let snapshot = try #require(try await fixture.driver.snapshots(tenant: session.tenantID, user: session.userID).first)
        #expect(fixture.driver.files(of: snapshot.id)["thesis.tex"] == Data("precious".utf8))
        #expect(Array(try await fixture.events(session.id).suffix(2)) == [.snapshot, .closed])
        #expect(await supervisor.alerts(visibleTo: operatorUser).isEmpty)
    }

    @Test func aFinalSnapshotThatCouldNotReadSomeFilesIsNotVerifiedAndTheCloseRetries() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        try fixture.write("notes.txt", in: session)
        try fixture.write("locked.db", in: session)
        fixture.driver.setUnreadable(["locked.db"])

        _ = try await supervisor.close(session.id, by: fixture.user)
        await supervisor.closesSettled()
        #expect(try await fixture.stored(session.id).state == .closing)
        let timeline = try await fixture.store.repositories.sessions.events(sessionID: session.id)
        #expect(timeline.contains { $0.type == .snapshot && $0.detail.contains("could not read 1 file: locked.db") })
        #expect(timeline.last?.type == .failed && timeline.last?.detail.contains("locked.db") == true)
        let workspace = fixture.backups.workspace(tenant: session.tenantID, user: session.userID)
        #expect(FileManager.default.fileExists(atPath: workspace + "/locked.db"), "the workspace went before a verified snapshot")

        // Readable again (the program that held it is gone): the retry closes with every file.
        fixture.driver.setUnreadable([])
        fixture.clock.advance(by: 60)
        await supervisor.tick()
        await supervisor.closesSettled()
        #expect(try await fixture.stored(session.id).state == .closed)
        let snapshot = try #require(try await fixture.driver.snapshots(tenant: session.tenantID, user: session.userID).first)
        #expect(fixture.driver.files(of: snapshot.id)["locked.db"] != nil)
    }

    @Test func filesTheUserDeletedDoNotComeBackFromAnOlderSnapshotOnAnotherHost() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let first = try await supervisor.start(kind: .terminal, for: fixture.user)
        try fixture.write("draft.txt", in: first)
        _ = try await supervisor.close(first.id, by: fixture.user)
        await supervisor.closesSettled()

        // The next session deletes everything; its final snapshot records the empty workspace.
        let second = try await supervisor.start(kind: .terminal, for: fixture.user)
        let workspace = fixture.backups.workspace(tenant: second.tenantID, user: second.userID)
        try FileManager.default.removeItem(atPath: workspace + "/draft.txt")
        _ = try await supervisor.close(second.id, by: fixture.user)
        await supervisor.closesSettled()
        #expect(try await fixture.stored(second.id).state == .closed)
        let newest = try #require(try await fixture.driver.snapshots(tenant: second.tenantID, user: second.userID).first)
        #expect(newest.isEmpty && newest.sessionID == second.id)

        // Another host (no local copy): nothing comes back.
        try FileManager.default.removeItem(atPath: workspace)
        let third = try await supervisor.start(kind: .terminal, for: fixture.user)
        #expect(!FileManager.default.fileExists(atPath: workspace + "/draft.txt"), "a deleted file came back")
        #expect(try await !fixture.events(third.id).contains(.restored))
    }

    @Test func aCopyOvertakenByAnotherHostsSnapshotIsKeptAsideNotUsed() async throws {
        let fixture = try await Fixture()
        let hostA = fixture.supervisor()
        // Host B: its own workspaces folder and processes, the same store and backup repository.
        let otherWorkspaces = fixture.workspaces + "-b"
        let backupsB = WorkspaceBackups(
            configuration: .init(workspacesDirectory: otherWorkspaces, restoresDirectory: otherWorkspaces + "-restores"),
            driver: fixture.driver, repositories: fixture.store.repositories, accountFor: { _ in nil },
            now: { [clock = fixture.clock] in clock.now() }, logger: Logger(label: "test"))
        let hostB = SessionSupervisor(
            configuration: .init(), repositories: fixture.store.repositories, host: FakeHost(), backups: backupsB,
            accountFor: { _ in nil }, now: { [clock = fixture.clock] in clock.now() }, logger: Logger(label: "test"))
        let write = { (backups: WorkspaceBackups, name: String, text: String) in
            try Data(text.utf8).write(
                to: URL(fileURLWithPath: backups.workspace(tenant: fixture.user.tenantID, user: fixture.user.id) + "/" + name))
        }

        let first = try await hostA.start(kind: .terminal, for: fixture.user)
        try write(fixture.backups, "thesis.txt", "draft 1")
        _ = try await hostA.close(first.id, by: fixture.user)
        await hostA.closesSettled()
        fixture.clock.advance(by: 60)
        // The user works on host B: its copy comes from the snapshot, and a newer one is saved.
        let second = try await hostB.start(kind: .terminal, for: fixture.user)
        try write(backupsB, "thesis.txt", "draft 2")
        _ = try await hostB.close(second.id, by: fixture.user)
        await hostB.closesSettled()
        fixture.clock.advance(by: 60)

        // Back on host A, whose copy still says draft 1: the newest snapshot is what the session gets.
        let third = try await hostA.start(kind: .terminal, for: fixture.user)
        let workspace = fixture.backups.workspace(tenant: third.tenantID, user: third.userID)
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: workspace + "/thesis.txt")), as: UTF8.self) == "draft 2")
        let aside = try FileManager.default.contentsOfDirectory(atPath: workspace).filter { $0.hasPrefix("Restored from this host") }
        let listing = try FileManager.default.contentsOfDirectory(atPath: workspace)
        #expect(aside.count == 1, "the older copy was not kept aside: \(listing)")
        if let folder = aside.first {
            #expect(FileManager.default.contents(atPath: workspace + "/" + folder + "/thesis.txt") == Data("draft 1".utf8))
        }
        let restored = try await fixture.store.repositories.sessions.events(sessionID: third.id).filter { $0.type == .restored }
        #expect(restored.first?.detail.contains("this host's older copy is kept in") == true)

        // Current now: the next start on host A uses its copy as it is.
        _ = try await hostA.close(third.id, by: fixture.user)
        await hostA.closesSettled()
        let fourth = try await hostA.start(kind: .terminal, for: fixture.user)
        #expect(try await !fixture.events(fourth.id).contains(.restored))
    }

    /// Found by the churn soak: two snapshots of one workspace finishing in the other order left
    /// the older one's mark on this host, and the user's next start took the current copy for a
    /// stale one (listing the repository, and moving the files aside).
    @Test func snapshotsNotedOutOfOrderLeaveTheCopyHereCurrent() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let first = try await supervisor.start(kind: .terminal, for: fixture.user)
        let (tenant, user) = (first.tenantID, first.userID)
        try fixture.write("notes.txt", in: first)
        let older = try #require(try await fixture.backups.snapshot(tenant: tenant, user: user, session: first.id))
        fixture.clock.advance(by: 10)
        try fixture.write("more.txt", in: first)
        _ = try #require(try await fixture.backups.snapshot(tenant: tenant, user: user, session: first.id))
        // The older snapshot's bookkeeping ends last (another session's close, say).
        await fixture.backups.noteSnapshot(older.snapshot, tenant: tenant, user: user)

        let second = try await supervisor.start(kind: .terminal, for: fixture.user)
        let workspace = fixture.backups.workspace(tenant: tenant, user: user)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: workspace)) == ["notes.txt", "more.txt"])
        #expect(try await !fixture.events(second.id).contains(.restored))
    }

    /// A backlog of snapshots of one workspace (after an outage, many closes and lost clients of
    /// one user) costs one restic run for all that asked while one was running, not one each.
    @Test func snapshotsAskedForWhileOneRunsShareTheNextOne() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        let (tenant, user) = (session.tenantID, session.userID)
        try fixture.write("first.txt", in: session)
        fixture.driver.hold()
        let running = Task { try await fixture.backups.snapshot(tenant: tenant, user: user, session: session.id) }
        try await fixture.backupIsHeld()
        // Written while the first runs: the shared second snapshot must hold it.
        try fixture.write("second.txt", in: session)
        let waiting = (0..<3).map { _ in
            Task { try await fixture.backups.snapshot(tenant: tenant, user: user, session: session.id) }
        }
        // All three are queued behind the running one before it ends.
        try await Task.sleep(for: .milliseconds(50))
        fixture.driver.release()
        let first = try #require(try await running.value)
        var shared: Set<String> = []
        for task in waiting { shared.insert(try #require(try await task.value).snapshot.id) }
        #expect(shared.count == 1)
        #expect(!shared.contains(first.snapshot.id))
        #expect(fixture.driver.backupCount == 2)
        #expect(fixture.driver.files(of: try #require(shared.first)).keys.sorted() == ["first.txt", "second.txt"])
        // Once that one has started, a new request gets a snapshot of its own.
        _ = try await fixture.backups.snapshot(tenant: tenant, user: user, session: session.id)
        #expect(fixture.driver.backupCount == 3)
    }

    /// While closes wait for their turn, a lost client's snapshot is left out: the backup store
    /// is the bottleneck, and the closes' final snapshots come first.
    @Test func backgroundSnapshotsYieldToClosesWaitingForTheirTurn() async throws {
        let fixture = try await Fixture()
        var configuration = SessionSupervisor.Configuration()
        configuration.closeConcurrency = 1
        let supervisor = SessionSupervisor(
            configuration: configuration, repositories: fixture.store.repositories, host: fixture.host, backups: fixture.backups,
            accountFor: { _ in nil }, now: { [clock = fixture.clock] in clock.now() }, logger: Logger(label: "test"))
        let (first, second, third) = (
            try await supervisor.start(kind: .terminal, for: fixture.user), try await supervisor.start(kind: .terminal, for: fixture.user),
            try await supervisor.start(kind: .terminal, for: fixture.user)
        )
        try fixture.write("notes.txt", in: first)
        fixture.driver.hold()
        _ = try await supervisor.close(first.id, by: fixture.user)
        try await fixture.backupIsHeld()
        _ = try await supervisor.close(second.id, by: fixture.user)  // waits for the one slot
        try await Task.sleep(for: .milliseconds(20))

        let client = try await supervisor.attach(third.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        await supervisor.detached(client, lastTrafficAt: fixture.clock.now())
        fixture.driver.release()
        await supervisor.closesSettled()
        #expect(try await fixture.stored(second.id).state == .closed)
        #expect(try await fixture.events(third.id).filter { $0 == .snapshot }.isEmpty)
        #expect(fixture.driver.backupCount == 2)  // the two final snapshots

        // With no close waiting, a lost client's workspace is snapshotted again.
        let again = try await supervisor.attach(third.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        await supervisor.detached(again, lastTrafficAt: fixture.clock.now())
        var waited = 0
        while try await fixture.events(third.id).filter({ $0 == .snapshot }).isEmpty, waited < 2_000 {
            try await Task.sleep(for: .milliseconds(1))
            waited += 1
        }
        #expect(try await fixture.events(third.id).filter { $0 == .snapshot }.count == 1)
    }

    @Test func aConnectedSessionIsSnapshottedEveryIntervalOnlyWhenItsWorkspaceChanged() async throws {
        let fixture = try await Fixture()
        // File times come from the real clock: run the test's clock ahead of it, so that files
        // the test does not touch are older than every snapshot.
        fixture.clock.advance(by: Date().timeIntervalSince(fixture.clock.now()) + 3600)
        let supervisor = fixture.supervisor(snapshotInterval: 60)
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        _ = try await supervisor.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        let workspace = fixture.backups.workspace(tenant: session.tenantID, user: session.userID)
        try fixture.write("start.txt", in: session)

        fixture.clock.advance(by: 59)
        await supervisor.snapshotChangedWorkspaces()
        #expect(fixture.driver.backupCount == 0)  // not due yet
        fixture.clock.advance(by: 1)
        await supervisor.snapshotChangedWorkspaces()  // due, and nothing is known about the workspace yet
        #expect(try await self.eventually { fixture.driver.backupCount == 1 })

        // Nothing touched the workspace since that snapshot started: no new snapshot.
        fixture.clock.advance(by: 60)
        await supervisor.snapshotChangedWorkspaces()
        try await Task.sleep(for: .milliseconds(100))
        #expect(fixture.driver.backupCount == 1)

        // A file written now (dated by the test's clock, which the supervisor reads too).
        fixture.clock.advance(by: 1)
        try Data("new".utf8).write(to: URL(fileURLWithPath: workspace + "/new.txt"))
        try FileManager.default.setAttributes([.modificationDate: fixture.clock.now()], ofItemAtPath: workspace + "/new.txt")
        fixture.clock.advance(by: 59)
        await supervisor.snapshotChangedWorkspaces()
        #expect(try await self.eventually { fixture.driver.backupCount == 2 })
    }

    @Test func aSessionOnAHostWithoutTheWorkspaceStartsWithTheNewestSnapshotRestored() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let first = try await supervisor.start(kind: .terminal, for: fixture.user)
        let workspace = fixture.backups.workspace(tenant: first.tenantID, user: first.userID)
        try FileManager.default.createDirectory(atPath: workspace + "/src", withIntermediateDirectories: true)
        try Data("print(1)".utf8).write(to: URL(fileURLWithPath: workspace + "/src/main.py"))
        _ = try await supervisor.close(first.id, by: fixture.user)
        await supervisor.closesSettled()
        #expect(try await fixture.stored(first.id).state == .closed)

        try FileManager.default.removeItem(atPath: workspace)  // a new host, or a cleaned disk
        let second = try await supervisor.start(kind: .terminal, for: fixture.user)
        #expect(FileManager.default.contents(atPath: workspace + "/src/main.py") == Data("print(1)".utf8))
        #expect(try await fixture.events(second.id) == [.restored, .started])
    }

    @Test func aMissingWorkspaceWithTheStoreDownFailsTheStartRatherThanStartEmpty() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let first = try await supervisor.start(kind: .terminal, for: fixture.user)
        _ = try await supervisor.close(first.id, by: fixture.user)
        await supervisor.closesSettled()
        try FileManager.default.removeItem(atPath: fixture.backups.workspace(tenant: first.tenantID, user: first.userID))
        fixture.driver.setUnreachable(true)
        await #expect(throws: CoreError.self) { try await supervisor.start(kind: .terminal, for: fixture.user) }
        #expect(!FileManager.default.fileExists(atPath: fixture.backups.workspace(tenant: first.tenantID, user: first.userID)))
    }

    @Test func aRestoreLandsBesideTheLiveCopyAndNeverOverwrites() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        let workspace = fixture.backups.workspace(tenant: session.tenantID, user: session.userID)
        try FileManager.default.createDirectory(atPath: workspace + "/docs", withIntermediateDirectories: true)
        try Data("v1".utf8).write(to: URL(fileURLWithPath: workspace + "/docs/plan.md"))
        let summary = try #require(try await fixture.backups.snapshot(tenant: session.tenantID, user: session.userID, session: session.id))
        try Data("v2".utf8).write(to: URL(fileURLWithPath: workspace + "/docs/plan.md"))

        let restored = try await fixture.backups.restore(
            snapshot: summary.snapshot.shortID, path: try WorkspacePath("docs"), for: fixture.user)
        let folder = "Restored " + WorkspaceBackups.folderTime(summary.snapshot.time, zone: TimeZone(identifier: "Europe/London")!)
        #expect(restored.restoredTo == folder + "/docs")
        #expect(FileManager.default.contents(atPath: workspace + "/" + folder + "/docs/plan.md") == Data("v1".utf8))
        #expect(FileManager.default.contents(atPath: workspace + "/docs/plan.md") == Data("v2".utf8))

        let again = try await fixture.backups.restore(
            snapshot: summary.snapshot.id, path: try WorkspacePath("docs/plan.md"), for: fixture.user)
        #expect(again.restoredTo == folder + " (2)/plan.md")
        #expect(FileManager.default.contents(atPath: workspace + "/" + folder + "/docs/plan.md") == Data("v1".utf8))
    }

    @Test func anotherUsersSnapshotIsNotFound() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        try fixture.write("mine.txt", in: session)
        let summary = try #require(try await fixture.backups.snapshot(tenant: session.tenantID, user: session.userID, session: session.id))
        let other = User(tenantID: session.tenantID, email: "bob@acme.test", name: "Bob", role: .member, createdAt: fixture.clock.now())
        try await fixture.store.repositories.users.create(other, passwordHash: "h")
        let refusal = await #expect(throws: CoreError.self) {
            try await fixture.backups.restore(snapshot: summary.snapshot.id, path: .root, for: other)
        }
        #expect(refusal?.kind == .notFound)
        #expect(try await fixture.backups.snapshots(for: other).isEmpty)
    }

    @Test func aRunningBackupIsListedWithItsProgressUntilItEnds() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        try fixture.write("work.txt", in: session)
        fixture.driver.hold()
        let backup = Task { try await fixture.backups.snapshot(tenant: session.tenantID, user: session.userID, session: session.id) }
        #expect(
            try await self.eventually {
                await fixture.backups.activity(for: fixture.user).first?.progress?.fraction == 0.5
            })
        let running = try #require(await fixture.backups.activity(for: fixture.user).first)
        #expect(running.kind == .backup)
        #expect(running.sessionID == session.id)
        fixture.driver.release()
        _ = try await backup.value
        #expect(await fixture.backups.activity(for: fixture.user).isEmpty)
    }

    @Test func retentionAppliesEachTenantsPolicy() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        try fixture.write("work.txt", in: session)
        for _ in 0..<4 {
            _ = try await fixture.backups.snapshot(tenant: session.tenantID, user: session.userID, session: session.id)
        }
        var tenant = try #require(try await fixture.store.repositories.tenants.find(id: session.tenantID))
        tenant.retention = RetentionPolicy(keepLast: 2, keepHourly: 0, keepDaily: 0, keepWeekly: 0)
        try await fixture.store.repositories.tenants.update(tenant)
        await RetentionService(
            backups: fixture.backups, repositories: fixture.store.repositories, interval: .seconds(3600), logger: Logger(label: "test")
        ).applyAll()
        #expect(try await fixture.driver.snapshots(tenant: session.tenantID, user: session.userID).count == 2)
    }

    @Test func anEmptyWorkspaceHasNothingToBackUpAndStillCloses() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        #expect(try await fixture.backups.snapshot(tenant: session.tenantID, user: session.userID, session: session.id) == nil)
        _ = try await supervisor.close(session.id, by: fixture.user)
        await supervisor.closesSettled()
        #expect(try await fixture.stored(session.id).state == .closed)
        #expect(try await fixture.events(session.id) == [.started, .closing, .closed])
        #expect(fixture.driver.backupCount == 0)
    }
}
