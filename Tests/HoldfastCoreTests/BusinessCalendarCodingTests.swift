import Foundation
import HoldfastCore
import Testing

@Suite("Business calendar wire shape and validation")
struct BusinessCalendarCodingTests {
    /// Decodes a calendar from JSON text, as the HTTP layer will.
    func decode(_ json: String) throws -> BusinessCalendar {
        try JSONDecoder().decode(BusinessCalendar.self, from: Data(json.utf8))
    }

    @Test("The wire shape round-trips exactly")
    func roundTrip() throws {
        let json = """
            {"holidays":["2026-12-25","2026-12-28"],"timeZone":"Europe/London",\
            "weeklyHours":[{"closes":"12:00","day":"mon","opens":"09:00"},{"closes":"17:00","day":"mon","opens":"13:00"},\
            {"closes":"24:00","day":"fri","opens":"09:00"},{"closes":"02:00","day":"sat","opens":"00:00"}]}
            """
        let calendar = try self.decode(json)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(String(decoding: try encoder.encode(calendar), as: UTF8.self) == json)
        #expect(try self.decode(String(decoding: try encoder.encode(calendar), as: UTF8.self)) == calendar)
        #expect(calendar.holidays == [try LocalDate("2026-12-25"), try LocalDate("2026-12-28")])
        #expect(calendar.weeklyHours.count == 4)
    }

    @Test("Hours are kept sorted, so the same hours in any order make the same calendar")
    func canonicalOrder() throws {
        let shuffled = try self.decode(
            #"{"timeZone":"UTC","weeklyHours":[{"day":"fri","opens":"09:00","closes":"17:00"},{"day":"mon","opens":"13:00","closes":"17:00"},{"day":"mon","opens":"09:00","closes":"12:00"}]}"#
        )
        let sorted = try makeCalendar("UTC", [(.mon, "09:00", "12:00"), (.mon, "13:00", "17:00"), (.fri, "09:00", "17:00")])
        #expect(shuffled == sorted)
        #expect(shuffled.weeklyHours.map(\.day) == [.mon, .mon, .fri])
        #expect(shuffled.holidays.isEmpty)
        // The zone name is written back as given, though Foundation calls UTC "GMT".
        #expect(String(decoding: try JSONEncoder().encode(shuffled), as: UTF8.self).contains(#""timeZone":"UTC""#))
    }

    @Test("The default calendar is Monday to Friday, 09:00–17:00, in the zone given")
    func standardCalendar() throws {
        let standard = try BusinessCalendar.standard()
        #expect(standard.timeZone.identifier == "Europe/London")
        #expect(standard.weeklyHours.map(\.day) == [.mon, .tue, .wed, .thu, .fri])
        #expect(standard.weeklyHours.allSatisfy { $0.opens.description == "09:00" && $0.closes.description == "17:00" })
        #expect(standard.holidays.isEmpty)
        #expect(try BusinessCalendar.standard(timeZone: "Asia/Kolkata").timeZone.identifier == "Asia/Kolkata")
    }

    @Test(
        "Invalid input is rejected with a code and a message that says what to do",
        arguments: [
            (#"{"timeZone":"Europe/Londn","weeklyHours":[]}"#, "invalid_time_zone", "use an IANA name"),
            (#"{"timeZone":"","weeklyHours":[]}"#, "invalid_time_zone", "use an IANA name"),
            (
                #"{"timeZone":"UTC","weeklyHours":[{"day":"monday","opens":"09:00","closes":"17:00"}]}"#, "invalid_hours",
                "use one of mon, tue"
            ),
            (#"{"timeZone":"UTC","weeklyHours":[{"day":"mon","opens":"9:00","closes":"17:00"}]}"#, "invalid_hours", "write times as HH:MM"),
            (
                #"{"timeZone":"UTC","weeklyHours":[{"day":"mon","opens":"09:60","closes":"17:00"}]}"#, "invalid_hours",
                "write times as HH:MM"
            ),
            (
                #"{"timeZone":"UTC","weeklyHours":[{"day":"mon","opens":"09:00","closes":"24:30"}]}"#, "invalid_hours",
                "write times as HH:MM"
            ),
            (
                #"{"timeZone":"UTC","weeklyHours":[{"day":"mon","opens":"+9:00","closes":"17:00"}]}"#, "invalid_hours",
                "write times as HH:MM"
            ),
            (
                #"{"timeZone":"UTC","weeklyHours":[{"day":"mon","opens":"09:00","closes":"08:00"}]}"#, "invalid_hours",
                "closes 08:00 is not after opens 09:00 on mon; give an interval that ends after it starts"
            ),
            (
                #"{"timeZone":"UTC","weeklyHours":[{"day":"mon","opens":"09:00","closes":"09:00"}]}"#, "invalid_hours",
                "ends after it starts"
            ),
            (
                #"{"timeZone":"UTC","weeklyHours":[{"day":"mon","opens":"09:00","closes":"12:00"},{"day":"mon","opens":"11:00","closes":"17:00"}]}"#,
                "invalid_hours", "mon 09:00–12:00 overlaps 11:00–17:00"
            ),
            (#"{"timeZone":"UTC","weeklyHours":[],"holidays":["2026-02-30"]}"#, "invalid_date", "write dates as YYYY-MM-DD"),
            (#"{"timeZone":"UTC","weeklyHours":[],"holidays":["2026-12-25T00:00"]}"#, "invalid_date", "write dates as YYYY-MM-DD"),
            (#"{"timeZone":"UTC","weeklyHours":[],"holidays":["25/12/2026"]}"#, "invalid_date", "write dates as YYYY-MM-DD"),
        ]
    )
    func rejectsInvalidInput(json: String, code: String, advice: String) throws {
        let error = #expect(throws: CalendarError.self) { try self.decode(json) }
        #expect(error?.code == code)
        #expect(error?.message.contains(advice) == true, "\(error?.message ?? "")")
    }

    @Test("Intervals may touch: one closing at 12:00 and another opening at 12:00 do not overlap")
    func touchingIntervals() throws {
        let calendar = try makeCalendar("UTC", [(.mon, "09:00", "12:00"), (.mon, "12:00", "17:00")])
        #expect(try calendar.businessTime(between: isoInstant("2026-02-09T00:00:00Z"), and: isoInstant("2026-02-10T00:00:00Z")) == 8 * 3600)
    }

    @Test("Local dates know leap years and weekdays")
    func localDates() throws {
        #expect(try LocalDate("2024-02-29").description == "2024-02-29")
        #expect(try LocalDate("2000-02-29").adding(days: 1) == LocalDate("2000-03-01"))
        #expect(throws: CalendarError.self) { try LocalDate("2100-02-29") }
        #expect(throws: CalendarError.self) { try LocalDate(year: 2026, month: 13, day: 1) }
        #expect(try LocalDate("2026-12-25").weekday == .fri)
        #expect(try LocalDate("1969-12-31").weekday == .wed)
        #expect(try LocalDate("2026-12-31").adding(days: 1) == LocalDate("2027-01-01"))
        #expect(try LocalDate("2026-03-01").adding(days: -1) == LocalDate("2026-02-28"))
        #expect(try LocalDate("1900-01-01") < LocalDate("1969-12-31"))
    }
}
