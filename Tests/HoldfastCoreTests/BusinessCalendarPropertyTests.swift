import Foundation
import HoldfastCore
import PropertyBased
import Testing

/// A slow, obviously correct model of business time to check the engine against.
///
/// It applies the documented rule literally: an interval on a local date runs from the first instant whose
/// wall-clock time is at or after `opens` to the first one at or after `closes`. It walks time minute by
/// minute, reads each minute's wall clock from Foundation, and switches open or closed as the wall clock
/// reaches each boundary in turn, so a boundary in a spring-forward gap takes effect at the first minute after
/// the gap and one in a fall-back overlap at its first occurrence. Every boundary in these scenarios is a
/// whole minute, so a minute is either wholly counted or not at all.
struct ReferenceCalendar {
    let start: Date
    /// Whether minute `i` after `start` is within opening hours.
    private(set) var open: [Bool] = []
    /// Whether minute `i` after `start` counts: open and not paused.
    private(set) var counted: [Bool] = []

    /// Walks from `start` until `targetMinutes` counted minutes have passed and `endMinutes` minutes in all.
    init(
        zone: TimeZone, hours: [[Range<Int>]], holidays: Set<LocalDate>, pauses: [Range<Date>],
        start: Date, targetMinutes: Int, endMinutes: Int
    ) {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        func wallClock(_ time: Int) -> Int { time + zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(time))) }
        self.start = start
        let startTime = Int(start.timeIntervalSince1970)
        // Boundaries not yet reached, as (wall-clock seconds since 1970, opens?), in order.
        var pending: [(wall: Int, opens: Bool)] = []
        var nextDay = Int((Double(wallClock(startTime)) / 86_400).rounded(.down)) - 1
        // Its wall clock is before the first pending boundary, so the walk starts closed.
        var time = (nextDay - 1) * 86_400
        var isOpen = false
        var countedSoFar = 0
        var seenOpen = false
        while countedSoFar <= targetMinutes || self.counted.count < endMinutes || !seenOpen {
            let wall = wallClock(time)
            while nextDay * 86_400 <= wall + 86_400 {
                let date = utc.dateComponents(
                    [.year, .month, .day, .weekday], from: Date(timeIntervalSince1970: TimeInterval(nextDay * 86_400)))
                if !holidays.contains(try! LocalDate(year: date.year!, month: date.month!, day: date.day!)) {
                    // Foundation numbers Sunday as 1; the hours are indexed Monday = 0.
                    for interval in hours[(date.weekday! + 5) % 7] {
                        pending.append((nextDay * 86_400 + interval.lowerBound * 60, true))
                        pending.append((nextDay * 86_400 + interval.upperBound * 60, false))
                    }
                }
                nextDay += 1
            }
            while let boundary = pending.first, boundary.wall <= wall {
                isOpen = boundary.opens
                pending.removeFirst()
            }
            if time >= startTime {
                let instant = Date(timeIntervalSince1970: TimeInterval(time))
                let counts = isOpen && !pauses.contains { $0.contains(instant) }
                self.open.append(isOpen)
                self.counted.append(counts)
                countedSoFar += counts ? 1 : 0
                seenOpen = seenOpen || isOpen
            }
            time += 60
        }
    }

    /// The end of the minute in which the `target`-th counted minute ends; with a target of zero, the start of the
    /// first counted minute.
    func due(minutes target: Int, countingPauses: Bool = true) -> Date {
        let counts = countingPauses ? self.counted : self.open
        var minute = counts.firstIndex(of: true)!
        var remaining = target
        while remaining > 0 {
            if counts[minute] { remaining -= 1 }
            minute += 1
        }
        return self.start.addingTimeInterval(TimeInterval(minute) * 60)
    }

    /// Counted minutes from the start up to minute `end`.
    func countedMinutes(before end: Int) -> Int {
        self.counted[..<end].filter { $0 }.count
    }
}

/// A random calendar, start instant, target and pauses.
struct Scenario: CustomStringConvertible, Sendable {
    static let zones = [
        "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Australia/Lord_Howe", "America/Santiago",
    ]

    let zone: TimeZone
    /// Opening intervals in minutes, Monday first; boundaries on a half-hour grid, so they meet DST gaps often.
    let hours: [[Range<Int>]]
    let holidays: Set<LocalDate>
    let start: Date
    let pauses: [Range<Date>]
    let targetMinutes: Int
    let endMinutes: Int

    var weeklyMinutes: Int { self.hours.joined().map(\.count).reduce(0, +) }

    var description: String {
        "\(self.zone.identifier) from \(self.start) +\(self.targetMinutes) min, hours \(self.hours), "
            + "holidays \(self.holidays.sorted()), pauses \(self.pauses), end +\(self.endMinutes) min"
    }

    func calendar() throws -> BusinessCalendar {
        let intervals = try zip(Weekday.allCases, self.hours).flatMap { day, ranges in
            try ranges.map { range in
                try OpeningInterval(
                    day: day,
                    opens: TimeOfDay(hour: range.lowerBound / 60, minute: range.lowerBound % 60),
                    closes: TimeOfDay(hour: range.upperBound / 60, minute: range.upperBound % 60)
                )
            }
        }
        return try BusinessCalendar(timeZone: self.zone.identifier, weeklyHours: intervals, holidays: self.holidays)
    }

    func reference() -> ReferenceCalendar {
        ReferenceCalendar(
            zone: self.zone, hours: self.hours, holidays: self.holidays, pauses: self.pauses,
            start: self.start, targetMinutes: self.targetMinutes, endMinutes: self.endMinutes
        )
    }

    static let newYear = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z

    /// Each zone's offset changes in 2026, found by scanning (Foundation's `nextDaylightSavingTimeTransition`
    /// misses some, such as Santiago's).
    static let offsetChanges = zones.map { identifier in
        let zone = TimeZone(identifier: identifier)!
        return stride(from: 0, to: 365 * 96, by: 1).map { newYear.addingTimeInterval(TimeInterval($0) * 900) }
            .filter { zone.secondsFromGMT(for: $0) != zone.secondsFromGMT(for: $0.addingTimeInterval(-900)) }
    }

    /// Start instants either anywhere in 2026 or within three days of one of the zone's 2026 clock changes.
    static let generator = zip(
        Gen.int(in: 0..<zones.count),
        Gen.int(in: 0...48).array(of: 0...6).array(of: 7),
        Gen.int(in: -1...21).array(of: 0...4),
        Gen.int(in: 0..<365 * 1440),
        Gen.int(in: -1...1),
        Gen.int(in: -3 * 1440...3 * 1440),
        zip(Gen.int(in: -600...4320), Gen.int(in: 0...900)).array(of: 0...2),
        Gen.int(in: 0...1440),
        Gen.int(in: 0...10 * 1440)
    ).map { zoneIndex, points, holidayOffsets, minuteOfYear, transition, nearTransition, pauses, target, end in
        let zone = TimeZone(identifier: zones[zoneIndex])!
        let changes = offsetChanges[zoneIndex]
        let start =
            changes.indices.contains(transition)
            ? changes[transition].addingTimeInterval(TimeInterval(nearTransition) * 60)
            : newYear.addingTimeInterval(TimeInterval(minuteOfYear) * 60)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let startDate = calendar.dateComponents([.year, .month, .day], from: start)
        let startLocalDate = try! LocalDate(year: startDate.year!, month: startDate.month!, day: startDate.day!)
        let hours = points.map { points in
            let sorted = Array(Set(points)).sorted().map { $0 * 30 }
            return stride(from: 0, to: sorted.count - 1, by: 2).map { sorted[$0]..<sorted[$0 + 1] }
        }
        let weekly = hours.joined().map(\.count).reduce(0, +)
        return Scenario(
            zone: zone,
            hours: hours,
            holidays: Set(holidayOffsets.map { startLocalDate.adding(days: $0) }),
            start: start,
            pauses: pauses.map { offset, length in
                start.addingTimeInterval(TimeInterval(offset) * 60)..<start.addingTimeInterval(TimeInterval(offset + length) * 60)
            },
            // Up to three days of eight hours, or three weeks of a sparse calendar, so the reference stays quick.
            targetMinutes: min(target, 3 * weekly),
            endMinutes: end
        )
    }
}

@Suite("Business calendar against a minute-by-minute reference")
struct BusinessCalendarPropertyTests {
    @Test("Due dates, elapsed time, openness and next opening agree with the reference")
    func agreesWithTheReference() async {
        await propertyCheck(count: 500, input: Scenario.generator) { scenario in
            let calendar = try scenario.calendar()
            guard scenario.weeklyMinutes > 0 else {
                #expect(throws: CalendarError.self) { try calendar.nextOpening(after: scenario.start) }
                return
            }
            let reference = scenario.reference()
            let due = try calendar.addingBusinessTime(minutes: scenario.targetMinutes, to: scenario.start, pauses: scenario.pauses)
            #expect(due == reference.due(minutes: scenario.targetMinutes), "\(scenario)")
            #expect(try calendar.nextOpening(after: scenario.start) == reference.due(minutes: 0, countingPauses: false))
            #expect(calendar.isOpen(at: scenario.start) == reference.open[0])
            let end = scenario.start.addingTimeInterval(TimeInterval(scenario.endMinutes) * 60)
            #expect(
                try calendar.businessTime(between: scenario.start, and: end, pauses: scenario.pauses)
                    == TimeInterval(reference.countedMinutes(before: scenario.endMinutes) * 60)
            )
        }
    }

    @Test("Elapsed business time from the start to the due date is the target, and targets add up")
    func dueDatesAreConsistent() async {
        await propertyCheck(count: 500, input: Scenario.generator, Gen.int(in: 0...100)) { scenario, percent in
            guard scenario.weeklyMinutes > 0 else { return }
            let calendar = try scenario.calendar()
            let target = scenario.targetMinutes
            let due = try calendar.addingBusinessTime(minutes: target, to: scenario.start, pauses: scenario.pauses)
            #expect(try calendar.businessTime(between: scenario.start, and: due, pauses: scenario.pauses) == TimeInterval(target * 60))
            #expect(try calendar.businessTime(between: due, and: scenario.start, pauses: scenario.pauses) == TimeInterval(-target * 60))
            let first = target * percent / 100
            let halfway = try calendar.addingBusinessTime(minutes: first, to: scenario.start, pauses: scenario.pauses)
            if first < target {
                #expect(try calendar.addingBusinessTime(minutes: target - first, to: halfway, pauses: scenario.pauses) == due)
            } else {
                // Nothing left to add: the due date is where the first part ended. (Adding zero minutes
                // there would give the next opening when that is a closing time.)
                #expect(halfway == due)
            }
            // Counting from the next opening changes nothing.
            let opening = try calendar.nextOpening(after: scenario.start)
            #expect(calendar.isOpen(at: opening))
            if scenario.pauses.isEmpty {
                #expect(try calendar.addingBusinessTime(minutes: target, to: opening) == due)
            }
        }
    }

    @Test("Local-date arithmetic matches Foundation's Gregorian calendar")
    func localDatesMatchFoundation() async throws {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let origin = try LocalDate("2000-01-01")
        let originDate = try isoInstant("2000-01-01T00:00:00Z")
        await propertyCheck(count: 500, input: Gen.int(in: -150_000...2_900_000)) { days in
            let expected = utc.dateComponents(
                [.year, .month, .day, .weekday], from: originDate.addingTimeInterval(TimeInterval(days) * 86_400))
            let date = origin.adding(days: days)
            #expect([date.year, date.month, date.day] == [expected.year, expected.month, expected.day])
            #expect(date.weekday == Weekday.allCases[(expected.weekday! + 5) % 7])
            let parsed = try LocalDate(date.description)
            #expect(parsed == date)
        }
    }
}
