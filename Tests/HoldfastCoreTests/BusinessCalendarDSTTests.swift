import Foundation
import HoldfastCore
import Testing

@Suite("Business calendar across DST and other offset changes")
struct BusinessCalendarDSTTests {
    @Test(
        "09:00–17:00 stays 09:00–17:00 on the wall clock when the clocks change over a weekend",
        arguments: [
            ("Europe/London", "2026-03-27T16:00:00Z", "2026-03-30T12:00:00+01:00"),
            ("Europe/London", "2026-10-23T16:00:00+01:00", "2026-10-26T12:00:00Z"),
            ("America/New_York", "2026-03-06T16:00:00-05:00", "2026-03-09T12:00:00-04:00"),
            ("America/New_York", "2026-10-30T16:00:00-04:00", "2026-11-02T12:00:00-05:00"),
            ("Australia/Sydney", "2026-04-03T16:00:00+11:00", "2026-04-06T12:00:00+10:00"),
            ("Australia/Sydney", "2026-10-02T16:00:00+10:00", "2026-10-05T12:00:00+11:00"),
            ("Asia/Kolkata", "2026-03-27T16:00:00+05:30", "2026-03-30T12:00:00+05:30"),
            ("Asia/Kolkata", "2026-10-23T16:00:00+05:30", "2026-10-26T12:00:00+05:30"),
        ]
    )
    func fridayToMondayAcrossAChange(zone: String, filed: String, due: String) throws {
        let calendar = try BusinessCalendar.standard(timeZone: zone)
        #expect(try calendar.addingBusinessTime(minutes: 240, to: isoInstant(filed)) == isoInstant(due))
        #expect(try calendar.businessTime(between: isoInstant(filed), and: isoInstant(due)) == 4 * 3600)
    }

    @Test(
        "A day open 00:00–24:00 is as long as the local day: 23, 24 or 25 hours (or 24.5 on Lord Howe)",
        arguments: [
            ("Europe/London", "2026-03-29", 23.0),
            ("Europe/London", "2026-10-25", 25.0),
            ("America/New_York", "2026-03-08", 23.0),
            ("America/New_York", "2026-11-01", 25.0),
            ("Australia/Sydney", "2026-04-05", 25.0),
            ("Australia/Sydney", "2026-10-04", 23.0),
            ("Asia/Kolkata", "2026-03-29", 24.0),
            ("Australia/Lord_Howe", "2026-04-05", 24.5),
            ("Australia/Lord_Howe", "2026-10-04", 23.5),
            // Santiago goes back from Saturday 24:00 to 23:00, and forward from Saturday 24:00 to Sunday 01:00.
            ("America/Santiago", "2026-04-04", 25.0),
            ("America/Santiago", "2026-04-05", 24.0),
            ("America/Santiago", "2026-09-06", 23.0),
        ]
    )
    func lengthOfADSTDay(zone: String, date: String, hours: Double) throws {
        let calendar = try makeCalendar(zone, [(try LocalDate(date).weekday, "00:00", "24:00")])
        // A window that holds this day and no other of its weekday.
        let elapsed = try calendar.businessTime(
            between: isoInstant("\(date)T00:00:00Z").addingTimeInterval(-2 * 86_400),
            and: isoInstant("\(date)T00:00:00Z").addingTimeInterval(2 * 86_400)
        )
        #expect(elapsed == hours * 3600)
    }

    @Test("A working week that contains a clock change still has 40 business hours")
    func weekWithAClockChange() throws {
        let calendar = try BusinessCalendar.standard(timeZone: "Europe/London")
        let week = try calendar.businessTime(
            between: isoInstant("2026-03-28T00:00:00Z"),
            and: isoInstant("2026-04-04T00:00:00+01:00")
        )
        #expect(week == 40 * 3600)
        #expect(try calendar.nextOpening(after: isoInstant("2026-03-28T12:00:00Z")) == isoInstant("2026-03-30T09:00:00+01:00"))
    }

    @Test("Southern-hemisphere summer time applies in January")
    func southernSummer() throws {
        let calendar = try BusinessCalendar.standard(timeZone: "Australia/Sydney")
        #expect(try calendar.nextOpening(after: isoInstant("2026-01-11T12:00:00Z")) == isoInstant("2026-01-12T09:00:00+11:00"))
        #expect(try calendar.nextOpening(after: isoInstant("2026-07-12T12:00:00Z")) == isoInstant("2026-07-13T09:00:00+10:00"))
    }

    @Test("An interval wholly inside a spring-forward gap is empty that day")
    func intervalInsideTheGap() throws {
        let calendar = try makeCalendar("America/New_York", [(.sun, "02:00", "03:00"), (.mon, "09:00", "17:00")])
        // On 2026-03-08 New York jumps from 02:00 to 03:00, so Sunday's hour never happens.
        #expect(
            try calendar.addingBusinessTime(minutes: 30, to: isoInstant("2026-03-07T12:00:00-05:00"))
                == isoInstant("2026-03-09T09:30:00-04:00"))
        // A week later it does.
        #expect(
            try calendar.addingBusinessTime(minutes: 30, to: isoInstant("2026-03-14T12:00:00-04:00"))
                == isoInstant("2026-03-15T02:30:00-04:00"))
    }

    @Test("An opening time in the gap maps to the first instant after it; a closing time too")
    func boundariesInTheGap() throws {
        let opensInGap = try makeCalendar("America/New_York", [(.sun, "02:30", "05:00")])
        #expect(try opensInGap.nextOpening(after: isoInstant("2026-03-08T00:00:00-05:00")) == isoInstant("2026-03-08T03:00:00-04:00"))
        #expect(opensInGap.isOpen(at: try isoInstant("2026-03-08T03:00:00-04:00")))
        #expect(!opensInGap.isOpen(at: try isoInstant("2026-03-08T01:59:59-05:00")))
        #expect(
            try opensInGap.businessTime(between: isoInstant("2026-03-07T00:00:00Z"), and: isoInstant("2026-03-09T00:00:00Z")) == 2 * 3600)

        let closesInGap = try makeCalendar("America/New_York", [(.sun, "00:00", "02:30")])
        #expect(
            try closesInGap.businessTime(between: isoInstant("2026-03-07T00:00:00Z"), and: isoInstant("2026-03-09T00:00:00Z")) == 2 * 3600)
        #expect(
            try closesInGap.addingBusinessTime(minutes: 120, to: isoInstant("2026-03-08T00:00:00-05:00"))
                == isoInstant("2026-03-08T03:00:00-04:00"))

        let london = try makeCalendar("Europe/London", [(.sun, "01:30", "03:00")])
        #expect(try london.nextOpening(after: isoInstant("2026-03-29T00:00:00Z")) == isoInstant("2026-03-29T01:00:00Z"))
        #expect(try london.businessTime(between: isoInstant("2026-03-28T00:00:00Z"), and: isoInstant("2026-03-30T00:00:00Z")) == 3600)
    }

    @Test("A time in the fall-back overlap means its first occurrence, and adjacent intervals still meet")
    func boundariesInTheOverlap() throws {
        // On 2026-11-01 New York repeats 01:00–02:00: first as EDT (-04:00), then as EST (-05:00).
        let window = (try isoInstant("2026-10-31T00:00:00Z"), try isoInstant("2026-11-02T00:00:00Z"))
        let opensInOverlap = try makeCalendar("America/New_York", [(.sun, "01:30", "03:00")])
        #expect(try opensInOverlap.nextOpening(after: window.0) == isoInstant("2026-11-01T01:30:00-04:00"))
        #expect(try opensInOverlap.businessTime(between: window.0, and: window.1) == 2.5 * 3600)

        let closesInOverlap = try makeCalendar("America/New_York", [(.sun, "00:00", "01:30")])
        #expect(try closesInOverlap.businessTime(between: window.0, and: window.1) == 1.5 * 3600)
        #expect(!closesInOverlap.isOpen(at: try isoInstant("2026-11-01T01:15:00-05:00")))
        #expect(closesInOverlap.isOpen(at: try isoInstant("2026-11-01T01:15:00-04:00")))

        let split = try makeCalendar("America/New_York", [(.sun, "00:00", "01:30"), (.sun, "01:30", "03:00")])
        #expect(try split.businessTime(between: window.0, and: window.1) == 4 * 3600)
        #expect(split.isOpen(at: try isoInstant("2026-11-01T01:15:00-05:00")))
        #expect(try split.addingBusinessTime(minutes: 240, to: window.0) == isoInstant("2026-11-01T03:00:00-05:00"))
    }

    @Test("When the clocks go back across midnight (Goose Bay, 2010), the repeated Saturday hour belongs to Sunday")
    func fallBackAcrossMidnight() throws {
        // At 00:01 on Sunday 2010-11-07 Goose Bay went back to 23:01 on Saturday (-03:00 to -04:00).
        let sundays = try makeCalendar("America/Goose_Bay", [(.sun, "00:00", "24:00")])
        #expect(sundays.isOpen(at: try isoInstant("2010-11-06T23:30:00-04:00")))
        #expect(!sundays.isOpen(at: try isoInstant("2010-11-06T23:30:00-03:00")))
        #expect(try sundays.nextOpening(after: isoInstant("2010-11-06T12:00:00-03:00")) == isoInstant("2010-11-07T00:00:00-03:00"))
        #expect(try sundays.nextOpening(after: isoInstant("2010-11-06T23:30:00-04:00")) == isoInstant("2010-11-06T23:30:00-04:00"))
        // Saturday ends when the wall clock first reaches midnight; the repeated 23:01–24:00 is Sunday's.
        let saturdays = try makeCalendar("America/Goose_Bay", [(.sat, "22:00", "24:00")])
        #expect(!saturdays.isOpen(at: try isoInstant("2010-11-06T23:30:00-04:00")))
        #expect(
            try saturdays.businessTime(between: isoInstant("2010-11-05T00:00:00Z"), and: isoInstant("2010-11-09T00:00:00Z")) == 2 * 3600)
    }

    @Test("A day that a zone skipped entirely (Samoa, 2011-12-30) has no business hours")
    func skippedDay() throws {
        let everyDay = Weekday.allCases.map { ($0, "09:00", "17:00") }
        let calendar = try makeCalendar("Pacific/Apia", everyDay)
        #expect(
            try calendar.addingBusinessTime(minutes: 120, to: isoInstant("2011-12-29T16:00:00-10:00"))
                == isoInstant("2011-12-31T10:00:00+14:00"))
        #expect(
            try calendar.businessTime(between: isoInstant("2011-12-29T00:00:00-10:00"), and: isoInstant("2012-01-01T00:00:00+14:00")) == 16
                * 3600
        )
    }
}
