import Foundation
import HoldfastTestSupport
import Testing

@testable import HoldfastCore

/// The business clock answers "how much business time between a and b" as the difference of two
/// readings, with the due dates' readings kept between polls. It must give the calendar's answer
/// to the millisecond, wherever the anchor is, and the console's rows must not change by it.
@Suite("Business clock: readings whose differences are the calendar's business time")
struct BusinessClockTests {
    static let holidays = (2019...2030).flatMap { year in ["12-24", "12-25", "12-26", "01-01"].map { "\(year)-\($0)" } }

    /// A whole second between 2019 and 2029, or a random fraction after it.
    static func instant(using random: inout SeededGenerator) -> Date {
        let second = Double.random(in: 1_546_300_800..<1_861_920_000, using: &random).rounded(.down)
        return Date(timeIntervalSince1970: second + (Bool.random(using: &random) ? 0 : .random(in: 0..<1, using: &random)))
    }

    @Test(
        "Differences of readings agree with businessTime(between:and:) to the millisecond", arguments: BusinessCalendarLongSpanTests.zones)
    func differencesAgree(zone: String) throws {
        var random = SeededGenerator(seed: UInt64(BusinessCalendarLongSpanTests.zones.firstIndex(of: zone)!))
        for week in BusinessCalendarLongSpanTests.weeks {
            let calendar = try makeCalendar(zone, week, holidays: Self.holidays)
            let clock = BusinessClock(calendar: calendar, anchor: Self.instant(using: &random))
            for _ in 0..<60 {
                let (start, end) = (Self.instant(using: &random), Self.instant(using: &random))
                let keep = Bool.random(using: &random)
                let read = Double(try clock.reading(at: end, keep: keep) - clock.reading(at: start, keep: keep)) / 1_000
                let walked = try calendar.businessTime(between: start, and: end)
                #expect(
                    abs(read - walked) <= 0.001,
                    "\(zone) \(start.timeIntervalSince1970)…\(end.timeIntervalSince1970): \(read) against \(walked)")
                // A kept reading is the reading.
                #expect(try clock.reading(at: end, keep: true) == clock.reading(at: end))
            }
        }
    }

    @Test("The console's rows are the same read off the clock, poll after poll, paused tickets included")
    func queueEntriesAreTheSame() throws {
        var random = SeededGenerator(seed: 7)
        let calendar = try makeCalendar("America/New_York", BusinessCalendarLongSpanTests.weeks[1], holidays: Self.holidays)
        let start = try isoInstant("2026-03-01T00:00:00Z")
        let clock = BusinessClock(calendar: calendar, anchor: start)
        let tickets = try (1...60).map { number in
            var ticket = try TicketFixtures.ticket(at: start, number: number)
            // Due anywhere from a year before the polls to a month after, on whole seconds as the store keeps them.
            ticket.firstResponseDueAt = start.addingTimeInterval(TimeInterval(Int.random(in: -365 * 86_400...30 * 86_400, using: &random)))
            if number % 5 == 0 {
                ticket.pausedSince = start.addingTimeInterval(TimeInterval(Int.random(in: 0...20 * 86_400, using: &random)))
            }
            if number % 7 == 0 { ticket.firstRespondedAt = start }
            return ticket
        }
        var now = start
        for _ in 0..<40 {
            now = now.addingTimeInterval(TimeInterval(Int.random(in: 1...86_400, using: &random)))
            let expected = try TicketQueue.entries(tickets, calendar: calendar, at: now)
            #expect(try TicketQueue.entries(tickets, clock: clock, at: now) == expected)
        }
    }
}
