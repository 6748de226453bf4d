import Foundation
import HoldfastCore
import Testing

@Suite("Maintenance clock: edges, reminders, late ticks, next tick")
struct MaintenanceClockTests {
    typealias F = StatusFixture

    /// Ticks at each instant in turn and collects every action, as a clock service would.
    func run(_ machine: inout MaintenanceStateMachine, at instants: [Date]) -> [MaintenanceAction] {
        instants.flatMap { machine.tick(now: $0) }
    }

    @Test("On time: 24 h and 1 h reminders, start with sessions closed, end; each exactly once")
    func onTime() throws {
        var machine = try F.schedule()
        #expect(machine.tick(now: F.at(hours: -24.001)) == [])
        #expect(machine.tick(now: F.at(hours: -24)) == [.notify(.reminder24h)])
        #expect(machine.tick(now: F.at(hours: -20)) == [])
        #expect(machine.tick(now: F.at(hours: -1)) == [.notify(.reminder1h)])
        #expect(machine.tick(now: F.at(hours: -0.5)) == [])
        #expect(machine.tick(now: F.start) == [.stateChanged(from: .scheduled, to: .inProgress), .notify(.started), .closeSessions])
        #expect(machine.window.state == .inProgress && machine.window.updatedAt == F.start)
        #expect(machine.tick(now: F.at(hours: 1)) == [])
        #expect(machine.tick(now: F.at(hours: 2)) == [.stateChanged(from: .inProgress, to: .completed), .notify(.ended)])
        #expect(machine.window.state == .completed)
        #expect(machine.window.noticesSent == Set(MaintenanceNotice.allCases).subtracting([.rescheduled, .cancelled]))
        // Idempotent: ticking again, at any time, sends nothing more.
        #expect(self.run(&machine, at: [F.at(hours: 2), F.at(hours: 3), F.at(hours: 400)]) == [])
    }

    @Test("Ticking many times around each instant sends every notice exactly once")
    func idempotent() throws {
        var machine = try F.schedule()
        let instants = stride(from: -30.0, through: 4, by: 0.25).flatMap { [F.at(hours: $0), F.at(hours: $0)] }
        let actions = self.run(&machine, at: instants)
        let notices = actions.compactMap { action -> MaintenanceNotice? in
            if case .notify(let notice) = action { return notice }
            return nil
        }
        #expect(notices == [.reminder24h, .reminder1h, .started, .ended])
        #expect(actions.filter { $0 == .closeSessions }.count == 1)
    }

    @Test("A tick late past both edges goes through both, in order, without closing sessions")
    func lateTickPastBothEdges() throws {
        var machine = try F.schedule()
        #expect(
            machine.tick(now: F.at(hours: 5)) == [
                .stateChanged(from: .scheduled, to: .inProgress), .notify(.started),
                .stateChanged(from: .inProgress, to: .completed), .notify(.ended),
            ])
        #expect(machine.window.state == .completed && machine.window.updatedAt == F.at(hours: 2))
        #expect(!machine.window.noticesSent.contains(.reminder24h) && !machine.window.noticesSent.contains(.reminder1h))
    }

    @Test("A tick late past the start only starts the window and closes sessions, with no stale reminders")
    func lateTickPastStart() throws {
        var machine = try F.schedule()
        #expect(machine.tick(now: F.at(hours: 1)) == [.stateChanged(from: .scheduled, to: .inProgress), .notify(.started), .closeSessions])
    }

    @Test("A clock that was down for the 24 h reminder sends only the 1 h one")
    func missedReminderIsNotSentLate() throws {
        var machine = try F.schedule()
        #expect(machine.tick(now: F.at(hours: -0.75)) == [.notify(.reminder1h)])
        #expect(machine.tick(now: F.at(hours: -0.5)) == [])
        // But a 24 h reminder late within its own span still goes out.
        var other = try F.schedule()
        #expect(other.tick(now: F.at(hours: -3)) == [.notify(.reminder24h)])
    }

    @Test(
        "A reminder goes out only if the window was scheduled before its instant",
        arguments: [
            (-48.0, [MaintenanceNotice.reminder24h, .reminder1h]), (-24.0, [.reminder1h]), (-23.0, [.reminder1h]),
            (-2.0, [.reminder1h]), (-1.0, []), (-0.5, []), (0.0, []),
        ])
    func reminderEligibility(createdHoursBefore: Double, expected: [MaintenanceNotice]) throws {
        var machine = try F.schedule(createdAt: F.at(hours: createdHoursBefore))
        let ticks = stride(from: createdHoursBefore, through: 3, by: 0.25).map { F.at(hours: $0) }
        let reminders = self.run(&machine, at: ticks).compactMap { action -> MaintenanceNotice? in
            if case .notify(let notice) = action, notice.lead != nil { return notice }
            return nil
        }
        #expect(reminders == expected)
        #expect(machine.window.state == .completed)
    }

    @Test("After a reschedule the reminders go out again for the new time, judged by when it was moved")
    func rescheduleSendsRemindersAgain() throws {
        var machine = try F.schedule()
        _ = self.run(&machine, at: [F.at(hours: -24), F.at(hours: -1)])
        // Moved 30 min before the old start to 2 days later: both reminders are owed again.
        _ = try machine.reschedule(startsAt: F.at(hours: 48), endsAt: F.at(hours: 50), others: [], at: F.at(hours: -0.5))
        #expect(machine.tick(now: F.start) == [])
        #expect(machine.tick(now: F.at(hours: 24)) == [.notify(.reminder24h)])
        #expect(machine.tick(now: F.at(hours: 47)) == [.notify(.reminder1h)])
        #expect(machine.tick(now: F.at(hours: 48)).contains(.notify(.started)))

        // Moved to 30 min ahead: too late for either reminder.
        var soon = try F.schedule()
        _ = try soon.reschedule(startsAt: F.at(hours: -47.5), endsAt: F.at(hours: -46), others: [], at: F.at(hours: -48))
        #expect(self.run(&soon, at: [F.at(hours: -47.9), F.at(hours: -47.6)]) == [])
    }

    @Test("Sessions are closed at the start only for windows that include them")
    func closeSessionsOnlyForSessions() throws {
        for (components, closes) in [([StatusComponent.portal, .storage], false), ([.sessions], true), ([.portal, .sessions], true)] {
            var machine = try F.schedule(components: Set(components))
            #expect(machine.tick(now: F.start).contains(.closeSessions) == closes)
        }
    }

    @Test("The next tick is the earliest pending reminder or edge, never in the past, and nil when over")
    func nextTick() throws {
        var machine = try F.schedule()
        let created = F.at(hours: -48)
        #expect(machine.nextTick(after: created) == F.at(hours: -24))
        _ = machine.tick(now: F.at(hours: -24))
        #expect(machine.nextTick(after: F.at(hours: -24)) == F.at(hours: -1))
        _ = machine.tick(now: F.at(hours: -1))
        #expect(machine.nextTick(after: F.at(hours: -1)) == F.start)
        _ = machine.tick(now: F.start)
        #expect(machine.nextTick(after: F.start) == F.at(hours: 2))
        #expect(machine.nextTick(after: F.at(hours: 3)) == F.at(hours: 3))
        _ = machine.tick(now: F.at(hours: 3))
        #expect(machine.nextTick(after: F.at(hours: 3)) == nil)

        // A reminder that is due now asks for a tick now; one whose span has passed is not waited for.
        let missed = try F.schedule()
        #expect(missed.nextTick(after: F.at(hours: -10)) == F.at(hours: -10))
        #expect(missed.nextTick(after: F.at(hours: -0.5)) == F.at(hours: -0.5))
        var late = try F.schedule()
        _ = late.tick(now: F.at(hours: -0.5))
        #expect(late.nextTick(after: F.at(hours: -0.5)) == F.start)

        // Created 30 min ahead: nothing before the start.
        let short = try F.schedule(createdAt: F.at(hours: -0.5))
        #expect(short.nextTick(after: F.at(hours: -0.5)) == F.start)
    }

    @Test("The next tick over many windows is the earliest one; finished windows are ignored")
    func nextTickOverWindows() throws {
        let first = try F.schedule(startsAt: F.at(hours: 10))
        let second = try F.schedule(startsAt: F.at(hours: 30), components: [.portal])
        var cancelled = try F.schedule(startsAt: F.at(hours: 5), components: [.storage])
        _ = try cancelled.cancel(at: F.at(hours: -47))
        let windows = [second.window, cancelled.window, first.window]
        #expect(MaintenanceStateMachine.nextTick(for: windows, after: F.at(hours: -40)) == F.at(hours: -14))
        #expect(MaintenanceStateMachine.nextTick(for: windows, after: F.at(hours: 11)) == F.at(hours: 11))
        #expect(MaintenanceStateMachine.nextTick(for: [cancelled.window], after: F.start) == nil)
        #expect(MaintenanceStateMachine.nextTick(for: [], after: F.start) == nil)
    }

    @Test("A clock that sleeps until each next tick sends exactly what frequent ticking sends")
    func sleepingClockMatchesPolling() throws {
        var sleeper = try F.schedule(createdAt: F.at(hours: -30))
        var now = F.at(hours: -30)
        var actions: [MaintenanceAction] = []
        var ticks = 0
        while let next = sleeper.nextTick(after: now), ticks < 20 {
            now = next
            actions += sleeper.tick(now: now)
            ticks += 1
        }
        var poller = try F.schedule(createdAt: F.at(hours: -30))
        let polled = self.run(&poller, at: stride(from: -30.0, through: 3, by: 0.1).map { F.at(hours: $0) })
        #expect(actions == polled)
        #expect(ticks == 4)
        #expect(sleeper.window.noticesSent == poller.window.noticesSent && sleeper.window.state == .completed)
        #expect(sleeper.window.updatedAt == poller.window.updatedAt && poller.window.state == .completed)
    }
}
