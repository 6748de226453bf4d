import Foundation

/// Wall-clock arithmetic in one time zone, on whole seconds since 1970, for the planner's hour-by-hour walks.
///
/// The planner works in local hours (the histogram's buckets, the candidate starts) but measures windows in
/// real time, so it needs to know where each local hour begins and ends as an instant. An hour-long step in
/// real time is not enough: around a clock change the wall clock jumps, and in zones with half-hour changes
/// (Lord Howe) a jump can land in the middle of an hour. Instead the clock walks from boundary to boundary,
/// where a boundary is the next whole hour on the wall clock or an offset change, whichever comes first.
/// That walk visits every instant exactly once, so a repeated autumn hour is walked twice (it happens twice)
/// and a skipped spring hour not at all (it never happens), with no special case for either.
struct LocalClock {
    let timeZone: TimeZone

    /// Seconds to add to an instant to read the wall clock.
    func offset(at instant: Int) -> Int {
        self.timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant)))
    }

    /// The wall-clock time at `instant`, as local seconds since 1970-01-01 00:00.
    func wallTime(at instant: Int) -> Int {
        instant + self.offset(at: instant)
    }

    /// The hour of the week (Monday 00:00 = 0 … Sunday 23:00 = 167) that the wall clock shows at `instant`.
    func hourOfWeek(at instant: Int) -> Int {
        Self.hourOfWeek(wallTime: self.wallTime(at: instant))
    }

    /// Whether the wall clock shows a whole hour (`HH:00:00`) at `instant`.
    func isWholeHour(_ instant: Int) -> Bool {
        Self.remainder(self.wallTime(at: instant), 3600) == 0
    }

    /// The first instant after `instant` at which the local hour may change: the next whole hour on the
    /// wall clock, or an offset change before it.
    ///
    /// Assumes at most one offset change within an hour, which holds for every zone in the tz database.
    func nextBoundary(after instant: Int) -> Int {
        let offset = self.offset(at: instant)
        let wall = instant + offset
        let nextWholeHour = wall - Self.remainder(wall, 3600) + 3600 - offset
        guard self.offset(at: nextWholeHour) != offset else { return nextWholeHour }
        // The offset changes on the way: find the first second with the new offset by bisection.
        var (low, high) = (instant, nextWholeHour)
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if self.offset(at: middle) == offset { low = middle } else { high = middle }
        }
        return high
    }

    /// The first instant at or after `instant` at which the wall clock shows a whole hour.
    func wholeHour(atOrAfter instant: Int) -> Int {
        var candidate = instant
        while !self.isWholeHour(candidate) {
            candidate = self.nextBoundary(after: candidate)
        }
        return candidate
    }

    /// `2026-03-29 03:00`: the local date and time at `instant`, for messages and tooltips.
    ///
    /// Written out by hand rather than with a date formatter so the text does not depend on the locale.
    func describe(_ instant: Int) -> String {
        let wall = self.wallTime(at: instant)
        let day = Self.day(wallTime: wall)
        let minutes = (wall - day * 86_400) / 60
        return "\(LocalDate(dayNumber: day)) \(FixedDigits.pad(minutes / 60, 2)):\(FixedDigits.pad(minutes % 60, 2))"
    }

    /// The local date, as a day number since 1970-01-01, of a wall-clock time.
    static func day(wallTime: Int) -> Int {
        (wallTime - Self.remainder(wallTime, 86_400)) / 86_400
    }

    /// The hour of the week of a wall-clock time.
    static func hourOfWeek(wallTime: Int) -> Int {
        let day = Self.day(wallTime: wallTime)
        let hour = (wallTime - day * 86_400) / 3600
        return LocalDate(dayNumber: day).weekday.isoIndex * 24 + hour
    }

    /// `Mon 09:00`: the weekday and starting time of an hour of the week.
    static func describe(hourOfWeek: Int) -> String {
        "\(Self.dayNames[hourOfWeek / 24]) \(FixedDigits.pad(hourOfWeek % 24, 2)):00"
    }

    /// Day names as they appear on charts, in ISO order to match ``Weekday``.
    static let dayNames = Weekday.allCases.map { $0.rawValue.prefix(1).uppercased() + $0.rawValue.dropFirst() }

    /// The remainder that is never negative, so instants before 1970 land in the right hour too.
    private static func remainder(_ value: Int, _ divisor: Int) -> Int {
        let remainder = value % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
