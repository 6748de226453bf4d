import Foundation
import HoldfastTestSupport
import Testing

@testable import HoldfastCore

/// `businessTime(between:and:)` jumps over runs of steady days; these tests hold it to the plain day-by-day walk
/// (`dayByDayBusinessTime`), bit for bit, on spans from a minute to three years.
@Suite("Business time over long spans, against the day-by-day walk")
struct BusinessCalendarLongSpanTests {
    /// Zones with one-hour, 30-minute (Lord Howe) and southern-hemisphere changes, one that stopped changing
    /// (São Paulo, 2019), and two that never change.
    static let zones = [
        "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Auckland", "America/Sao_Paulo", "UTC",
    ]

    /// Weekly hours: plain, split, open at weekends and around midnight (where São Paulo's clocks used to
    /// change, and the others' in the small hours), one short slot a week, and round the clock.
    static let weeks: [[(Weekday, String, String)]] = [
        [Weekday.mon, .tue, .wed, .thu, .fri].map { ($0, "09:00", "17:00") },
        [Weekday.mon, .tue, .wed, .thu, .fri].flatMap { [($0, "09:00", "12:30"), ($0, "13:30", "17:30")] },
        [Weekday.mon, .tue, .wed, .thu].map { ($0, "08:00", "20:00") } + [
            (.fri, "08:00", "20:00"), (.fri, "20:00", "24:00"), (.sat, "00:00", "02:30"), (.sat, "10:00", "16:00"),
            (.sun, "00:00", "03:00"), (.sun, "22:00", "24:00"),
        ],
        [(.wed, "14:00", "15:30")],
        Weekday.allCases.map { ($0, "00:00", "24:00") },
    ]

    static let from = Date(timeIntervalSince1970: 1_483_228_800)  // 2017-01-01T00:00:00Z
    static let until = Date(timeIntervalSince1970: 1_861_920_000)  // 2029-01-01T00:00:00Z
    static let threeYears: TimeInterval = 3 * 365 * 86_400

    @Test("Seeded random spans from a minute to three years agree to the bit, either way round", arguments: zones)
    func randomSpans(zone: String) throws {
        let changes = offsetChanges(in: TimeZone(identifier: zone)!)
        for (index, week) in Self.weeks.enumerated() {
            var random = SeededGenerator(seed: UInt64(Self.zones.firstIndex(of: zone)! * 100 + index))
            let calendar = try makeCalendar(zone, week, holidays: holidays(using: &random).map(\.description))
            for _ in 0..<250 {
                var start = instant(near: randomInstant(using: &random), calendar, changes, using: &random)
                // Log-uniform lengths, so a minute, an hour, a day, a week and a year are all common.
                let length = exp(Double.random(in: log(60)...log(Self.threeYears), using: &random))
                var end = instant(near: start.addingTimeInterval(length.rounded()), calendar, changes, using: &random)
                if Bool.random(using: &random) { swap(&start, &end) }
                expectSameAsTheWalk(calendar, start, end)
            }
        }
    }

    @Test("Spans from and to opening and closing instants, and across each offset change, agree", arguments: zones)
    func boundariesAndChanges(zone: String) throws {
        let timeZone = TimeZone(identifier: zone)!
        var random = SeededGenerator(seed: 99)
        for week in Self.weeks {
            let calendar = try makeCalendar(zone, week, holidays: holidays(using: &random).map(\.description))
            for change in offsetChanges(in: timeZone) where Bool.random(using: &random) {
                // From around the change to a boundary up to two years on, and from a boundary before it to around it.
                let near = change.addingTimeInterval(TimeInterval(Int.random(in: -3 * 1440...3 * 1440, using: &random) * 60))
                let twoYears: TimeInterval = 2 * 365 * 86_400
                let later = boundary(onDayOf: near.addingTimeInterval(.random(in: 0...twoYears, using: &random)), calendar, using: &random)
                let earlier = boundary(
                    onDayOf: near.addingTimeInterval(-.random(in: 0...twoYears, using: &random)), calendar, using: &random)
                expectSameAsTheWalk(calendar, near, later)
                expectSameAsTheWalk(calendar, earlier, near)
                expectSameAsTheWalk(calendar, earlier, later)
                expectSameAsTheWalk(calendar, later, earlier)
            }
        }
    }

    @Test("Whole weeks and years from an opening instant, through holiday clusters next to weekends")
    func wholeWeeksFromOpenings() throws {
        // Christmas to New Year, and a Friday and Monday around a weekend, every year.
        let holidays =
            (2017...2028).flatMap { year in
                ["12-24", "12-25", "12-26", "12-27", "12-28", "12-29", "12-30", "12-31", "01-01", "01-02"].map { "\(year)-\($0)" }
            } + ["2026-05-01", "2026-05-04", "2027-04-30", "2027-05-03"]
        for zone in Self.zones {
            let calendar = try makeCalendar(zone, Self.weeks[1], holidays: holidays)
            var opening = try calendar.nextOpening(after: isoInstant("2025-12-22T00:00:00Z"))
            for weeks in [1, 2, 3, 4, 5, 6, 8, 13, 26, 52, 53, 104, 156] {
                let end = opening.addingTimeInterval(TimeInterval(weeks) * 7 * 86_400)
                expectSameAsTheWalk(calendar, opening, end)
                try expectSameAsTheWalk(calendar, opening, calendar.nextOpening(after: end))
                opening = try calendar.nextOpening(after: opening.addingTimeInterval(86_400))
            }
        }
    }

    @Test("Fractions of a second at either end are carried as the walk carries them")
    func fractionalEnds() throws {
        let calendar = try makeCalendar("Europe/London", Self.weeks[1], holidays: ["2026-12-25", "2026-12-28"])
        var random = SeededGenerator(seed: 5)
        for _ in 0..<500 {
            let start = randomInstant(using: &random).addingTimeInterval(.random(in: 0..<1, using: &random))
            let end = start.addingTimeInterval(.random(in: 0...Self.threeYears, using: &random))
            expectSameAsTheWalk(calendar, start, end)
        }
    }

    @Test("A calendar closed for over two years fails, or not, exactly where the walk does", arguments: [103, 104])
    func closedForTwoYears(holidayMondays: Int) throws {
        // Open on Mondays only; from 2026-01-05 that many Mondays are holidays. The last open Monday before them is
        // 2025-12-29, and the next is 104 or 105 weeks on: 728 days, which the walk crosses, or 735, past the 732
        // closed days after which it gives up.
        let first = try LocalDate("2026-01-05")
        let mondays = (0..<holidayMondays).map { first.adding(days: 7 * $0).description }
        let calendar = try makeCalendar("Europe/London", [(.mon, "09:00", "17:00")], holidays: mondays)
        let start = try isoInstant("2025-06-02T08:00:00Z")
        // Day 210 ends just before 2025-12-29 opens; from day 211 on the walk has to look for the next open Monday.
        for days in [1, 200, 209, 210, 211, 400, 1000] {
            expectSameAsTheWalk(calendar, start, start.addingTimeInterval(TimeInterval(days) * 86_400))
        }
        let yearsLater = start.addingTimeInterval(1000 * 86_400)
        let fails = (try? calendar.businessTime(between: start, and: yearsLater)) == nil
        #expect(fails == (holidayMondays == 104))

        let never = try makeCalendar("Europe/London", [])
        expectSameAsTheWalk(never, start, start.addingTimeInterval(3 * 365 * 86_400))
    }

    @Test("With pauses the walk is unchanged")
    func pausesTakeTheWalk() throws {
        let calendar = try makeCalendar("America/New_York", Self.weeks[0])
        let start = try isoInstant("2026-01-05T09:00:00-05:00")
        let pause = try pauseRange("2026-02-02T09:00:00-05:00", "2026-02-09T09:00:00-05:00")
        let end = start.addingTimeInterval(365 * 86_400)
        #expect(
            try calendar.businessTime(between: start, and: end, pauses: [pause])
                == calendar.businessTime(between: start, and: end) - 5 * 8 * 3600
        )
        #expect(
            try calendar.businessTime(between: start, and: end, pauses: [pause])
                == calendar.dayByDayBusinessTime(between: start, and: end, pauses: [pause])
        )
    }
}

/// Expects `businessTime(between:and:)` to give the walk's Double to the bit (so `-0.0` is not `0.0`), or the
/// walk's error.
private func expectSameAsTheWalk(
    _ calendar: BusinessCalendar, _ start: Date, _ end: Date, sourceLocation: SourceLocation = #_sourceLocation
) {
    let fast = Result { () throws(CalendarError) in try calendar.businessTime(between: start, and: end).bitPattern }
    let walk = Result { () throws(CalendarError) in try calendar.dayByDayBusinessTime(between: start, and: end).bitPattern }
    #expect(
        fast == walk,
        """
        \(calendar.timeZone.identifier) \(start.timeIntervalSince1970)…\(end.timeIntervalSince1970): \
        \(fast.map(Double.init(bitPattern:))) against \(walk.map(Double.init(bitPattern:)))
        """,
        sourceLocation: sourceLocation
    )
}

/// A whole second between 2017 and 2029.
private func randomInstant(using random: inout SeededGenerator) -> Date {
    let range = BusinessCalendarLongSpanTests.from.timeIntervalSince1970..<BusinessCalendarLongSpanTests.until.timeIntervalSince1970
    return Date(timeIntervalSince1970: Double.random(in: range, using: &random).rounded(.down))
}

/// `instant` as it is, or moved to a fraction of a second after it, to an opening or closing time on its local
/// date, or to within three days of the offset change nearest to it.
private func instant(near instant: Date, _ calendar: BusinessCalendar, _ changes: [Date], using random: inout SeededGenerator) -> Date {
    switch Int.random(in: 0..<4, using: &random) {
    case 0: return instant
    case 1: return instant.addingTimeInterval(.random(in: 0..<1, using: &random))
    case 2: return boundary(onDayOf: instant, calendar, using: &random)
    default:
        guard let change = changes.min(by: { abs($0.timeIntervalSince(instant)) < abs($1.timeIntervalSince(instant)) }) else {
            return instant
        }
        return change.addingTimeInterval(TimeInterval(Int.random(in: -3 * 1440...3 * 1440, using: &random) * 60))
    }
}

/// An opening or closing time of the calendar's hours on the local date of `instant`, as Foundation places it
/// (times in a gap or an overlap land where Foundation puts them, which is as good a test input as any).
private func boundary(onDayOf instant: Date, _ calendar: BusinessCalendar, using random: inout SeededGenerator) -> Date {
    var local = Calendar(identifier: .gregorian)
    local.timeZone = calendar.timeZone
    let minutes = calendar.weeklyHours.flatMap { [$0.opens.minutes, $0.closes.minutes] }.randomElement(using: &random)!
    var parts = local.dateComponents([.year, .month, .day], from: instant)
    parts.day! += minutes / 1440
    parts.hour = minutes % 1440 / 60
    parts.minute = minutes % 60
    return local.date(from: parts) ?? instant
}

/// Holidays every year from 2016 to 2030: Christmas to New Year, a Friday and the Monday after, and a run of
/// 3 to 12 days at a random place.
private func holidays(using random: inout SeededGenerator) throws -> Set<LocalDate> {
    var days: Set<LocalDate> = []
    for year in 2016...2030 {
        for (month, day) in [(12, 24), (12, 25), (12, 26), (12, 31), (1, 1)] {
            days.insert(try LocalDate(year: year, month: month, day: day))
        }
        let january = try LocalDate(year: year, month: 1, day: 1)
        var friday = january.adding(days: Int.random(in: 0..<350, using: &random))
        while friday.weekday != .fri { friday = friday.adding(days: 1) }
        days.formUnion([friday, friday.adding(days: 3)])
        let cluster = january.adding(days: Int.random(in: 0..<350, using: &random))
        days.formUnion((0..<Int.random(in: 3...12, using: &random)).map { cluster.adding(days: $0) })
    }
    return days
}

/// The instants in 2017–2028 at which `zone`'s offset changes, found by scanning rather than from Foundation's
/// transition table, which the engine relies on.
private func offsetChanges(in zone: TimeZone) -> [Date] {
    var changes: [Date] = []
    var time = BusinessCalendarLongSpanTests.from.timeIntervalSince1970
    while time < BusinessCalendarLongSpanTests.until.timeIntervalSince1970 {
        let offset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: time))
        if zone.secondsFromGMT(for: Date(timeIntervalSince1970: time + 3600)) != offset {
            // The first second of the new offset.
            var (low, high) = (time, time + 3600)
            while high - low > 1 {
                let middle = ((low + high) / 2).rounded(.down)
                if zone.secondsFromGMT(for: Date(timeIntervalSince1970: middle)) == offset { low = middle } else { high = middle }
            }
            changes.append(Date(timeIntervalSince1970: high))
        }
        time += 3600
    }
    return changes
}
