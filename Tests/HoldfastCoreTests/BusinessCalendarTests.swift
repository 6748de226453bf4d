import Foundation
import HoldfastCore
import Testing

/// An instant from an ISO 8601 string with an explicit offset, so every test states its wall time and zone.
func isoInstant(_ iso: String) throws -> Date {
    try Date(iso, strategy: .iso8601)
}

/// A calendar from compact literals: `[(.mon, "09:00", "17:00")]`, holidays as `"YYYY-MM-DD"`.
func makeCalendar(
    _ zone: String = "Europe/London",
    _ hours: [(Weekday, String, String)],
    holidays: [String] = []
) throws -> BusinessCalendar {
    try BusinessCalendar(
        timeZone: zone,
        weeklyHours: hours.map { try OpeningInterval($0.0, $0.1, $0.2) },
        holidays: Set(holidays.map { try LocalDate($0) })
    )
}

/// A range of instants from two ISO 8601 strings, for pauses.
func pauseRange(_ from: String, _ to: String) throws -> Range<Date> {
    try isoInstant(from)..<isoInstant(to)
}

@Suite("Business calendar: due dates and elapsed business time")
struct BusinessCalendarTests {
    let standard: BusinessCalendar

    init() throws {
        self.standard = try BusinessCalendar.standard()
    }

    @Test("The default 4-hour promise made on Friday at 16:00 falls due on Monday at 12:00")
    func fridayAfternoonRollsOverTheWeekend() throws {
        let due = try self.standard.addingBusinessTime(minutes: 240, to: isoInstant("2026-03-06T16:00:00Z"))
        #expect(due == (try isoInstant("2026-03-09T12:00:00Z")))
    }

    @Test("A ticket filed at exactly 17:00 starts counting the next morning")
    func filedAtClosingTime() throws {
        let due = try self.standard.addingBusinessTime(minutes: 240, to: isoInstant("2026-02-10T17:00:00Z"))
        #expect(due == (try isoInstant("2026-02-11T13:00:00Z")))
    }

    @Test("A ticket filed at exactly 09:00 is due at 13:00 the same day")
    func filedAtOpeningTime() throws {
        let due = try self.standard.addingBusinessTime(minutes: 240, to: isoInstant("2026-02-10T09:00:00Z"))
        #expect(due == (try isoInstant("2026-02-10T13:00:00Z")))
    }

    @Test("A due date that lands on closing time is that closing time, not the next opening")
    func dueExactlyAtClose() throws {
        let due = try self.standard.addingBusinessTime(minutes: 240, to: isoInstant("2026-02-10T13:00:00Z"))
        #expect(due == (try isoInstant("2026-02-10T17:00:00Z")))
    }

    @Test("Christmas on a Friday, the weekend and a Boxing Day holiday on Monday are all skipped")
    func holidaysNextToAWeekend() throws {
        let calendar = try makeCalendar(
            "Europe/London",
            [Weekday.mon, .tue, .wed, .thu, .fri].map { ($0, "09:00", "17:00") },
            holidays: ["2026-12-25", "2026-12-28"]
        )
        let due = try calendar.addingBusinessTime(minutes: 240, to: isoInstant("2026-12-24T15:00:00Z"))
        #expect(due == (try isoInstant("2026-12-29T11:00:00Z")))
        #expect(try calendar.businessTime(between: isoInstant("2026-12-24T15:00:00Z"), and: due) == 4 * 3600)
    }

    @Test("A ticket filed on a holiday starts counting on the next business day")
    func filedDuringAHoliday() throws {
        let calendar = try makeCalendar(
            "Europe/London",
            [Weekday.mon, .tue, .wed, .thu, .fri].map { ($0, "09:00", "17:00") },
            holidays: ["2026-12-25", "2026-12-28"]
        )
        let filed = try isoInstant("2026-12-25T10:30:00Z")
        #expect(!calendar.isOpen(at: filed))
        #expect(try calendar.nextOpening(after: filed) == isoInstant("2026-12-29T09:00:00Z"))
        #expect(try calendar.addingBusinessTime(minutes: 240, to: filed) == isoInstant("2026-12-29T13:00:00Z"))
    }

    @Test("A lunch break splits the day and does not count")
    func lunchBreak() throws {
        let calendar = try makeCalendar("Europe/London", [(.mon, "09:00", "12:00"), (.mon, "13:00", "17:00")])
        #expect(try calendar.addingBusinessTime(minutes: 120, to: isoInstant("2026-02-09T11:00:00Z")) == isoInstant("2026-02-09T14:00:00Z"))
        #expect(try calendar.addingBusinessTime(minutes: 60, to: isoInstant("2026-02-09T12:30:00Z")) == isoInstant("2026-02-09T14:00:00Z"))
        #expect(try calendar.addingBusinessTime(minutes: 180, to: isoInstant("2026-02-09T09:00:00Z")) == isoInstant("2026-02-09T12:00:00Z"))
        #expect(!calendar.isOpen(at: try isoInstant("2026-02-09T12:30:00Z")))
        #expect(try calendar.businessTime(between: isoInstant("2026-02-09T00:00:00Z"), and: isoInstant("2026-02-10T00:00:00Z")) == 7 * 3600)
        // The next Monday, since Monday is the only open day.
        #expect(try calendar.addingBusinessTime(minutes: 240, to: isoInstant("2026-02-09T15:00:00Z")) == isoInstant("2026-02-16T11:00:00Z"))
    }

    @Test("Time waiting on the customer does not count, however the pauses overlap")
    func pauses() throws {
        let filed = try isoInstant("2026-02-10T10:00:00Z")
        let lunchPause = try pauseRange("2026-02-10T11:00:00Z", "2026-02-10T13:00:00Z")
        #expect(try self.standard.addingBusinessTime(minutes: 240, to: filed, pauses: [lunchPause]) == isoInstant("2026-02-10T16:00:00Z"))

        let overlapping = [
            try pauseRange("2026-02-10T12:00:00Z", "2026-02-10T14:00:00Z"),
            try pauseRange("2026-02-10T11:00:00Z", "2026-02-10T12:30:00Z"),
            try pauseRange("2026-02-10T11:30:00Z", "2026-02-10T11:45:00Z"),
        ]
        #expect(try self.standard.addingBusinessTime(minutes: 240, to: filed, pauses: overlapping) == isoInstant("2026-02-10T17:00:00Z"))

        // A pause that began before the ticket and runs overnight.
        let overnight = try pauseRange("2026-02-10T08:00:00Z", "2026-02-11T10:00:00Z")
        #expect(try self.standard.addingBusinessTime(minutes: 240, to: filed, pauses: [overnight]) == isoInstant("2026-02-11T14:00:00Z"))

        // A week-long pause is skipped in one step.
        let week = try pauseRange("2026-02-10T11:00:00Z", "2026-02-17T11:00:00Z")
        #expect(try self.standard.addingBusinessTime(minutes: 240, to: filed, pauses: [week]) == isoInstant("2026-02-17T14:00:00Z"))
        #expect(try self.standard.businessTime(between: filed, and: isoInstant("2026-02-17T14:00:00Z"), pauses: [week]) == 4 * 3600)

        // So is a pause of three years, longer than the calendar may stay closed.
        let years = try pauseRange("2026-02-10T11:00:00Z", "2029-02-13T11:00:00Z")
        #expect(try self.standard.addingBusinessTime(minutes: 240, to: filed, pauses: [years]) == isoInstant("2029-02-13T14:00:00Z"))

        // Pauses outside business hours change nothing.
        let evening = try pauseRange("2026-02-10T18:00:00Z", "2026-02-11T08:00:00Z")
        #expect(try self.standard.addingBusinessTime(minutes: 480, to: filed, pauses: [evening]) == isoInstant("2026-02-11T10:00:00Z"))
    }

    @Test("An interval ending at 24:00 continues into one starting at 00:00 the next day")
    func midnightContinuation() throws {
        let calendar = try makeCalendar("Europe/London", [(.fri, "20:00", "24:00"), (.sat, "00:00", "02:00")])
        #expect(try calendar.addingBusinessTime(minutes: 120, to: isoInstant("2026-02-13T23:00:00Z")) == isoInstant("2026-02-14T01:00:00Z"))
        #expect(calendar.isOpen(at: try isoInstant("2026-02-14T00:00:00Z")))
        #expect(try calendar.nextOpening(after: isoInstant("2026-02-13T23:59:59Z")) == isoInstant("2026-02-13T23:59:59Z"))
        #expect(try calendar.businessTime(between: isoInstant("2026-02-13T12:00:00Z"), and: isoInstant("2026-02-14T12:00:00Z")) == 6 * 3600)
        // All six hours, from Friday 20:00 to Saturday 02:00, without a gap at midnight.
        #expect(try calendar.addingBusinessTime(minutes: 360, to: isoInstant("2026-02-13T20:00:00Z")) == isoInstant("2026-02-14T02:00:00Z"))
    }

    @Test("Open and closed at the edges of an interval: [opens, closes)")
    func isOpenAtTheEdges() throws {
        #expect(self.standard.isOpen(at: try isoInstant("2026-02-10T09:00:00Z")))
        #expect(self.standard.isOpen(at: try isoInstant("2026-02-10T16:59:59Z")))
        #expect(!self.standard.isOpen(at: try isoInstant("2026-02-10T17:00:00Z")))
        #expect(!self.standard.isOpen(at: try isoInstant("2026-02-10T08:59:59Z")))
        #expect(!self.standard.isOpen(at: try isoInstant("2026-02-14T12:00:00Z")))
    }

    @Test("The next opening is the instant itself during hours, else the next opening time")
    func nextOpening() throws {
        #expect(try self.standard.nextOpening(after: isoInstant("2026-02-10T11:15:00Z")) == isoInstant("2026-02-10T11:15:00Z"))
        #expect(try self.standard.nextOpening(after: isoInstant("2026-02-10T17:00:00Z")) == isoInstant("2026-02-11T09:00:00Z"))
        #expect(try self.standard.nextOpening(after: isoInstant("2026-02-14T12:00:00Z")) == isoInstant("2026-02-16T09:00:00Z"))
        #expect(
            try self.standard.addingBusinessTime(seconds: 0, to: isoInstant("2026-02-14T12:00:00Z")) == isoInstant("2026-02-16T09:00:00Z"))
    }

    @Test("Elapsed business time counts only open, unpaused time and is negative when reversed")
    func businessTimeBetween() throws {
        let friday = try isoInstant("2026-03-06T16:00:00Z")
        let monday = try isoInstant("2026-03-09T12:00:00Z")
        #expect(try self.standard.businessTime(between: friday, and: monday) == 4 * 3600)
        #expect(try self.standard.businessTime(between: monday, and: friday) == -4 * 3600)
        #expect(try self.standard.businessTime(between: friday, and: friday) == 0)
        #expect(try self.standard.businessTime(between: isoInstant("2026-03-07T10:00:00Z"), and: isoInstant("2026-03-08T10:00:00Z")) == 0)
        let pauses = [try pauseRange("2026-03-09T09:30:00Z", "2026-03-09T10:00:00Z")]
        #expect(try self.standard.businessTime(between: friday, and: monday, pauses: pauses) == 3.5 * 3600)
        // Fractions of a second survive.
        #expect(
            try self.standard.businessTime(between: isoInstant("2026-03-09T08:00:00Z"), and: isoInstant("2026-03-09T09:00:01.250Z")) == 1.25
        )
    }

    @Test("A calendar with no opening hours fails with a clear error instead of looping")
    func neverOpen() throws {
        let empty = try makeCalendar("Europe/London", [])
        let error = #expect(throws: CalendarError.self) {
            try empty.addingBusinessTime(minutes: 240, to: isoInstant("2026-02-10T10:00:00Z"))
        }
        #expect(error?.code == "no_business_hours")
        #expect(error?.message.contains("add weekly hours or remove holidays") == true)
        #expect(throws: CalendarError.self) { try empty.nextOpening(after: isoInstant("2026-02-10T10:00:00Z")) }
        #expect(throws: CalendarError.self) {
            try empty.businessTime(between: isoInstant("2026-02-10T10:00:00Z"), and: isoInstant("2026-02-11T10:00:00Z"))
        }
    }

    @Test("Hours only on holidays for more than two years fail; a closure shorter than that is waited out")
    func openOnlyOnHolidays() throws {
        let firstMonday = try LocalDate("2026-01-05")
        let everyMondayFor = { (weeks: Int) in (0..<weeks).map { firstMonday.adding(days: 7 * $0).description } }
        let filed = try isoInstant("2026-01-01T10:00:00Z")

        let closedThreeYears = try makeCalendar("Europe/London", [(.mon, "09:00", "17:00")], holidays: everyMondayFor(157))
        let error = #expect(throws: CalendarError.self) { try closedThreeYears.addingBusinessTime(minutes: 60, to: filed) }
        #expect(error?.code == "no_business_hours")

        let closedEighteenMonths = try makeCalendar("Europe/London", [(.mon, "09:00", "17:00")], holidays: everyMondayFor(78))
        let reopening = firstMonday.adding(days: 7 * 78)
        #expect(reopening.description == "2027-07-05")
        #expect(try closedEighteenMonths.addingBusinessTime(minutes: 60, to: filed) == isoInstant("2027-07-05T10:00:00+01:00"))
    }

    @Test(
        "Negative, absurdly large or undefined amounts of business time are rejected",
        arguments: [-60, BusinessCalendar.maximumBusinessTime + 1, .nan, .infinity]
    )
    func invalidDurations(seconds: TimeInterval) throws {
        let error = #expect(throws: CalendarError.self) {
            try self.standard.addingBusinessTime(seconds: seconds, to: isoInstant("2026-02-10T10:00:00Z"))
        }
        #expect(error?.code == "invalid_duration")
    }

    @Test("The largest amount of business time allowed is computed, decades ahead")
    func largestDuration() throws {
        let filed = try isoInstant("2026-02-10T10:00:00Z")
        let due = try self.standard.addingBusinessTime(seconds: BusinessCalendar.maximumBusinessTime, to: filed)
        #expect(try self.standard.businessTime(between: filed, and: due) == BusinessCalendar.maximumBusinessTime)
    }
}
