import Foundation
import HoldfastCore
import Testing

extension SessionStateMachineTests {
    /// Another node records what happens to a session whose node stopped renewing its lease.
    @Suite("a session whose node is lost")
    struct NodeLoss {
        @Test("a connected session is held from the last traffic the store knew, for its grace, and adopted if its node returns")
        func connectedIsHeldThenAdopted() throws {
            var store = StoredSession(Fixture.connected())  // attached (and saved) at 2 s
            // What another node reads: the stored row, restored; the node was lost at 40 s.
            var machine = try store.restarted()
            let actions = machine.hostLost(node: "node-b", at: at(40))
            #expect(machine.state == .held)
            #expect(machine.lostAt == at(2))
            #expect(machine.expiresAt == at(2 + grace))
            #expect(actions.contains(.persist))
            guard case .recordEvent(let event) = actions.first else {
                Issue.record("no timeline row: \(actions)")
                return
            }
            #expect(event.type == .lost)
            #expect(event.detail.contains("node-b"))
            store.machine = machine
            store.apply(actions)
            // Marking again changes nothing; the grace has not ended, so it does not close yet.
            #expect(machine.hostLost(node: "node-b", at: at(50)) == [])
            #expect(machine.closeForLostHost(node: "node-b", at: at(2 + grace - 0.001)) == [])
            // node-b comes back within the grace: it adopts the held session as after a restart.
            var returned = try store.restarted()
            _ = try returned.adopt(processesAlive: true, at: at(60))
            #expect(returned.state == .held)
            #expect(returned.expiresAt == at(2 + grace))
        }

        @Test("a held session of a node still down at its deadline closes as host lost, without a final snapshot")
        func heldClosesAtItsDeadline() {
            var machine = Fixture.held()  // deadline 2 s + grace
            let actions = machine.closeForLostHost(node: "node-b", at: at(2 + grace))
            #expect(machine.state == .closed)
            #expect(machine.closeReason == .hostLost)
            #expect(!actions.contains { if case .beginClosing = $0 { true } else { false } })
            #expect(actions.contains(.persist))
        }

        @Test("a close cut short by the node's loss ends as host lost; a closed session is left alone")
        func closingAndClosed() {
            var closing = Fixture.closing()
            _ = closing.closeForLostHost(node: "node-b", at: at(100))
            #expect(closing.closeReason == .hostLost)
            #expect(closing.state == .closed)
            var closed = Fixture.closed()
            let reason = closed.closeReason
            #expect(closed.hostLost(node: "node-b", at: at(100)) == [])
            #expect(closed.closeForLostHost(node: "node-b", at: at(100)) == [])
            #expect(closed.closeReason == reason)
        }

        @Test("a session still starting when its node was lost is held from its creation")
        func startingIsHeld() {
            var machine = Fixture.launching()
            _ = machine.hostLost(node: "node-b", at: at(30))
            #expect(machine.state == .held)
            #expect(machine.lostAt == at(0))
        }
    }
}
