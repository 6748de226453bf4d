import Foundation
import HoldfastCore
import HoldfastTestSupport

// When these tests move into HoldfastCoreTests, drop `isoInstant`: that target already has the same helper.

/// An instant from an ISO 8601 string with an explicit offset, so every test states its wall time and zone.
/// A zone by identifier; the tests only name zones that exist.
func zone(_ identifier: String) -> TimeZone {
    TimeZone(identifier: identifier)!
}

/// The hour-of-week index of a weekday and hour, written the way people say it: `hourOfWeek(.sun, 3)`.
func hourOfWeek(_ day: Weekday, _ hour: Int) -> Int {
    Weekday.allCases.firstIndex(of: day)! * 24 + hour
}

/// A histogram whose every known hour holds exactly `mean(hour)` (60 samples of it); `nil` leaves the hour
/// unknown.
func histogram(_ mean: (Int) -> Int?) throws -> UsageHistogram {
    try UsageHistogram(
        aggregates: (0..<UsageHistogram.hoursPerWeek).compactMap { hour in
            mean(hour).map { UsageBucket(hourOfWeek: hour, sum: $0 * 60, count: 60) }
        }
    )
}

/// A histogram with `base` everywhere except the listed hours.
func histogram(base: Int, _ exceptions: [Int: Int]) throws -> UsageHistogram {
    try histogram { exceptions[$0] ?? base }
}

/// Wall-clock fields of an instant in a zone, read through Foundation's calendar: an implementation
/// independent of the planner's own offset arithmetic, for checking it.
struct WallClock {
    let calendar: Calendar

    init(_ timeZone: TimeZone) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
    }

    /// Hour of the week, Monday 00:00 = 0, from the calendar's weekday (Sunday = 1) and hour.
    func hourOfWeek(_ instant: Date) -> Int {
        let fields = self.calendar.dateComponents([.weekday, .hour], from: instant)
        return (fields.weekday! + 5) % 7 * 24 + fields.hour!
    }

    func localDate(_ instant: Date) -> LocalDate {
        let fields = self.calendar.dateComponents([.year, .month, .day], from: instant)
        return try! LocalDate(year: fields.year!, month: fields.month!, day: fields.day!)
    }

    func isWholeHour(_ instant: Date) -> Bool {
        let fields = self.calendar.dateComponents([.minute, .second, .nanosecond], from: instant)
        return fields.minute == 0 && fields.second == 0 && fields.nanosecond == 0
    }

    /// Hour of week, local date and whether it is a whole hour, from one calendar look-up.
    func fields(_ instant: Date) -> (hourOfWeek: Int, date: LocalDate, isWholeHour: Bool) {
        let fields = self.calendar.dateComponents([.year, .month, .day, .weekday, .hour, .minute, .second, .nanosecond], from: instant)
        return (
            (fields.weekday! + 5) % 7 * 24 + fields.hour!,
            try! LocalDate(year: fields.year!, month: fields.month!, day: fields.day!),
            fields.minute == 0 && fields.second == 0 && fields.nanosecond == 0
        )
    }

    func hour(_ instant: Date) -> Int {
        self.calendar.component(.hour, from: instant)
    }
}
