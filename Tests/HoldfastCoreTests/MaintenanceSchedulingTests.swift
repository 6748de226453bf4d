import Foundation
import HoldfastCore
import Testing

@Suite("Maintenance windows: scheduling, rescheduling, cancelling")
struct MaintenanceSchedulingTests {
    typealias F = StatusFixture
    let now = StatusFixture.at(hours: -48)

    func scheduleCode(
        title: String = "Kernel upgrade", details: String? = nil, startsAt: Date = StatusFixture.start, endsAt: Date? = nil,
        components: Set<StatusComponent> = [.sessions], others: [MaintenanceWindow] = []
    ) -> String? {
        F.code {
            _ = try MaintenanceStateMachine.schedule(
                title: title, details: details, startsAt: startsAt, endsAt: endsAt ?? startsAt.addingTimeInterval(2 * F.hour),
                components: components, others: others, at: self.now)
        }
    }

    @Test("A valid window is scheduled with sequence 0, trimmed text, and the created notice, sent once")
    func scheduled() throws {
        let (machine, actions) = try MaintenanceStateMachine.schedule(
            title: "  Kernel upgrade ", details: "  \n ", startsAt: F.start, endsAt: F.at(hours: 2), components: [.sessions, .storage],
            others: [], at: self.now)
        let window = machine.window
        #expect(actions == [.notify(.created)])
        #expect(window.title == "Kernel upgrade" && window.details == nil)
        #expect(window.state == .scheduled && window.sequence == 0 && window.noticesSent == [.created])
        #expect(window.createdAt == self.now && window.updatedAt == self.now && window.scheduledAt == self.now)
    }

    @Test("Each rule breaks with its own stable code")
    func validationCodes() {
        #expect(self.scheduleCode(title: " ") == "invalid_title")
        #expect(self.scheduleCode(title: String(repeating: "t", count: 201)) == "invalid_title")
        #expect(self.scheduleCode(title: String(repeating: "t", count: 200)) == nil)
        #expect(self.scheduleCode(title: "two\nlines") == "invalid_title")
        #expect(self.scheduleCode(details: String(repeating: "d", count: 10_001)) == "invalid_details")
        #expect(self.scheduleCode(components: []) == "invalid_components")
        #expect(self.scheduleCode(endsAt: F.start) == "window_ends_before_start")
        #expect(self.scheduleCode(endsAt: F.at(hours: -1)) == "window_ends_before_start")
        #expect(self.scheduleCode(startsAt: self.now.addingTimeInterval(-1)) == "window_in_past")
        #expect(self.scheduleCode(startsAt: self.now) == nil)
        #expect(self.scheduleCode(endsAt: F.start.addingTimeInterval(7 * F.day)) == nil)
        #expect(self.scheduleCode(endsAt: F.start.addingTimeInterval(7 * F.day + 1)) == "window_too_long")
    }

    @Test("Unknown component names are refused with the valid ones listed, from a list and from JSON")
    func unknownComponents() throws {
        #expect(try StatusComponent.validatedSet(["sessions", "storage", "sessions"]) == [.sessions, .storage])
        #expect(F.code { _ = try StatusComponent.validatedSet([]) } == "invalid_components")
        do {
            _ = try StatusComponent.validatedSet(["gateway"])
            Issue.record("an unknown component was accepted")
        } catch let error as CoreError {
            #expect(error.code == "invalid_components" && error.kind == .invalidInput)
            #expect(error.message.contains("portal, sessions, storage, support"))
        }
        let json = Data(#"["sessions","gateway"]"#.utf8)
        #expect(F.code { _ = try JSONDecoder().decode(Set<StatusComponent>.self, from: json) } == "invalid_components")
        #expect(StatusComponent.allCases.map(\.rawValue) == ["portal", "sessions", "storage", "support"])
        #expect(
            Set(ComponentState.allCases.map(\.rawValue)) == [
                "operational", "degraded", "partial-outage", "major-outage", "under-maintenance",
            ])
    }

    @Test("Overlap is refused only with an active window sharing a component, and names that window")
    func overlap() throws {
        let other = try F.schedule(title: "Storage migration", components: [.sessions, .storage]).window
        do {
            _ = try MaintenanceStateMachine.schedule(
                title: "New", startsAt: F.at(hours: 1), endsAt: F.at(hours: 3), components: [.storage, .portal], others: [other],
                at: self.now)
            Issue.record("an overlapping window was accepted")
        } catch let error as CoreError {
            #expect(error.kind == .conflict && error.code == "window_overlaps")
            #expect(error.message.contains("Storage migration") && error.message.contains(other.id.description))
            #expect(error.message.contains("on storage;"))
        }
        // Another component: no clash.
        #expect(self.scheduleCode(startsAt: F.at(hours: 1), components: [.portal], others: [other]) == nil)
        // Touching edges do not overlap ([start, end) intervals).
        #expect(self.scheduleCode(startsAt: F.at(hours: 2), others: [other]) == nil)
        #expect(self.scheduleCode(startsAt: F.at(hours: -2), others: [other]) == nil)
        #expect(self.scheduleCode(startsAt: F.at(hours: -1), others: [other]) == "window_overlaps")
        // Containing the other window entirely is an overlap too.
        #expect(self.scheduleCode(startsAt: F.at(hours: -1), endsAt: F.at(hours: 5), others: [other]) == "window_overlaps")
    }

    @Test("Cancelled and completed windows do not block; an in-progress one does")
    func inactiveWindowsDoNotBlock() throws {
        var cancelled = try F.schedule()
        _ = try cancelled.cancel(at: self.now)
        #expect(self.scheduleCode(others: [cancelled.window]) == nil)

        var running = try F.schedule(startsAt: self.now, length: 100 * F.hour, createdAt: self.now)
        _ = running.tick(now: self.now)
        #expect(running.window.state == .inProgress)
        #expect(self.scheduleCode(others: [running.window]) == "window_overlaps")

        var completed = try F.schedule(startsAt: self.now, length: F.hour, createdAt: self.now)
        _ = completed.tick(now: self.now.addingTimeInterval(F.hour))
        #expect(completed.window.state == .completed)
        #expect(self.scheduleCode(startsAt: self.now, others: [completed.window]) == nil)
    }

    @Test("Rescheduling bumps the sequence, resets the lead reminders, and ignores the window itself for overlap")
    func reschedule() throws {
        var machine = try F.schedule()
        _ = machine.tick(now: F.at(hours: -24))
        _ = machine.tick(now: F.at(hours: -1))
        #expect(machine.window.noticesSent == [.created, .reminder24h, .reminder1h])
        let movedAt = F.at(hours: -0.5)
        // Moving by one hour overlaps its own old time, which must not count.
        let actions = try machine.reschedule(startsAt: F.at(hours: 1), endsAt: F.at(hours: 3), others: [machine.window], at: movedAt)
        #expect(actions == [.notify(.rescheduled)])
        #expect(machine.window.sequence == 1 && machine.window.rescheduledAt == movedAt && machine.window.updatedAt == movedAt)
        #expect(machine.window.noticesSent == [.created, .rescheduled])
        #expect(machine.window.startsAt == F.at(hours: 1) && machine.window.endsAt == F.at(hours: 3))
        // Same times again: nothing happens, the sequence stays.
        #expect(try machine.reschedule(startsAt: F.at(hours: 1), endsAt: F.at(hours: 3), others: [], at: movedAt) == [])
        #expect(machine.window.sequence == 1)
    }

    @Test("Rescheduling runs the same checks, and leaves the window unchanged when one fails")
    func rescheduleChecks() throws {
        var machine = try F.schedule()
        let other = try F.schedule(startsAt: F.at(hours: 10)).window
        let before = machine
        #expect(
            F.code { _ = try machine.reschedule(startsAt: F.at(hours: 9), endsAt: F.at(hours: 11), others: [other], at: self.now) }
                == "window_overlaps")
        #expect(
            F.code { _ = try machine.reschedule(startsAt: F.at(hours: 3), endsAt: F.at(hours: 3), others: [], at: self.now) }
                == "window_ends_before_start")
        #expect(
            F.code { _ = try machine.reschedule(startsAt: F.at(hours: -49), endsAt: F.at(hours: 3), others: [], at: self.now) }
                == "window_in_past")
        #expect(
            F.code { _ = try machine.reschedule(startsAt: F.start, endsAt: F.at(hours: 24 * 8), others: [], at: self.now) }
                == "window_too_long")
        #expect(machine == before)
    }

    @Test("Only a scheduled window that has not started can be moved")
    func rescheduleOnlyWhileScheduled() throws {
        var machine = try F.schedule()
        // Started by the clock but not yet ticked: still refused.
        #expect(
            F.code { _ = try machine.reschedule(startsAt: F.at(hours: 5), endsAt: F.at(hours: 6), others: [], at: F.start) }
                == "window_not_scheduled")
        _ = machine.tick(now: F.start)
        #expect(
            F.code { _ = try machine.reschedule(startsAt: F.at(hours: 5), endsAt: F.at(hours: 6), others: [], at: F.at(hours: 1)) }
                == "window_not_scheduled")
        var cancelled = try F.schedule()
        _ = try cancelled.cancel(at: self.now)
        #expect(
            F.code { _ = try cancelled.reschedule(startsAt: F.at(hours: 5), endsAt: F.at(hours: 6), others: [], at: self.now) }
                == "window_not_scheduled")
    }

    @Test("Cancelling works while scheduled or in progress, bumps the sequence once, and not after the end")
    func cancel() throws {
        var scheduled = try F.schedule()
        #expect(try scheduled.cancel(at: F.at(hours: -3)) == [.stateChanged(from: .scheduled, to: .cancelled), .notify(.cancelled)])
        #expect(scheduled.window.state == .cancelled && scheduled.window.sequence == 1 && scheduled.window.cancelledAt == F.at(hours: -3))
        #expect(try scheduled.cancel(at: F.at(hours: -2)) == [])
        #expect(scheduled.window.sequence == 1 && scheduled.window.cancelledAt == F.at(hours: -3))
        #expect(scheduled.tick(now: F.at(hours: 5)) == [])

        var running = try F.schedule()
        _ = running.tick(now: F.start)
        #expect(try running.cancel(at: F.at(hours: 1)) == [.stateChanged(from: .inProgress, to: .cancelled), .notify(.cancelled)])
        #expect(running.tick(now: F.at(hours: 3)) == [])

        var done = try F.schedule()
        _ = done.tick(now: F.at(hours: 2))
        do {
            _ = try done.cancel(at: F.at(hours: 3))
            Issue.record("a completed window was cancelled")
        } catch let error as CoreError {
            #expect(error.kind == .conflict && error.code == "window_completed")
        }
    }

    @Test("Windows survive a JSON round trip, and unknown wire words are refused")
    func coding() throws {
        var machine = try F.schedule(details: "Details", components: [.portal, .sessions])
        _ = machine.tick(now: F.at(hours: -1))
        let data = try JSONEncoder().encode(machine.window)
        #expect(try JSONDecoder().decode(MaintenanceWindow.self, from: data) == machine.window)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"reminder-1h\"") && text.contains("\"scheduled\""))
        let broken = Data(text.replacingOccurrences(of: "\"scheduled\"", with: "\"paused\"").utf8)
        #expect(F.code { _ = try JSONDecoder().decode(MaintenanceWindow.self, from: broken) } == "invalid_state")
    }
}
