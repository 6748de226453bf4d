import Foundation
import HoldfastCore
import Testing

extension SessionStateMachineTests {
    @Suite("closing, retries and extending")
    struct Closing {
        @Test("a close of a connected session drops every client, records why and starts the final backup")
        func closeConnected() throws {
            var machine = Fixture.connected()
            _ = try machine.attach(bob, at: at(3))
            let actions = machine.closeRequested(reason: .admin, at: at(4))
            #expect(machine.state == .closing)
            #expect(machine.closeReason == .admin)
            #expect(machine.clients.isEmpty)
            #expect(actions.first == .disconnectAll)
            #expect(actions.eventTypes == [.closing])
            #expect(actions.suffix(2) == [.beginClosing(.admin), .persist])
        }

        @Test("a close of a session without clients disconnects nobody", arguments: [Fixture.started(), Fixture.held()])
        func closeWithoutClients(machine: Machine) {
            var machine = machine
            let actions = machine.closeRequested(reason: .maintenance, at: at(10))
            #expect(machine.state == .closing)
            #expect(!actions.contains(.disconnectAll))
            #expect(actions.contains(.beginClosing(.maintenance)))
        }

        @Test("a close requested while closing or closed is a no-op: no second backup", arguments: SessionCloseReason.allCases)
        func closeIsIdempotent(reason: SessionCloseReason) {
            for fixture in [Fixture.closing(), Fixture.closingRetryPending(), Fixture.closed()] {
                var machine = fixture
                #expect(machine.closeRequested(reason: reason, at: at(100)) == [])
                #expect(machine == fixture)
            }
        }

        @Test("a verified final snapshot closes the session; a repeated report changes nothing")
        func closingSucceeded() throws {
            var machine = Fixture.closing()
            let actions = try machine.closingSucceeded(at: at(6))
            #expect(machine.state == .closed)
            #expect(machine.closeReason == .user)
            #expect(actions.eventTypes == [.closed])
            #expect(actions.last == .persist)
            #expect(try machine.closingSucceeded(at: at(7)) == [])
        }

        @Test("a closing outcome outside closing is refused", arguments: [Fixture.started(), Fixture.connected(), Fixture.held()])
        func closingOutcomeOutsideClosing(machine: Machine) {
            var machine = machine
            let before = machine
            #expect(throws: CoreError.self) { try machine.closingSucceeded(at: at(10)) }
            let error = #expect(throws: CoreError.self) { try machine.closingFailed(error: "x", at: at(10)) }
            #expect(error?.sessionRefusal == .notClosing)
            #expect(machine == before)
        }

        @Test("failed closes back off 5 s, 10 s, 20 s … capped at 5 min, and alert the operator once, at the third failure")
        func backoffAndAlert() throws {
            var machine = Fixture.closing()
            var now = at(10)
            var delays: [TimeInterval] = []
            var alerts = 0
            for attempt in 1...9 {
                let actions = try machine.closingFailed(error: "restic: connection refused", at: now)
                #expect(machine.state == .closing)
                #expect(machine.closingFailures == attempt)
                #expect(actions.eventTypes == [.failed])
                let retryAt = try #require(machine.closingRetryAt)
                #expect(actions.contains(.scheduleRetry(at: retryAt)))
                #expect(actions.last == .persist)
                delays.append(retryAt.timeIntervalSince(now))
                for case .alertOperator(let message) in actions {
                    alerts += 1
                    #expect(attempt == 3)
                    #expect(message.contains("restic: connection refused"))
                }

                // No retry before its instant; at the instant, the same close starts again.
                #expect(machine.tick(now: retryAt.addingTimeInterval(-0.001)) == [])
                #expect(machine.tick(now: retryAt) == [.beginClosing(.user), .persist])
                #expect(machine.closingRetryAt == nil)
                now = retryAt.addingTimeInterval(2)
            }
            #expect(delays == [5, 10, 20, 40, 80, 160, 300, 300, 300])
            #expect(alerts == 1)

            _ = try machine.closingSucceeded(at: now)
            #expect(machine.state == .closed)
        }

        @Test("a failure reported while a retry is waiting does not count twice")
        func failureWithoutAttempt() {
            var machine = Fixture.closingRetryPending()
            let before = machine
            let error = #expect(throws: CoreError.self) { try machine.closingFailed(error: "again", at: at(6)) }
            #expect(error?.sessionRefusal == .noClosingAttempt)
            #expect(machine == before)
        }

        @Test("an administrator moves a held deadline later, and a resume after the old deadline then succeeds")
        func extend() throws {
            var machine = Fixture.held()
            let actions = try machine.extend(by: 600, at: at(100))
            #expect(actions.eventTypes == [.extended])
            #expect(actions.last == .persist)
            #expect(machine.lostAt == at(2))
            #expect(machine.expiresAt == at(2 + grace + 600))

            _ = try machine.extend(to: at(5000), at: at(200))
            #expect(machine.expiresAt == at(5000))

            #expect(machine.tick(now: at(2 + grace + 1)) == [])
            _ = try machine.attach(bob, at: at(4999))
            #expect(machine.state == .connected)
        }

        @Test("a deadline never moves earlier or stays put")
        func extendOnlyForward() {
            var machine = Fixture.held()
            let before = machine
            for deadline in [at(2 + grace), at(2 + grace - 1), at(0)] {
                let error = #expect(throws: CoreError.self) { try machine.extend(to: deadline, at: at(100)) }
                #expect(error?.sessionRefusal == .deadlineNotLater)
            }
            let negative = #expect(throws: CoreError.self) { try machine.extend(by: -60, at: at(100)) }
            #expect(negative?.sessionRefusal == .deadlineNotLater)
            #expect(machine == before)
        }

        @Test("a deadline that has passed cannot be extended: the session is already due to close")
        func extendAfterExpiry() {
            var machine = Fixture.held()
            let error = #expect(throws: CoreError.self) { try machine.extend(by: 600, at: at(2 + grace)) }
            #expect(error?.sessionRefusal == .expiring)
        }

        @Test("only a held session can be extended", arguments: [Fixture.started(), Fixture.connected()])
        func extendNotHeld(machine: Machine) {
            var machine = machine
            let error = #expect(throws: CoreError.self) { try machine.extend(by: 600, at: at(10)) }
            #expect(error?.sessionRefusal == .notHeld)
        }
    }
}
