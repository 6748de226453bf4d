import Foundation
import HoldfastCore
import Testing

@Suite("iCal holiday import")
struct ICalHolidayImportTests {
    let london = TimeZone(identifier: "Europe/London")!

    /// Joins lines with CRLF, the line ending RFC 5545 prescribes.
    func feed(_ lines: String...) -> String {
        lines.joined(separator: "\r\n") + "\r\n"
    }

    func dates(_ texts: String...) throws -> Set<LocalDate> {
        Set(try texts.map { try LocalDate($0) })
    }

    @Test("All-day events become holidays; time-zone rules, alarms and other properties are ignored")
    func allDayEvents() throws {
        let text = self.feed(
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Example//Holidays//EN",
            "BEGIN:VTIMEZONE",
            "TZID:Europe/London",
            "BEGIN:DAYLIGHT",
            "DTSTART:19810329T010000",
            "END:DAYLIGHT",
            "END:VTIMEZONE",
            "BEGIN:VEVENT",
            "UID:christmas-2026@example.com",
            "DTSTART;VALUE=DATE:20261225",
            "SUMMARY:Christmas Day",
            "BEGIN:VALARM",
            "TRIGGER:-PT15M",
            "END:VALARM",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "dtstart;value=date:20261228",
            "DTEND;VALUE=DATE:20261229",
            "SUMMARY:Boxing Day (substitute day)",
            "END:VEVENT",
            "END:VCALENDAR"
        )
        #expect(try ICalHolidayImport.holidays(fromFeed: text, timeZone: self.london) == self.dates("2026-12-25", "2026-12-28"))
    }

    @Test("Folded lines are unfolded, whether folded with a space or a tab, anywhere in the line")
    func foldedLines() throws {
        let text = self.feed(
            "BEGIN:VCALENDAR",
            "BEGIN:VEVENT",
            "SUMMARY:A very long summary that a publisher folded onto",
            "  the next line",
            "DTSTART;VALU",
            " E=DATE:2026",
            "\t0101",
            "END:VEVENT",
            "END:VCALENDAR"
        )
        #expect(try ICalHolidayImport.holidays(fromFeed: text, timeZone: self.london) == self.dates("2026-01-01"))
        // Bare LF line endings are accepted too.
        let lf = text.replacingOccurrences(of: "\r\n", with: "\n")
        #expect(try ICalHolidayImport.holidays(fromFeed: lf, timeZone: self.london) == self.dates("2026-01-01"))
    }

    @Test("A multi-day event covers its dates up to, not including, DTEND")
    func multiDayEvent() throws {
        let text = self.feed(
            "BEGIN:VEVENT",
            "DTSTART;VALUE=DATE:20261224",
            "DTEND;VALUE=DATE:20261227",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "DTSTART;VALUE=DATE:20261230",
            "DTEND;VALUE=DATE:20270102",
            "END:VEVENT"
        )
        #expect(
            try ICalHolidayImport.holidays(fromFeed: text, timeZone: self.london)
                == self.dates("2026-12-24", "2026-12-25", "2026-12-26", "2026-12-30", "2026-12-31", "2027-01-01")
        )
    }

    @Test("Date-times give the dates they touch; UTC times are read on the calendar's wall clock")
    func dateTimes() throws {
        let floating = self.feed("BEGIN:VEVENT", "DTSTART:20260501T090000", "DTEND:20260501T170000", "END:VEVENT")
        #expect(try ICalHolidayImport.holidays(fromFeed: floating, timeZone: self.london) == self.dates("2026-05-01"))

        let withZone = self.feed(
            "BEGIN:VEVENT", "DTSTART;TZID=\"Europe/London\":20260504T000000", "DTEND;TZID=Europe/London:20260506T000000", "END:VEVENT")
        #expect(try ICalHolidayImport.holidays(fromFeed: withZone, timeZone: self.london) == self.dates("2026-05-04", "2026-05-05"))

        let overnight = self.feed("BEGIN:VEVENT", "DTSTART:20260504T220000", "DTEND:20260505T020000", "END:VEVENT")
        #expect(try ICalHolidayImport.holidays(fromFeed: overnight, timeZone: self.london) == self.dates("2026-05-04", "2026-05-05"))

        let utc = self.feed("BEGIN:VEVENT", "DTSTART:20261224T230000Z", "END:VEVENT")
        #expect(try ICalHolidayImport.holidays(fromFeed: utc, timeZone: self.london) == self.dates("2026-12-24"))
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        #expect(try ICalHolidayImport.holidays(fromFeed: utc, timeZone: berlin) == self.dates("2026-12-25"))
    }

    @Test("A colon inside a quoted parameter value does not end the property name")
    func quotedColon() throws {
        let text = self.feed(
            "BEGIN:VEVENT",
            "DTSTART;VALUE=DATE;X-SOURCE=\"https://example.com/a:b\":20260831",
            "DESCRIPTION;ALTREP=\"cid:part1\":DTSTART:19990101",
            "END:VEVENT"
        )
        #expect(try ICalHolidayImport.holidays(fromFeed: text, timeZone: self.london) == self.dates("2026-08-31"))
    }

    @Test(
        "Unreadable dates and year-long events are rejected with the line to fix",
        arguments: [
            ("DTSTART;VALUE=DATE:20261325", "line 2: DTSTART \"20261325\" is not a date"),
            ("DTSTART:2026-12-25", "line 2: DTSTART \"2026-12-25\" is not a date"),
            ("DTSTART:20261225T250000", "write it as YYYYMMDD or YYYYMMDDTHHMMSS"),
            ("DTSTART;VALUE=DATE:20260101\r\nDTEND;VALUE=DATE:20280101", "lasts 730 days"),
        ]
    )
    func rejectsBadEvents(line: String, advice: String) throws {
        let text = self.feed("BEGIN:VEVENT", line, "END:VEVENT")
        let error = #expect(throws: CalendarError.self) {
            try ICalHolidayImport.holidays(fromFeed: text, timeZone: self.london)
        }
        #expect(error?.code == "invalid_ical")
        #expect(error?.message.contains(advice) == true, "\(error?.message ?? "")")
    }

    @Test("Imported holidays feed a calendar, and due dates roll past them")
    func importedHolidaysMoveDueDates() throws {
        let text = self.feed(
            "BEGIN:VEVENT", "DTSTART;VALUE=DATE:20261225", "END:VEVENT",
            "BEGIN:VEVENT", "DTSTART;VALUE=DATE:20261228", "END:VEVENT"
        )
        let holidays = try ICalHolidayImport.holidays(fromFeed: text, timeZone: self.london)
        let calendar = try BusinessCalendar(
            timeZone: "Europe/London", weeklyHours: BusinessCalendar.standard().weeklyHours, holidays: holidays
        )
        #expect(try calendar.addingBusinessTime(minutes: 240, to: isoInstant("2026-12-24T15:00:00Z")) == isoInstant("2026-12-29T11:00:00Z"))
        #expect(try ICalHolidayImport.holidays(fromFeed: "", timeZone: self.london).isEmpty)
    }
}
