import Foundation
import HoldfastCore
import Testing

extension SessionStateMachineTests {
    /// A store that, like the real one, saves the machine's fields only when an action says `.persist`.
    struct StoredSession {
        var machine: Machine
        private(set) var row: Machine.PersistedState

        init(_ machine: Machine) {
            self.machine = machine
            self.row = machine.persistedState
        }

        mutating func apply(_ actions: [Machine.Action]) {
            if actions.contains(.persist) { self.row = self.machine.persistedState }
        }

        /// What a restarted server rebuilds: the saved row, through JSON as a store would keep it.
        func restarted() throws -> Machine {
            let data = try JSONEncoder().encode(self.row)
            return Machine(restoring: try JSONDecoder().decode(Machine.PersistedState.self, from: data))
        }
    }

    @Suite("persistence and re-adoption after a restart")
    struct Adoption {
        @Test(
            "every state survives a save and restore",
            arguments: [
                Fixture.launching(), Fixture.started(), Fixture.held(), Fixture.closing(), Fixture.closingRetryPending(),
                Fixture.closed(),
            ]
        )
        func roundTrip(machine: Machine) throws {
            let restored = try StoredSession(machine).restarted()
            #expect(restored.persistedState == machine.persistedState)
            #expect(restored.state == machine.state)
            #expect(restored.expiresAt == machine.expiresAt)
            #expect(restored.nextDeadline == machine.nextDeadline)
        }

        @Test("a connected session comes back held from the last traffic the store knew, at most 5 s stale")
        func adoptConnectedAlive() throws {
            var store = StoredSession(Fixture.connected())  // saved at the attach, 2 s
            // Saved at 7 s (5 s after 2 s) and at 12 s (5 s after 7 s); 4, 9, 11.5 and 16 s are not saved.
            for second in [4.0, 7.0, 9.0, 11.5, 12.0, 16.0] {
                store.apply(store.machine.trafficReceived(from: alice, at: at(second)))
            }
            #expect(store.row.lastTrafficAt == at(12))

            // The server dies at 20 s; the last real traffic was 16 s.
            var machine = try store.restarted()
            #expect(machine.state == .connected)
            #expect(machine.clients.isEmpty)

            let actions = try machine.adopt(processesAlive: true, at: at(60))
            #expect(actions.eventTypes == [.adopted, .lost])
            #expect(actions.contains(.takeSnapshot))
            #expect(actions.last == .persist)
            #expect(machine.state == .held)
            // Never later than the real last traffic (16 s), and less than the persist interval earlier.
            #expect(machine.lostAt == at(12))
            #expect(machine.expiresAt == at(12 + grace))
        }

        @Test("a held session keeps its deadline across a restart")
        func adoptHeldAlive() throws {
            var machine = try StoredSession(Fixture.held()).restarted()
            let actions = try machine.adopt(processesAlive: true, at: at(60))
            #expect(actions == [.recordEvent(.init(at: at(60), type: .adopted, detail: "processes alive after restart"))])
            #expect(machine.state == .held)
            #expect(machine.lostAt == at(2))
            #expect(machine.expiresAt == at(2 + grace))
        }

        @Test("a held session whose deadline passed while the server was down closes on adoption")
        func adoptHeldExpiredDuringDowntime() throws {
            var machine = try StoredSession(Fixture.held()).restarted()
            let actions = try machine.adopt(processesAlive: true, at: at(2 + grace + 1))
            #expect(actions.eventTypes == [.adopted, .expired])
            #expect(actions.contains(.beginClosing(.expired)))
            #expect(machine.state == .closing)
        }

        @Test("a started session nobody attached yet keeps starting, with its deadline")
        func adoptStartingAlive() throws {
            var started = try StoredSession(Fixture.started()).restarted()
            #expect(try started.adopt(processesAlive: true, at: at(60)).eventTypes == [.adopted])
            #expect(started.state == .starting)
            #expect(started.expiresAt == at(1 + grace))
            _ = try started.attach(alice, at: at(61))
            #expect(started.state == .connected)
        }

        @Test("a launch cut short by the restart fails at once, whether or not it left processes", arguments: [true, false])
        func adoptLaunching(processesAlive: Bool) throws {
            var launching = try StoredSession(Fixture.launching()).restarted()
            let actions = try launching.adopt(processesAlive: processesAlive, at: at(60))
            #expect(launching.state == .closing)
            #expect(launching.closeReason == .startFailed)
            #expect(actions.eventTypes == [.adopted, .closing])
            #expect(actions.suffix(2) == [.beginClosing(.startFailed), .persist])
            #expect(throws: CoreError.self) { try launching.started(at: at(61)) }
        }

        @Test(
            "dead processes close a live session through the normal path",
            arguments: [Fixture.started(), Fixture.connected(), Fixture.held()]
        )
        func adoptDead(machine: Machine) throws {
            var machine = try StoredSession(machine).restarted()
            let actions = try machine.adopt(processesAlive: false, at: at(60))
            #expect(machine.state == .closing)
            #expect(machine.closeReason == .processesDied)
            #expect(actions.eventTypes == [.adopted, .closing])
            #expect(actions.suffix(2) == [.beginClosing(.processesDied), .persist])
        }

        @Test("a close that was running when the server died starts again, for the same reason", arguments: [true, false])
        func adoptClosingInFlight(processesAlive: Bool) throws {
            var machine = try StoredSession(Fixture.closing()).restarted()
            let actions = try machine.adopt(processesAlive: processesAlive, at: at(60))
            #expect(actions.eventTypes == [.adopted])
            #expect(actions.contains(.beginClosing(.user)))
            #expect(machine.state == .closing)
            #expect(machine.closeReason == .user)
        }

        @Test("a close waiting for its retry keeps its schedule and failure count")
        func adoptClosingRetryPending() throws {
            var machine = try StoredSession(Fixture.closingRetryPending()).restarted()
            #expect(machine.closingFailures == 1)
            let early = try machine.adopt(processesAlive: true, at: at(6))
            #expect(early.eventTypes == [.adopted])
            #expect(!early.contains(.beginClosing(.user)))
            #expect(machine.closingRetryAt == at(10))
            #expect(machine.tick(now: at(10)) == [.beginClosing(.user), .persist])
        }

        @Test("a closed session is not adopted", arguments: [true, false])
        func adoptClosed(processesAlive: Bool) throws {
            var machine = try StoredSession(Fixture.closed()).restarted()
            let error = #expect(throws: CoreError.self) { try machine.adopt(processesAlive: processesAlive, at: at(60)) }
            #expect(error?.sessionRefusal == .closed)
        }

        @Test("a restored connected session that is only ticked is still held, never leaked")
        func restoredConnectedTicked() throws {
            var machine = try StoredSession(Fixture.connected()).restarted()
            #expect(machine.nextDeadline == at(2))
            let actions = machine.tick(now: at(60))
            #expect(actions.eventTypes == [.lost])
            #expect(machine.state == .held)
            #expect(machine.lostAt == at(2))
        }

        @Test("a damaged held row without a deadline gets one from its last traffic instead of trapping")
        func damagedRow() {
            let row = Machine.PersistedState(state: .held, grace: grace, createdAt: at(0), lastTrafficAt: at(40))
            let machine = Machine(restoring: row)
            #expect(machine.lostAt == at(40))
            #expect(machine.expiresAt == at(40 + grace))
        }
    }
}
