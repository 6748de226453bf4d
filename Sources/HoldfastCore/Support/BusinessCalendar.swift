import Foundation

/// A problem with a business calendar, its input, or a computation on it.
///
/// `code` is stable for programs (the HTTP layer maps it to a status); `message` is for the person who
/// supplied the input and says what to do next.
public struct CalendarError: Error, Sendable, Hashable {
    /// A stable reason: `invalid_time_zone`, `invalid_hours`, `invalid_date`, `invalid_duration`,
    /// `invalid_ical` or `no_business_hours`.
    public var code: String
    /// What went wrong and how to fix it.
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// A day of the week, spelt as on the wire (`"mon"` … `"sun"`).
public enum Weekday: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case mon, tue, wed, thu, fri, sat, sun

    /// Position in the ISO week (Monday = 0), the order in which hours are listed and compared.
    var isoIndex: Int { Self.allCases.firstIndex(of: self)! }

    /// Decodes a day name, rejecting unknown names with a ``CalendarError`` rather than a bare decoding error,
    /// so an API client learns which names are valid.
    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let day = Weekday(rawValue: name) else {
            throw CalendarError(
                code: "invalid_hours",
                message: "unknown day \"\(name)\"; use one of mon, tue, wed, thu, fri, sat, sun"
            )
        }
        self = day
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.isoIndex < rhs.isoIndex }
}

/// A date on the calendar's wall, such as a holiday (`"2026-12-25"`).
///
/// Holidays are local dates rather than instant ranges because "Christmas Day" means the whole local day,
/// whatever its length in seconds and whatever the zone's offset that year.
public struct LocalDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    /// Creates a date, rejecting ones that do not exist (such as February 30th).
    public init(year: Int, month: Int, day: Int) throws(CalendarError) {
        guard (1...9999).contains(year), (1...12).contains(month),
            (1...Self.daysIn(month: month, year: year)).contains(day)
        else {
            throw .invalidDate("\(FixedDigits.pad(year, 4))-\(FixedDigits.pad(month, 2))-\(FixedDigits.pad(day, 2))")
        }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`, the form used on the wire.
    public init(_ text: String) throws(CalendarError) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [4, 2, 2], let year = FixedDigits.parse(parts[0]), let month = FixedDigits.parse(parts[1]),
            let day = FixedDigits.parse(parts[2])
        else { throw .invalidDate(text) }
        try self.init(year: year, month: month, day: day)
    }

    /// Creates the date `dayNumber` days after 1970-01-01 (Hinnant's `civil_from_days`), so the engine can
    /// step through days with integer arithmetic instead of calendar lookups.
    public init(dayNumber: Int) {
        let shifted = dayNumber + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let marchMonth = (5 * dayOfYear + 2) / 153
        self.month = marchMonth < 10 ? marchMonth + 3 : marchMonth - 9
        self.day = dayOfYear - (153 * marchMonth + 2) / 5 + 1
        self.year = yearOfEra + era * 400 + (self.month <= 2 ? 1 : 0)
    }

    /// Days since 1970-01-01 (Hinnant's `days_from_civil`); the inverse of ``init(dayNumber:)``.
    var dayNumber: Int {
        let year = self.month <= 2 ? self.year - 1 : self.year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * ((self.month + 9) % 12) + 2) / 5 + self.day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    public var weekday: Weekday { Weekday.allCases[weekdayIndex(ofDay: self.dayNumber)] }

    public func adding(days: Int) -> LocalDate { LocalDate(dayNumber: self.dayNumber + days) }

    public var description: String { "\(FixedDigits.pad(self.year, 4))-\(FixedDigits.pad(self.month, 2))-\(FixedDigits.pad(self.day, 2))" }

    public init(from decoder: any Decoder) throws {
        try self.init(decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// A wall-clock time `HH:MM` from `00:00` to `24:00`.
///
/// `24:00` is the end of the day, so an interval can run to midnight and continue in one that opens at
/// `00:00` the next day.
public struct TimeOfDay: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Minutes since local midnight, `0...1440`.
    public let minutes: Int

    public init(hour: Int, minute: Int) throws(CalendarError) {
        guard (0...23).contains(hour) && (0...59).contains(minute) || (hour, minute) == (24, 0) else {
            throw .invalidTime("\(FixedDigits.pad(hour, 2)):\(FixedDigits.pad(minute, 2))")
        }
        self.minutes = hour * 60 + minute
    }

    /// Parses `HH:MM`, the form used on the wire.
    public init(_ text: String) throws(CalendarError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [2, 2], let hour = FixedDigits.parse(parts[0]), let minute = FixedDigits.parse(parts[1]) else {
            throw .invalidTime(text)
        }
        try self.init(hour: hour, minute: minute)
    }

    public var description: String { "\(FixedDigits.pad(self.minutes / 60, 2)):\(FixedDigits.pad(self.minutes % 60, 2))" }

    public init(from decoder: any Decoder) throws {
        try self.init(decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.minutes < rhs.minutes }
}

/// One stretch of opening hours on a weekday: `[opens, closes)` in local wall-clock time.
public struct OpeningInterval: Sendable, Hashable, Codable {
    public let day: Weekday
    public let opens: TimeOfDay
    public let closes: TimeOfDay

    public init(day: Weekday, opens: TimeOfDay, closes: TimeOfDay) throws(CalendarError) {
        guard opens < closes else {
            throw CalendarError(
                code: "invalid_hours",
                message: "closes \(closes) is not after opens \(opens) on \(day.rawValue); "
                    + "give an interval that ends after it starts"
            )
        }
        self.day = day
        self.opens = opens
        self.closes = closes
    }

    /// Creates an interval from wire-format times, as in `OpeningInterval(.mon, "09:00", "17:00")`.
    public init(_ day: Weekday, _ opens: String, _ closes: String) throws(CalendarError) {
        try self.init(day: day, opens: TimeOfDay(opens), closes: TimeOfDay(closes))
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            day: container.decode(Weekday.self, forKey: .day),
            opens: container.decode(TimeOfDay.self, forKey: .opens),
            closes: container.decode(TimeOfDay.self, forKey: .closes)
        )
    }
}

/// When a support team is at work: opening hours per weekday in an IANA time zone, minus holidays.
///
/// Business time is counted in local wall-clock time, so "09:00–17:00" means 09:00 to 17:00 on the office
/// clock on every date, DST or not. On each date an interval is the run of instants from the *first instant
/// whose wall-clock time is at or after* `opens` to the first one at or after `closes`. That one rule settles
/// the awkward cases: a time inside a spring-forward gap maps to the first instant after the gap (the
/// transition itself), and a time that occurs twice in a fall-back overlap maps to its first occurrence. The
/// mapping never goes backwards, so intervals stay ordered and adjacent ones (`…–24:00`, `00:00–…`) meet.
///
/// The calendar is a value: it caches nothing, so it is safe to share across tasks.
public struct BusinessCalendar: Sendable, Hashable {
    public let timeZone: TimeZone
    /// Opening intervals sorted by weekday, then opening time.
    public let weeklyHours: [OpeningInterval]
    public let holidays: Set<LocalDate>
    /// The identifier as given, kept for encoding because `TimeZone` normalises some (`UTC` becomes `GMT`).
    private let timeZoneIdentifier: String
    /// Opening intervals in seconds since local midnight, indexed Monday = 0, ready for the day walk.
    fileprivate let secondsByWeekday: [[Range<Int>]]
    fileprivate let holidayDays: Set<Int>

    /// Creates a calendar, rejecting unknown time zones and overlapping intervals.
    public init(timeZone identifier: String, weeklyHours: [OpeningInterval], holidays: Set<LocalDate> = []) throws(CalendarError) {
        guard let timeZone = TimeZone(identifier: identifier) else {
            throw CalendarError(
                code: "invalid_time_zone",
                message: "unknown time zone \"\(identifier)\"; use an IANA name such as \"Europe/London\""
            )
        }
        let sorted = weeklyHours.sorted { ($0.day, $0.opens) < ($1.day, $1.opens) }
        for (earlier, later) in zip(sorted, sorted.dropFirst()) where earlier.day == later.day {
            guard later.opens >= earlier.closes else {
                throw CalendarError(
                    code: "invalid_hours",
                    message: "\(earlier.day.rawValue) \(earlier.opens)–\(earlier.closes) overlaps "
                        + "\(later.opens)–\(later.closes); merge them or give intervals that do not overlap"
                )
            }
        }
        self.timeZone = timeZone
        self.timeZoneIdentifier = identifier
        self.weeklyHours = sorted
        self.holidays = holidays
        self.secondsByWeekday = Weekday.allCases.map { day in
            sorted.filter { $0.day == day }.map { $0.opens.minutes * 60..<$0.closes.minutes * 60 }
        }
        self.holidayDays = Set(holidays.map(\.dayNumber))
    }

    /// Monday to Friday, 09:00–17:00, no holidays: the default support hours.
    public static func standard(timeZone identifier: String = "Europe/London") throws(CalendarError) -> BusinessCalendar {
        var hours: [OpeningInterval] = []
        for day in [Weekday.mon, .tue, .wed, .thu, .fri] {
            hours.append(try OpeningInterval(day, "09:00", "17:00"))
        }
        return try BusinessCalendar(timeZone: identifier, weeklyHours: hours)
    }
}

extension BusinessCalendar: Codable {
    private enum CodingKeys: String, CodingKey {
        case timeZone, weeklyHours, holidays
    }

    /// Decodes the wire shape `{"timeZone":…,"weeklyHours":[…],"holidays":[…]}`, validating as ``init(timeZone:weeklyHours:holidays:)``
    /// does; `holidays` may be left out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            timeZone: container.decode(String.self, forKey: .timeZone),
            weeklyHours: container.decode([OpeningInterval].self, forKey: .weeklyHours),
            holidays: Set(container.decodeIfPresent([LocalDate].self, forKey: .holidays) ?? [])
        )
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.timeZoneIdentifier, forKey: .timeZone)
        try container.encode(self.weeklyHours, forKey: .weeklyHours)
        try container.encode(self.holidays.sorted(), forKey: .holidays)
    }
}

// MARK: - Business-time arithmetic

extension BusinessCalendar {
    /// The most business time one computation adds: ten years, far beyond any service-level promise.
    public static let maximumBusinessTime: TimeInterval = 10 * 366 * 86_400

    /// Whether business time is running at `instant` (pauses aside).
    public func isOpen(at instant: Date) -> Bool {
        let time = instant.timeIntervalSince1970
        let day = self.localDay(of: time)
        // The next day's first interval can only contain `time` when a fall-back overlap spans midnight.
        return [day, day + 1].contains { self.openIntervals(onDay: $0).contains { $0.contains(time) } }
    }

    /// The first instant at or after `instant` when the calendar is open: `instant` itself during opening
    /// hours, else the next opening, which is when business time starts counting for a ticket filed then.
    public func nextOpening(after instant: Date) throws(CalendarError) -> Date {
        try self.addingBusinessTime(seconds: 0, to: instant)
    }

    /// The instant at which `minutes` of business time have passed since `start`.
    public func addingBusinessTime(minutes: Int, to start: Date, pauses: [Range<Date>] = []) throws(CalendarError) -> Date {
        try self.addingBusinessTime(seconds: TimeInterval(minutes) * 60, to: start, pauses: pauses)
    }

    /// The instant at which `seconds` of business time have passed since `start`: a due date.
    ///
    /// Counting starts at the first open instant at or after `start`, so a ticket filed at a weekend or on a
    /// holiday rolls to the next business day without a special case. Instants inside `pauses` (half-open
    /// ranges, for example while a ticket waits on the customer) do not count; they may overlap. A due date
    /// that lands exactly on a closing time is that closing time, not the next opening.
    /// - Throws: `invalid_duration` for a negative amount, `no_business_hours` if the calendar stays closed
    ///   for more than two years.
    public func addingBusinessTime(seconds: TimeInterval, to start: Date, pauses: [Range<Date>] = []) throws(CalendarError) -> Date {
        // A bound keeps an absurd policy from walking the calendar for millennia; NaN fails both tests.
        guard seconds >= 0, seconds <= Self.maximumBusinessTime else {
            throw CalendarError(
                code: "invalid_duration",
                message: "cannot add \(seconds) seconds of business time; give from zero seconds up to ten years"
            )
        }
        var remaining = seconds
        var counted = CountedTime(calendar: self, from: start.timeIntervalSince1970, pauses: pauses)
        while true {
            let stretch = try counted.next()
            guard remaining > stretch.upperBound - stretch.lowerBound else {
                return Date(timeIntervalSince1970: stretch.lowerBound + remaining)
            }
            remaining -= stretch.upperBound - stretch.lowerBound
        }
    }

    /// The business time, in seconds, between two instants, leaving out `pauses`.
    ///
    /// Use it for "first response took N business minutes" or "time left until the due date". It is negative
    /// when `end` is before `start`, so an overdue ticket shows how far past its due date it is.
    ///
    /// Without pauses (the agent console asks this for every row) it jumps over runs of days on which the zone's
    /// offset holds still (`SteadyDays`), so a ticket a year overdue costs a handful of time-zone lookups rather
    /// than two for every day; the answer is the day-by-day walk's to the bit.
    /// - Throws: `no_business_hours` if the calendar stays closed for more than two years after `start`.
    public func businessTime(between start: Date, and end: Date, pauses: [Range<Date>] = []) throws(CalendarError) -> TimeInterval {
        try self.walkBusinessTime(between: start, and: end, pauses: pauses, skippingSteadyDays: pauses.isEmpty)
    }

    /// ``businessTime(between:and:pauses:)`` by the plain walk, one day after another: the answer the fast path
    /// must give, kept reachable so the tests can hold it to that.
    func dayByDayBusinessTime(between start: Date, and end: Date, pauses: [Range<Date>] = []) throws(CalendarError) -> TimeInterval {
        try self.walkBusinessTime(between: start, and: end, pauses: pauses, skippingSteadyDays: false)
    }

    private func walkBusinessTime(
        between start: Date, and end: Date, pauses: [Range<Date>], skippingSteadyDays: Bool
    ) throws(CalendarError) -> TimeInterval {
        guard start <= end else {
            return try -self.walkBusinessTime(between: end, and: start, pauses: pauses, skippingSteadyDays: skippingSteadyDays)
        }
        let limit = end.timeIntervalSince1970
        var total: TimeInterval = 0
        var counted = CountedTime(calendar: self, from: start.timeIntervalSince1970, pauses: pauses)
        var steadyDays = skippingSteadyDays ? SteadyDays(calendar: self, from: start.timeIntervalSince1970, to: limit) : nil
        while true {
            if let run = steadyDays?.run(after: counted, before: limit) {
                // The walk adds the run's intervals one by one; one addition gives the same Double only when it is
                // exact, and then so is every partial sum on the way (see `exactSum`).
                guard let sum = exactSum(total, Double(run.seconds)) else {
                    steadyDays = nil
                    continue
                }
                total = sum
                counted.resume(afterDay: run.lastOpenDay, cursor: run.lastClosing)
            }
            let stretch = try counted.next()
            guard stretch.lowerBound < limit else { return total }
            total += min(stretch.upperBound, limit) - stretch.lowerBound
        }
    }

    /// The local date, as a day number since 1970-01-01, on which `instant` falls.
    fileprivate func localDay(of instant: Double) -> Int {
        Int(((instant + Double(self.offset(at: instant))) / 86_400).rounded(.down))
    }

    /// The open intervals of local day `day` as instants (seconds since 1970), in order.
    ///
    /// Most days cost two time-zone lookups: when the offset a day before equals the offset two days after,
    /// no transition touches the day and every boundary is its wall time minus that offset.
    fileprivate func openIntervals(onDay day: Int) -> [Range<Double>] {
        let hours = self.secondsByWeekday[weekdayIndex(ofDay: day)]
        guard !hours.isEmpty, !self.holidayDays.contains(day) else { return [] }
        let midnight = Double(day) * 86_400
        let offsets = (before: self.offset(at: midnight - 86_400), after: self.offset(at: midnight + 2 * 86_400))
        return hours.compactMap { hours in
            let opens = self.firstInstant(atOrAfterWallTime: midnight + Double(hours.lowerBound), offsets)
            let closes = self.firstInstant(atOrAfterWallTime: midnight + Double(hours.upperBound), offsets)
            return opens < closes ? opens..<closes : nil
        }
    }

    /// The first instant whose wall-clock time is at or after `wallTime` (local seconds since 1970), given
    /// the offsets in force before and after the day; assumes at most one transition in that window.
    private func firstInstant(atOrAfterWallTime wallTime: Double, _ offsets: (before: Int, after: Int)) -> Double {
        let early = wallTime - Double(offsets.before)
        guard offsets.before != offsets.after, self.offset(at: early) != offsets.before else { return early }
        let late = wallTime - Double(offsets.after)
        if self.offset(at: late) == offsets.after { return late }
        // The wall time falls into a spring-forward gap: the answer is the transition, found by bisection.
        var (low, high) = (late, early)
        while high - low > 1 {
            let middle = ((low + high) / 2).rounded(.down)
            if self.offset(at: middle) == offsets.after { high = middle } else { low = middle }
        }
        return high
    }

    fileprivate func offset(at instant: Double) -> Int {
        self.timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: instant))
    }
}

/// The stretches of time that count as business time from an instant on: open intervals with pauses cut
/// out, in order.
///
/// Walking interval by interval and day by day (never minute by minute) keeps a due-date computation to a
/// few time-zone lookups per day it touches.
private struct CountedTime {
    /// How long the calendar may stay closed before we call it broken rather than loop on.
    static let maximumClosedDays = 2 * 366

    let calendar: BusinessCalendar
    /// Pause ranges sorted by start, so one index moves forward through them.
    let pauses: [Range<Double>]
    var pauseIndex = 0
    /// Everything before the cursor has been handed out or skipped.
    var cursor: Double
    var day: Int
    var intervals: [Range<Double>]
    var intervalIndex = 0

    init(calendar: BusinessCalendar, from start: Double, pauses: [Range<Date>]) {
        self.calendar = calendar
        self.pauses = pauses.map { $0.lowerBound.timeIntervalSince1970..<$0.upperBound.timeIntervalSince1970 }
            .sorted { $0.lowerBound < $1.lowerBound }
        self.cursor = start
        // Earlier days' intervals all end by this day's midnight, which is not after `start`.
        self.day = calendar.localDay(of: start)
        self.intervals = calendar.openIntervals(onDay: self.day)
    }

    /// The next non-empty stretch that counts, starting at or after the end of the previous one.
    mutating func next() throws(CalendarError) -> Range<Double> {
        while true {
            let open = try self.nextOpenInterval()
            let lower = max(open.lowerBound, self.cursor)
            while self.pauseIndex < self.pauses.count, self.pauses[self.pauseIndex].upperBound <= lower {
                self.pauseIndex += 1
            }
            let pause = self.pauseIndex < self.pauses.count ? self.pauses[self.pauseIndex] : nil
            if let pause, pause.lowerBound <= lower {
                self.skip(to: pause.upperBound)
                continue
            }
            self.cursor = min(open.upperBound, pause?.lowerBound ?? .infinity)
            return lower..<self.cursor
        }
    }

    /// The first open interval that ends after the cursor, loading further days as needed.
    private mutating func nextOpenInterval() throws(CalendarError) -> Range<Double> {
        var closedDays = 0
        while true {
            while self.intervalIndex < self.intervals.count {
                let interval = self.intervals[self.intervalIndex]
                if interval.upperBound > self.cursor { return interval }
                self.intervalIndex += 1
            }
            closedDays += 1
            guard closedDays <= Self.maximumClosedDays else {
                throw CalendarError(
                    code: "no_business_hours",
                    message: "the calendar has no business hours in the two years after "
                        + "\(LocalDate(dayNumber: self.day - closedDays)); add weekly hours or remove holidays"
                )
            }
            self.load(day: self.day + 1)
        }
    }

    /// Moves the cursor past a pause, jumping straight to the day it ends on rather than walking to it.
    private mutating func skip(to instant: Double) {
        self.cursor = instant
        let day = self.calendar.localDay(of: instant)
        if day > self.day { self.load(day: day) }
    }

    private mutating func load(day: Int) {
        self.day = day
        self.intervals = self.calendar.openIntervals(onDay: day)
        self.intervalIndex = 0
    }

    /// Whether every interval of the current day is behind the cursor, so the walk stands between two days.
    var isBetweenDays: Bool { self.intervals.last.map { $0.upperBound <= self.cursor } ?? true }

    /// Carries on as if the walk had just handed out the last interval of `day`, which closed at `cursor`.
    ///
    /// The next search for an open interval starts on the following day, just as it would have, so it gives up
    /// after the same run of closed days and reports the same date.
    mutating func resume(afterDay day: Int, cursor: Double) {
        self.day = day
        self.cursor = cursor
        self.intervals = []
        self.intervalIndex = 0
    }
}

/// Runs of whole days whose business time is a sum of opening hours, for jumping over in a long walk.
///
/// While the zone's offset holds still from the day before a day to two days after it, the day's intervals are
/// its opening hours minus that offset (`openIntervals(onDay:)` takes that shortcut too),
/// so a run of such days counts `secondsByWeekday` summed over its weekdays, less its holidays, without a
/// single time-zone lookup. The walk then goes day by day only at the ends of the span and around each offset
/// change, which Foundation's transition table finds at one lookup per change (on Linux it agreed with an hourly
/// scan of every zone from 1990 to 2040); the offset at the far end of each run is read as well, so a change the
/// table missed ends the jumping instead of going unnoticed.
private struct SteadyDays {
    /// A run of days the walk can jump over.
    struct Run {
        /// Business seconds on the run's days.
        var seconds: Int
        /// The run's last day with business hours, and the instant its last interval closes.
        var lastOpenDay: Int
        var lastClosing: Double
    }

    /// The shortest run worth the offset lookup that checks it: a week.
    static let minimumDays = 7

    let calendar: BusinessCalendar
    /// Business seconds of each weekday, Monday = 0.
    let daySeconds: [Int]
    /// The offset read at `from`, which Foundation says holds until `until`.
    var offset = 0
    var from = Double.infinity
    var until = -Double.infinity
    /// Cleared when the offset at the end of a run disagrees with Foundation's transitions.
    var trustsTransitions = true

    /// Nil when the span is too short to hold a run past the days at its ends, so short spans pay nothing; and
    /// when jumping could not give the walk's exact answer: with no business hours (only the walk throws
    /// `no_business_hours` where it should), or so far from 1970 that day boundaries are not whole in a Double.
    init?(calendar: BusinessCalendar, from start: Double, to limit: Double) {
        guard limit - start >= Double(Self.minimumDays + 2) * 86_400, abs(start) < 0x1p52, abs(limit) < 0x1p52 else { return nil }
        let daySeconds = calendar.secondsByWeekday.map { $0.reduce(0) { $0 + $1.count } }
        guard daySeconds.contains(where: { $0 > 0 }) else { return nil }
        self.calendar = calendar
        self.daySeconds = daySeconds
    }

    /// The longest run of days right after the walk's current day that ends before `limit` and over which the
    /// offset holds still, if it is at least a week long and has business hours.
    ///
    /// A run is at most `CountedTime.maximumClosedDays` long, so no stretch of closed days that the walk would
    /// have given up on lies hidden inside it.
    mutating func run(after counted: CountedTime, before limit: Double) -> Run? {
        guard self.trustsTransitions, counted.isBetweenDays else { return nil }
        let first = counted.day + 1
        // No offset is a day or more, so a run cannot end later than this; short spans need no lookup to see it.
        guard first + Self.minimumDays - 1 <= Int((limit / 86_400).rounded(.down)) else { return nil }
        // Day `first` reads the offset from its previous midnight (as UTC) on.
        let windowStart = Double(first - 1) * 86_400
        if !(self.from <= windowStart && windowStart < self.until) {
            self.offset = self.calendar.offset(at: windowStart)
            self.from = windowStart
            self.until =
                self.calendar.timeZone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: windowStart))?
                .timeIntervalSince1970 ?? .infinity
        }
        // The last day reads the offset up to two midnights after its own, which must come before the change; and
        // its intervals close by its local midnight, which must not be after `limit`.
        let beforeChange = self.until < 0x1p52 ? Int((self.until / 86_400).rounded(.up)) - 3 : .max
        let beforeLimit = Int(((limit + Double(self.offset)) / 86_400).rounded(.down)) - 1
        let last = min(beforeChange, beforeLimit, first + CountedTime.maximumClosedDays - 1)
        guard last - first + 1 >= Self.minimumDays, counted.cursor <= Double(first * 86_400 - self.offset) else { return nil }
        let weeks = (last - first + 1) / 7
        var seconds = weeks * self.daySeconds.reduce(0, +)
        for day in stride(from: first + 7 * weeks, through: last, by: 1) {
            seconds += self.daySeconds[weekdayIndex(ofDay: day)]
        }
        for holiday in self.calendar.holidayDays where (first...last).contains(holiday) {
            seconds -= self.daySeconds[weekdayIndex(ofDay: holiday)]
        }
        guard seconds > 0 else { return nil }
        guard self.calendar.offset(at: Double(last + 2) * 86_400) == self.offset else {
            // Foundation missed a change: walk the rest of the span day by day.
            self.trustsTransitions = false
            return nil
        }
        var lastOpenDay = last
        while self.daySeconds[weekdayIndex(ofDay: lastOpenDay)] == 0 || self.calendar.holidayDays.contains(lastOpenDay) {
            lastOpenDay -= 1
        }
        let closes = self.calendar.secondsByWeekday[weekdayIndex(ofDay: lastOpenDay)].last!.upperBound
        return Run(seconds: seconds, lastOpenDay: lastOpenDay, lastClosing: Double(lastOpenDay * 86_400 + closes - self.offset))
    }
}

/// `a + b` when the sum is exact, else nil (Knuth's two-sum: the rounding error of `a + b`, itself exact).
///
/// For `a ≥ 0` and a whole `b > 0`, an exact `a + b` means every `a + p` for whole `0 ≤ p ≤ b` is exact too: it
/// has `a`'s fraction and is no larger. So adding a run's intervals one at a time, as the walk does, rounds
/// nowhere and ends on the same Double.
private func exactSum(_ a: Double, _ b: Double) -> Double? {
    let sum = a + b
    let bPart = sum - a
    let aPart = sum - bPart
    return (a - aPart) + (b - bPart) == 0 ? sum : nil
}

extension CalendarError {
    static func invalidDate(_ text: String) -> Self {
        CalendarError(code: "invalid_date", message: "\"\(text)\" is not a date; write dates as YYYY-MM-DD, e.g. 2026-12-25")
    }

    static func invalidTime(_ text: String) -> Self {
        CalendarError(
            code: "invalid_hours",
            message: "\"\(text)\" is not a time of day; write times as HH:MM from 00:00 to 24:00, e.g. 09:00"
        )
    }
}

/// The weekday of a day number, Monday = 0 (1970-01-01 was a Thursday).
private func weekdayIndex(ofDay day: Int) -> Int { ((day % 7) + 7 + 3) % 7 }

/// Helpers for the fixed-width digit formats of dates and times (wire and iCal).
enum FixedDigits {
    /// Parses a run of ASCII digits; `Int(_:)` alone would also accept signs.
    static func parse(_ text: Substring) -> Int? {
        text.allSatisfy { $0.isASCII && $0.isNumber } ? Int(text) : nil
    }

    /// Zero-pads a number to `width` digits.
    static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
