import Foundation
import HoldfastCore
import Testing

/// The session state machine's suites, nested so that their helpers stay out of the test module's global names.
///
/// Every instant is `base` plus an offset in seconds (`at(10)`): no clock is read and no test sleeps.
@Suite("Session state machine")
struct SessionStateMachineTests {
    typealias Machine = SessionStateMachine
    typealias ClientID = SessionStateMachine.ClientID
    typealias Refusal = SessionStateMachine.Refusal

    static let base = Date(timeIntervalSince1970: 1_790_000_000)

    static func at(_ seconds: TimeInterval) -> Date { Self.base.addingTimeInterval(seconds) }

    /// The default grace, 30 minutes.
    static let grace: TimeInterval = 1800

    /// A fixed client id, so that action lists compare equal run after run.
    static func client(_ number: Int) -> ClientID {
        ClientID(rawValue: UUID(uuidString: String(format: "00000000-0000-0000-0000-%012d", number))!)
    }

    static let alice = Self.client(1)
    static let bob = Self.client(2)

    /// Machines in each state, built only through events (created at 0 s, started at 1 s, Alice attached at 2 s).
    enum Fixture {
        /// Created at 0 s, processes still launching.
        static func launching() -> Machine {
            Machine(grace: grace, createdAt: at(0))
        }

        /// Started at 1 s; nobody attached.
        static func started() -> Machine {
            var machine = Self.launching()
            _ = try! machine.started(at: at(1))
            return machine
        }

        /// Alice attached at 2 s.
        static func connected() -> Machine {
            var machine = Self.started()
            _ = try! machine.attach(alice, at: at(2))
            return machine
        }

        /// Alice's socket closed at 3 s; her last traffic was the attach at 2 s, so the deadline is 2 s + grace.
        static func held() -> Machine {
            var machine = Self.connected()
            _ = machine.clientDisconnected(alice, at: at(3))
            return machine
        }

        /// The user closed the held session at 4 s; the first attempt is running.
        static func closing() -> Machine {
            var machine = Self.held()
            _ = machine.closeRequested(reason: .user, at: at(4))
            return machine
        }

        /// The first closing attempt failed at 5 s; a retry is scheduled.
        static func closingRetryPending() -> Machine {
            var machine = Self.closing()
            _ = try! machine.closingFailed(error: "repository locked", at: at(5))
            return machine
        }

        /// Closed at 6 s.
        static func closed() -> Machine {
            var machine = Self.closing()
            _ = try! machine.closingSucceeded(at: at(6))
            return machine
        }
    }
}

extension Array where Element == SessionStateMachine.Action {
    /// The timeline rows these actions record, in order.
    var events: [SessionEvent] {
        self.compactMap {
            guard case .recordEvent(let event) = $0 else { return nil }
            return event
        }
    }

    var eventTypes: [SessionEventType] { self.events.map(\.type) }
}

extension SessionStateMachineTests {
    @Suite("starting, clients and the heartbeat")
    struct Clients {
        @Test("the wire strings of states and event types are the contract's")
        func wireStrings() {
            #expect(SessionState.allCases.map(\.rawValue) == ["starting", "connected", "held", "closing", "closed"])
            let contract = ["started", "attached", "lost", "resumed", "snapshot", "expired", "closed", "adopted"]
            #expect(Set(contract).isSubset(of: SessionEventType.allCases.map(\.rawValue)))
            #expect(SessionEventType.allCases.allSatisfy { $0.rawValue == $0.rawValue.lowercased() })
            #expect(SessionKind.allCases.map(\.rawValue) == ["terminal", "desktop"])
        }

        @Test("a new session has a deadline from creation and refuses clients until its processes are up")
        func launching() throws {
            var machine = Fixture.launching()
            #expect(machine.state == .starting)
            #expect(machine.expiresAt == at(grace))
            #expect(machine.lostAt == nil)

            let before = machine
            let error = #expect(throws: CoreError.self) { try machine.attach(alice, at: at(0.5)) }
            #expect(error?.sessionRefusal == .notStarted)
            #expect(machine == before)
        }

        @Test("started opens the session to clients and restarts the deadline from now")
        func started() throws {
            var machine = Fixture.launching()
            let actions = try machine.started(at: at(60))
            #expect(actions.eventTypes == [.started])
            #expect(actions.last == .persist)
            #expect(machine.state == .starting)
            #expect(machine.startedAt == at(60))
            #expect(machine.expiresAt == at(60 + grace))

            let error = #expect(throws: CoreError.self) { try machine.started(at: at(61)) }
            #expect(error?.sessionRefusal == .alreadyStarted)
        }

        @Test("the first attach connects the session and clears its deadline")
        func firstAttach() throws {
            var machine = Fixture.started()
            let actions = try machine.attach(alice, at: at(2))
            #expect(actions.eventTypes == [.attached])
            #expect(actions.last == .persist)
            #expect(machine.state == .connected)
            #expect(machine.expiresAt == nil)
            #expect(machine.clients[alice]?.lastTrafficAt == at(2))
            #expect(machine.lastTrafficAt == at(2))
        }

        @Test("a started session nobody attaches to expires one grace after it started, not a millisecond before")
        func neverAttachedExpires() {
            var machine = Fixture.started()
            #expect(machine.tick(now: at(1 + grace - 0.001)) == [])
            let actions = machine.tick(now: at(1 + grace))
            #expect(machine.state == .closing)
            #expect(machine.closeReason == .expired)
            #expect(actions.eventTypes == [.expired])
            #expect(actions.contains(.beginClosing(.expired)))
        }

        @Test("a launch that never reports started still expires one grace after creation")
        func launchThatNeverReportsExpires() {
            var machine = Fixture.launching()
            let actions = machine.tick(now: at(grace))
            #expect(machine.state == .closing)
            #expect(actions.contains(.beginClosing(.expired)))
        }

        @Test("a failed start closes through the normal path, once")
        func startFailed() throws {
            var machine = Fixture.launching()
            let actions = try machine.startFailed(error: "bwrap: permission denied", at: at(1))
            #expect(machine.state == .closing)
            #expect(machine.closeReason == .startFailed)
            #expect(actions.eventTypes == [.closing])
            #expect(actions.events.first?.detail.contains("bwrap: permission denied") == true)
            #expect(actions.contains(.beginClosing(.startFailed)))
            #expect(try machine.startFailed(error: "again", at: at(2)) == [])
        }

        @Test("one of two clients leaving keeps the session connected; the last one leaving holds it")
        func severalClients() throws {
            var machine = Fixture.connected()
            _ = try machine.attach(bob, at: at(5))
            #expect(machine.clients.count == 2)

            let first = machine.clientDisconnected(alice, at: at(6))
            #expect(machine.state == .connected)
            #expect(first.eventTypes == [.detached])
            #expect(!first.contains(.takeSnapshot))
            #expect(machine.expiresAt == nil)

            _ = machine.trafficReceived(from: bob, at: at(8))
            let last = machine.clientDisconnected(bob, at: at(9))
            #expect(machine.state == .held)
            #expect(last.eventTypes == [.lost])
            #expect(last.contains(.takeSnapshot))
            #expect(last.last == .persist)
            // Bob's socket closed at 9 s, but the last traffic received was at 8 s.
            #expect(machine.lostAt == at(8))
            #expect(machine.expiresAt == at(8 + grace))
        }

        @Test("lostAt is the latest traffic from any client, even when another client is the last to go")
        func lostAtIsTheLatestTrafficOfAnyClient() throws {
            var machine = Fixture.connected()
            _ = try machine.attach(bob, at: at(5))
            _ = machine.trafficReceived(from: bob, at: at(95))
            _ = machine.trafficReceived(from: alice, at: at(100))
            _ = machine.clientDisconnected(alice, at: at(100))
            #expect(machine.state == .connected)

            // Bob went silent after 95 s; he is found out at 95 + 20 s.
            #expect(machine.tick(now: at(114.999)) == [])
            let actions = machine.tick(now: at(115))
            #expect(actions.first == .disconnectClient(bob))
            #expect(machine.state == .held)
            // Not Bob's 95 s (the user typed in Alice's tab at 100 s) and not the detection at 115 s.
            #expect(machine.lostAt == at(100))
        }

        @Test("a silent client is lost at exactly 2 × heartbeat, dated by its last traffic")
        func silentLink() {
            var machine = Fixture.connected()
            _ = machine.trafficReceived(from: alice, at: at(10))
            #expect(machine.nextDeadline == at(30))

            #expect(machine.tick(now: at(29.999)) == [])
            #expect(machine.state == .connected)

            let actions = machine.tick(now: at(30))
            #expect(actions.first == .disconnectClient(alice))
            #expect(actions.eventTypes == [.lost])
            #expect(actions.contains(.takeSnapshot))
            #expect(machine.state == .held)
            #expect(machine.lostAt == at(10))
            #expect(machine.expiresAt == at(10 + grace))
        }

        @Test("the silence limit follows the configured heartbeat")
        func configuredHeartbeat() throws {
            var machine = Machine(grace: grace, createdAt: at(0), configuration: .init(heartbeat: 5))
            _ = try machine.started(at: at(0))
            _ = try machine.attach(alice, at: at(0))
            #expect(machine.tick(now: at(9.999)) == [])
            #expect(machine.tick(now: at(10)).first == .disconnectClient(alice))
        }

        @Test("pongs keep a quiet client attached indefinitely")
        func pongsKeepClientAlive() {
            var machine = Fixture.connected()
            for second in stride(from: 12.0, through: 3600, by: 10) {
                _ = machine.trafficReceived(from: alice, at: at(second))
                #expect(machine.tick(now: at(second + 5)).eventTypes == [])
            }
            #expect(machine.state == .connected)
        }

        @Test("a late pong moves nothing backwards and revives no one")
        func latePong() {
            var machine = Fixture.connected()
            _ = machine.trafficReceived(from: alice, at: at(50))
            #expect(machine.trafficReceived(from: alice, at: at(40)) == [])
            #expect(machine.clients[alice]?.lastTrafficAt == at(50))
            #expect(machine.lastTrafficAt == at(50))

            _ = machine.tick(now: at(70))
            #expect(machine.state == .held)
            let held = machine
            #expect(machine.trafficReceived(from: alice, at: at(71)) == [])
            #expect(machine.trafficReceived(from: bob, at: at(72)) == [])
            #expect(machine.clientDisconnected(alice, at: at(73)) == [])
            #expect(machine == held)
            #expect(machine.lostAt == at(50))
        }

        @Test("traffic asks the store for a save at most once per persist interval")
        func lastTrafficPersistThrottle() {
            var machine = Fixture.connected()  // saved at the attach, 2 s
            #expect(machine.trafficReceived(from: alice, at: at(4)) == [])
            #expect(machine.trafficReceived(from: alice, at: at(6.999)) == [])
            #expect(machine.trafficReceived(from: alice, at: at(7)) == [.persist])
            #expect(machine.persistedState.lastTrafficAt == at(7))
            #expect(machine.trafficReceived(from: alice, at: at(8)) == [])
        }

        @Test("a gateway that reuses an attached client's id is refused")
        func duplicateClient() {
            var machine = Fixture.connected()
            let before = machine
            let error = #expect(throws: CoreError.self) { try machine.attach(alice, at: at(5)) }
            #expect(error?.sessionRefusal == .duplicateClient)
            #expect(machine == before)
        }

        @Test("nextDeadline says when tick next has work, per state")
        func nextDeadline() throws {
            #expect(Fixture.launching().nextDeadline == at(grace))
            #expect(Fixture.started().nextDeadline == at(1 + grace))
            var connected = Fixture.connected()
            _ = try connected.attach(bob, at: at(15))
            #expect(connected.nextDeadline == at(2 + 20))  // the quieter client, Alice
            #expect(Fixture.held().nextDeadline == at(2 + grace))
            #expect(Fixture.closing().nextDeadline == nil)  // an attempt is running
            #expect(Fixture.closingRetryPending().nextDeadline == at(5 + 5))
            #expect(Fixture.closed().nextDeadline == nil)
        }
    }

    @Suite("resume and expiry")
    struct Resume {
        @Test("a resume 1 ms before the deadline succeeds and clears it")
        func resumeJustBeforeExpiry() throws {
            var machine = Fixture.held()
            let expiresAt = try #require(machine.expiresAt)
            let actions = try machine.attach(bob, at: expiresAt.addingTimeInterval(-0.001))
            #expect(machine.state == .connected)
            #expect(actions.eventTypes == [.resumed])
            #expect(actions.last == .persist)
            #expect(machine.lostAt == nil)
            #expect(machine.expiresAt == nil)
            #expect(machine.clients.keys.sorted { $0.description < $1.description } == [bob])
        }

        @Test("an attach at exactly the deadline is refused, even before any tick")
        func resumeAtExpiryRefused() throws {
            var machine = Fixture.held()
            let expiresAt = try #require(machine.expiresAt)
            let before = machine
            let error = #expect(throws: CoreError.self) { try machine.attach(bob, at: expiresAt) }
            #expect(error?.sessionRefusal == .expiring)
            #expect(machine == before)

            let actions = machine.tick(now: expiresAt)
            #expect(machine.state == .closing)
            #expect(actions.eventTypes == [.expired])
            #expect(actions.suffix(2) == [.beginClosing(.expired), .persist])
        }

        @Test("a held session does not expire a millisecond early")
        func noEarlyExpiry() {
            var machine = Fixture.held()
            #expect(machine.tick(now: at(2 + grace - 0.001)) == [])
            #expect(machine.state == .held)
        }

        @Test("a tick that finds a silent client after the grace is over closes the session at once")
        func lateTickCascades() {
            var machine = Fixture.connected()
            let actions = machine.tick(now: at(2 + grace + 60))
            #expect(machine.state == .closing)
            #expect(actions.first == .disconnectClient(alice))
            #expect(actions.eventTypes == [.lost, .expired])
            #expect(actions.contains(.beginClosing(.expired)))
        }

        @Test("a resumed session is lost again from its new last traffic")
        func loseAgainAfterResume() throws {
            var machine = Fixture.held()
            _ = try machine.attach(bob, at: at(600))
            _ = machine.trafficReceived(from: bob, at: at(700))
            _ = machine.tick(now: at(720))
            #expect(machine.lostAt == at(700))
            #expect(machine.expiresAt == at(700 + grace))
        }
    }
}
