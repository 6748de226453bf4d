import Foundation
import HoldfastCore
import Testing

extension SessionStateMachineTests {
    /// The situations the matrix starts from (``Fixture``), named for test output.
    enum StartingPoint: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case launching, started, connected, held, closing, closingRetryPending, closed

        var machine: Machine {
            switch self {
            case .launching: Fixture.launching()
            case .started: Fixture.started()
            case .connected: Fixture.connected()
            case .held: Fixture.held()
            case .closing: Fixture.closing()
            case .closingRetryPending: Fixture.closingRetryPending()
            case .closed: Fixture.closed()
            }
        }

        var testDescription: String { self.rawValue }
    }

    /// Every event the machine takes, with fixed arguments: "soon" is 10 s (no deadline due in any fixture), "late" is a
    /// day later (every deadline due).
    enum Event: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case started, startFailed, attachNewClient, attachAlice, traffic, disconnect, tickSoon, tickLate, closeRequested
        case closingSucceeded, closingFailed, extend, adoptAlive, adoptDead

        func apply(to machine: inout Machine) throws(CoreError) -> [Machine.Action] {
            let soon = at(10)
            switch self {
            case .started: return try machine.started(at: soon)
            case .startFailed: return try machine.startFailed(error: "spawn failed", at: soon)
            case .attachNewClient: return try machine.attach(bob, at: soon)
            case .attachAlice: return try machine.attach(alice, at: soon)
            case .traffic: return machine.trafficReceived(from: alice, at: soon)
            case .disconnect: return machine.clientDisconnected(alice, at: soon)
            case .tickSoon: return machine.tick(now: soon)
            case .tickLate: return machine.tick(now: at(86_400))
            case .closeRequested: return machine.closeRequested(reason: .user, at: soon)
            case .closingSucceeded: return try machine.closingSucceeded(at: soon)
            case .closingFailed: return try machine.closingFailed(error: "verify failed", at: soon)
            case .extend: return try machine.extend(by: 600, at: soon)
            case .adoptAlive: return try machine.adopt(processesAlive: true, at: soon)
            case .adoptDead: return try machine.adopt(processesAlive: false, at: soon)
            }
        }

        var testDescription: String { self.rawValue }
    }

    enum Outcome: Equatable {
        case state(SessionState)
        case refused(Refusal)
    }

    /// The whole machine on one page: what each event does from each starting point.
    static func expectedOutcome(_ start: StartingPoint, _ event: Event) -> Outcome {
        switch (start, event) {
        // Refusals that depend only on the session being over.
        case (.closing, .started), (.closingRetryPending, .started), (.closing, .attachNewClient),
            (.closingRetryPending, .attachNewClient), (.closing, .attachAlice), (.closingRetryPending, .attachAlice),
            (.closing, .extend), (.closingRetryPending, .extend):
            return .refused(.closing)
        case (.closed, .started), (.closed, .attachNewClient), (.closed, .attachAlice), (.closed, .closingFailed),
            (.closed, .extend), (.closed, .adoptAlive), (.closed, .adoptDead):
            return .refused(.closed)

        // Starting.
        case (.launching, .started): return .state(.starting)
        case (.started, .started), (.connected, .started), (.held, .started): return .refused(.alreadyStarted)
        case (.connected, .startFailed), (.held, .startFailed): return .refused(.alreadyStarted)
        case (.launching, .attachNewClient), (.launching, .attachAlice): return .refused(.notStarted)
        case (.started, .attachNewClient), (.started, .attachAlice): return .state(.connected)

        // Clients.
        case (.connected, .attachNewClient): return .state(.connected)
        case (.connected, .attachAlice): return .refused(.duplicateClient)
        case (.held, .attachNewClient), (.held, .attachAlice): return .state(.connected)
        case (.connected, .disconnect): return .state(.held)

        // Deadlines: nothing is due soon; a day later every live session is closing.
        case (_, .tickLate) where start != .closed: return .state(.closing)

        // Closing.
        case (_, .startFailed), (_, .closeRequested), (_, .adoptDead): return .state(start == .closed ? .closed : .closing)
        case (.closing, .closingSucceeded), (.closingRetryPending, .closingSucceeded), (.closed, .closingSucceeded):
            return .state(.closed)
        case (_, .closingSucceeded): return .refused(.notClosing)
        case (.closing, .closingFailed): return .state(.closing)
        case (.closingRetryPending, .closingFailed): return .refused(.noClosingAttempt)
        case (_, .closingFailed): return .refused(.notClosing)

        // Administration and re-adoption.
        case (.held, .extend): return .state(.held)
        case (_, .extend): return .refused(.notHeld)
        case (.connected, .adoptAlive): return .state(.held)
        // A launch cut short by the restart fails at once, whatever it left running.
        case (.launching, .adoptAlive): return .state(.closing)

        // Everything else leaves the state as it is (late traffic, races, ticks with nothing due, adoption).
        default: return .state(start.machine.state)
        }
    }

    /// The lifecycle diagram: `starting → connected ⇄ held → closing → closed`, and any live state → closing.
    static let allowedNextStates: [SessionState: Set<SessionState>] = [
        .starting: [.starting, .connected, .closing],
        .connected: [.connected, .held, .closing],
        .held: [.held, .connected, .closing],
        .closing: [.closing, .closed],
        .closed: [.closed],
    ]

    @Suite("every event in every state")
    struct Transitions {
        @Test(
            "the event leads where the table says, through the diagram, to a consistent machine",
            arguments: StartingPoint.allCases,
            Event.allCases
        )
        func transition(start: StartingPoint, event: Event) {
            let before = start.machine
            var machine = before
            let outcome: Outcome
            let actions: [Machine.Action]
            do {
                actions = try event.apply(to: &machine)
                outcome = .state(machine.state)
            } catch {
                actions = []
                guard let refusal = error.sessionRefusal else {
                    Issue.record("a refusal carries a session refusal code, not \(error.code)")
                    return
                }
                outcome = .refused(refusal)
                #expect(machine == before, "a refusal must leave the machine untouched")
                #expect(error.kind == (refusal == .deadlineNotLater ? .invalidInput : .conflict), "a refusal is a 4xx")
                #expect(!error.message.isEmpty)
            }
            #expect(outcome == expectedOutcome(start, event))
            #expect(allowedNextStates[before.state]?.contains(machine.state) == true)
            Self.expectConsistent(machine)

            if machine.state != before.state {
                #expect(actions.contains(.persist), "a state change the store does not hear of is lost on restart")
                #expect(!actions.events.isEmpty, "every transition is on the timeline")
            }
            let closesStarted = actions.filter { if case .beginClosing = $0 { true } else { false } }.count
            #expect(closesStarted <= 1)
            if before.state == .closing, event == .closeRequested {
                #expect(closesStarted == 0, "a second close must not start a second backup")
            }
        }

        /// The fields the API shows agree with the state.
        static func expectConsistent(_ machine: Machine) {
            switch machine.state {
            case .starting:
                #expect(machine.clients.isEmpty)
                #expect(machine.expiresAt != nil && machine.lostAt == nil && machine.closeReason == nil)
            case .connected:
                #expect(!machine.clients.isEmpty)
                #expect(machine.expiresAt == nil && machine.lostAt == nil && machine.closeReason == nil)
            case .held:
                #expect(machine.clients.isEmpty && machine.closeReason == nil)
                if let lostAt = machine.lostAt, let expiresAt = machine.expiresAt {
                    #expect(expiresAt >= lostAt.addingTimeInterval(machine.grace))
                    #expect(lostAt <= (machine.lastTrafficAt ?? lostAt), "lostAt is never later than the last traffic")
                } else {
                    Issue.record("a held session has lostAt and expiresAt")
                }
            case .closing, .closed:
                #expect(machine.clients.isEmpty && machine.lostAt == nil && machine.expiresAt == nil)
                #expect(machine.closeReason != nil)
            }
            if machine.state != .closing {
                #expect(machine.closingRetryAt == nil)
            }
        }
    }
}
