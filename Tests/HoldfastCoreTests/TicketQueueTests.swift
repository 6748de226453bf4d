import Foundation
import HoldfastCore
import Testing

@Suite("Agent queue: order, time left, breach warnings")
struct TicketQueueTests {
    func ticket(filed: String, number: Int) throws -> Ticket {
        try TicketFixtures.ticket(at: try isoInstant(filed), number: number)
    }

    @Test("Unanswered tickets come first, earliest due first; answered and paused ones after or not at all")
    func order() throws {
        let calendar = try TicketFixtures.calendar()
        let agent = TicketFixtures.agent.id
        let late = try self.ticket(filed: "2026-11-30T12:00:00Z", number: 1)
        let early = try self.ticket(filed: "2026-11-30T09:30:00Z", number: 2)
        var answered = TicketStateMachine(ticket: try self.ticket(filed: "2026-11-30T09:00:00Z", number: 3), calendar: calendar)
        _ = try answered.reply(
            body: "On it", visibility: .public, channel: .web, by: agent, as: .team, at: try isoInstant("2026-11-30T09:10:00Z"))
        var waiting = TicketStateMachine(ticket: try self.ticket(filed: "2026-11-30T08:00:00Z", number: 4), calendar: calendar)
        _ = try waiting.changeStatus(to: .waitingOnCustomer, by: agent, as: .team, at: try isoInstant("2026-11-30T08:30:00Z"))
        var noPolicy = try self.ticket(filed: "2026-11-30T08:00:00Z", number: 5)
        noPolicy.firstResponseDueAt = nil
        noPolicy.firstResponseTargetMinutes = nil

        let now = try isoInstant("2026-11-30T13:45:00Z")
        let entries = try TicketQueue.entries([late, answered.ticket, waiting.ticket, noPolicy, early], calendar: calendar, at: now)
        #expect(entries.map(\.ticket.number) == [2, 1, 5, 3])
        // Ticket 2 was due 13:30: fifteen business minutes overdue. Ticket 1 is due 16:00.
        #expect(entries[0].businessMinutesLeft == -15)
        #expect(entries[0].isBreached)
        #expect(entries[1].businessMinutesLeft == 135)
        #expect(!entries[1].isBreached)
        #expect(entries[2].businessMinutesLeft == nil)
        #expect(entries[3].businessMinutesLeft == nil)
    }

    @Test("Time left counts business minutes only: overnight and weekends do not run down")
    func timeLeftAcrossTheWeekend() throws {
        let ticket = try self.ticket(filed: "2026-11-27T16:00:00Z", number: 1)
        #expect(ticket.firstResponseDueAt == (try isoInstant("2026-11-30T12:00:00Z")))
        let calendar = try TicketFixtures.calendar()
        #expect(try TicketQueue.timeLeft(for: ticket, calendar: calendar, at: try isoInstant("2026-11-28T12:00:00Z")) == 180 * 60)
        #expect(try TicketQueue.timeLeft(for: ticket, calendar: calendar, at: try isoInstant("2026-11-30T12:30:00Z")) == -30 * 60)
        #expect(TicketQueue.isBreached(ticket, at: try isoInstant("2026-11-30T12:00:01Z")))
        #expect(!TicketQueue.isBreached(ticket, at: try isoInstant("2026-11-30T12:00:00Z")))
    }

    @Test("A breach on Friday evening is reported on Monday at opening, never over the weekend, and only once")
    func breachWarningInsideHoursOnly() throws {
        // Filed Friday 13:00, due Friday 17:00; the "due soon" warning is due from 16:30.
        let calendar = try TicketFixtures.calendar()
        var machine = TicketStateMachine(ticket: try self.ticket(filed: "2026-11-27T13:00:00Z", number: 9), calendar: calendar)
        #expect(machine.ticket.firstResponseDueAt == (try isoInstant("2026-11-27T17:00:00Z")))
        let agent = TicketFixtures.agent.id
        #expect(try machine.tick(fallbackRecipients: [agent], at: try isoInstant("2026-11-27T16:00:00Z")).isEmpty)
        #expect(
            try machine.tick(fallbackRecipients: [agent], at: try isoInstant("2026-11-27T16:30:00Z"))
                == [.notify(agent, .breachWarning(.dueSoon))])
        #expect(try machine.tick(fallbackRecipients: [agent], at: try isoInstant("2026-11-27T16:45:00Z")).isEmpty)
        for instant in [
            "2026-11-27T17:00:01Z", "2026-11-27T23:00:00Z", "2026-11-28T12:00:00Z", "2026-11-29T20:00:00Z", "2026-11-30T08:59:59Z",
        ] {
            #expect(
                try TicketQueue.breachWarning(for: machine.ticket, calendar: calendar, at: try isoInstant(instant)) == nil, "\(instant)")
            #expect(try machine.tick(fallbackRecipients: [agent], at: try isoInstant(instant)).isEmpty, "\(instant)")
        }
        #expect(
            try machine.tick(fallbackRecipients: [agent], at: try isoInstant("2026-11-30T09:00:00Z"))
                == [.notify(agent, .breachWarning(.breached))])
        #expect(try machine.tick(fallbackRecipients: [agent], at: try isoInstant("2026-11-30T10:00:00Z")).isEmpty)
    }

    @Test("An assigned ticket's warning goes to the assignee; answered tickets get none")
    func warningRecipients() throws {
        let calendar = try TicketFixtures.calendar()
        let agent = TicketFixtures.agent.id
        var machine = TicketStateMachine(ticket: try self.ticket(filed: "2026-11-30T09:00:00Z", number: 1), calendar: calendar)
        _ = try machine.assign(to: TicketFixtures.operatorUser.id, by: agent, at: try isoInstant("2026-11-30T09:05:00Z"))
        #expect(
            try machine.tick(fallbackRecipients: [agent], at: try isoInstant("2026-11-30T13:10:00Z"))
                == [.notify(TicketFixtures.operatorUser.id, .breachWarning(.breached))])
        var answered = TicketStateMachine(ticket: try self.ticket(filed: "2026-11-30T09:00:00Z", number: 2), calendar: calendar)
        _ = try answered.reply(
            body: "Hi", visibility: .public, channel: .web, by: agent, as: .team, at: try isoInstant("2026-11-30T09:01:00Z"))
        #expect(try answered.tick(fallbackRecipients: [agent], at: try isoInstant("2026-11-30T16:00:00Z")).isEmpty)
    }

    @Test("Times are shown on the reader's own clock, in words")
    func timeText() throws {
        let due = try isoInstant("2026-11-30T12:00:00Z")
        #expect(SupportTimeText.dayAndTime(due, in: TimeZone(identifier: "Europe/London")!) == "Monday 12:00")
        #expect(SupportTimeText.dayAndTime(due, in: TimeZone(identifier: "America/New_York")!) == "Monday 07:00")
        #expect(SupportTimeText.dayAndTime(due, in: TimeZone(identifier: "Asia/Tokyo")!) == "Monday 21:00")
        #expect(
            SupportTimeText.dateAndTime(due, in: TimeZone(identifier: "Europe/London")!) == "Monday 30 November, 12:00 (Europe/London)")
        #expect(SupportTimeText.businessMinutes(200) == "3h 20m")
        #expect(SupportTimeText.businessMinutes(-65) == "-1h 05m")
        #expect(SupportTimeText.businessMinutes(45) == "45m")
    }
}
