import Foundation
import HoldfastCore
import HoldfastTestSupport
import Testing

/// A slow, obviously correct model of the planner to check it against.
///
/// It applies the documented rules literally, one real minute at a time: a candidate is any minute at or
/// after `now + lead` and at or before `now + horizon` whose wall clock (read from Foundation's calendar)
/// shows `HH:00`; a window's cost is the sum over its minutes of the planning load of the hour the wall
/// clock shows, times 60 seconds; a window touching a holiday on any minute is skipped; the lowest cost
/// wins and ties go to the earlier start. All zones here change offset on whole minutes, so a minute lies
/// wholly inside one local hour.
struct ReferencePlanner {
    /// The wall clock at every minute from `firstMinute` on: hour of week and local date.
    let firstMinute: Int
    let hourOfWeek: [Int]
    let localDate: [LocalDate]
    let isWholeHour: [Bool]

    init(timeZone: TimeZone, from start: Date, minutes: Int) {
        let wall = WallClock(timeZone)
        let firstMinute = Int((start.timeIntervalSince1970 / 60).rounded(.down))
        var hourOfWeek: [Int] = []
        var localDate: [LocalDate] = []
        var isWholeHour: [Bool] = []
        for minute in firstMinute..<firstMinute + minutes {
            let fields = wall.fields(Date(timeIntervalSince1970: Double(minute * 60)))
            hourOfWeek.append(fields.hourOfWeek)
            localDate.append(fields.date)
            isWholeHour.append(fields.isWholeHour)
        }
        self.firstMinute = firstMinute
        self.hourOfWeek = hourOfWeek
        self.localDate = localDate
        self.isWholeHour = isWholeHour
    }

    struct Answer {
        var start: Date
        var cost: Double
        var peak: Double
    }

    func recommend(
        durationMinutes: Int, loads: [Double], holidays: Set<LocalDate>, now: Date, horizon: TimeInterval, lead: TimeInterval
    ) -> Answer? {
        let earliest = now.timeIntervalSince1970 + lead
        let latest = now.timeIntervalSince1970 + horizon
        let onHoliday = self.localDate.map { holidays.contains($0) }
        var best: Answer?
        for index in self.hourOfWeek.indices where self.isWholeHour[index] {
            let start = Double((self.firstMinute + index) * 60)
            guard start >= earliest, start <= latest else { continue }
            precondition(index + durationMinutes <= self.hourOfWeek.count, "the reference table is too short")
            var cost = 0.0
            var peak = 0.0
            var touchesHoliday = false
            for minute in index..<index + durationMinutes {
                touchesHoliday = touchesHoliday || onHoliday[minute]
                let load = loads[self.hourOfWeek[minute]]
                cost += load * 60
                peak = max(peak, load)
            }
            guard !touchesHoliday else { continue }
            if let current = best, cost >= current.cost - 1e-9 * max(1, current.cost) { continue }
            best = Answer(start: Date(timeIntervalSince1970: start), cost: cost, peak: peak)
        }
        return best
    }
}

@Suite("Quiet-window planner agrees with a minute-by-minute reference")
struct QuietWindowPlannerReferenceTests {
    /// Zones and starting instants, several of them in the week of a clock change.
    static let scenarios: [(zone: String, now: String)] = [
        ("Europe/London", "2026-03-26T09:41:13Z"),
        ("Europe/London", "2026-10-22T17:00:00Z"),
        ("America/New_York", "2026-03-05T22:30:00Z"),
        ("America/New_York", "2026-10-29T06:15:45Z"),
        ("Australia/Lord_Howe", "2026-10-01T03:00:00Z"),
        ("Australia/Lord_Howe", "2026-04-02T13:20:00Z"),
        ("Asia/Kolkata", "2026-06-10T00:00:00Z"),
        ("UTC", "2026-01-01T00:00:30Z"),
        ("America/Caracas", "2016-04-28T10:00:00Z"),
    ]

    /// A random week of usage: dense or sparse, integer or fractional means, with long flat stretches so
    /// that ties are common and the earliest-wins rule is exercised.
    static func randomHistogram(using generator: inout SeededGenerator) throws -> UsageHistogram {
        let style = Int.random(in: 0..<5, using: &generator)
        if style == 0 { return UsageHistogram() }
        let unknownShare = [0.0, 0.1, 0.6, 0.95][Int.random(in: 0..<4, using: &generator)]
        var rows: [UsageBucket] = []
        for hour in 0..<UsageHistogram.hoursPerWeek where Double.random(in: 0..<1, using: &generator) >= unknownShare {
            let count = Int.random(in: 1...300, using: &generator)
            let mean: Int
            switch style {
            case 1: mean = Int.random(in: 0...3, using: &generator)  // few levels: many ties
            case 2: mean = Bool.random(using: &generator) ? 5 : 0
            default: mean = Int.random(in: 0...40, using: &generator)
            }
            // Fractional means in styles 3 and 4: a sum that is not a multiple of the count.
            let sum = style >= 3 ? Int.random(in: 0...(mean * count + count - 1), using: &generator) : mean * count
            rows.append(UsageBucket(hourOfWeek: hour, sum: sum, count: count))
        }
        return try UsageHistogram(aggregates: rows)
    }

    @Test("200 seeded random histories, durations, leads, horizons and holidays in seven zones")
    func agreesWithReference() throws {
        let maximumHorizon = 7 * 86_400.0
        let maximumLead = 2 * 86_400.0
        var references: [Int: ReferencePlanner] = [:]
        var noWindowCount = 0
        for seed in 0..<200 {
            var generator = SeededGenerator(seed: UInt64(seed) &* 0x5851_F42D + 1)
            let scenario = Self.scenarios[seed % Self.scenarios.count]
            let timeZone = zone(scenario.zone)
            let now = try isoInstant(scenario.now)
            let reference =
                references[seed % Self.scenarios.count]
                ?? ReferencePlanner(timeZone: timeZone, from: now, minutes: Int((maximumHorizon + 86_400) / 60) + 120)
            references[seed % Self.scenarios.count] = reference

            let usage = try Self.randomHistogram(using: &generator)
            let durationMinutes =
                Bool.random(using: &generator)
                ? [60, 120, 180, 240, 1440][Int.random(in: 0..<5, using: &generator)] : Int.random(in: 1...1440, using: &generator)
            let lead = [0, 86_400, Double.random(in: 0...maximumLead, using: &generator)][Int.random(in: 0..<3, using: &generator)]
            let horizon = min(maximumHorizon, lead + Double(Int.random(in: 0...(7 * 24), using: &generator)) * 3600)
            let wall = WallClock(timeZone)
            let today = wall.localDate(now)
            let holidays = Set(
                (0..<Int.random(in: 0...4, using: &generator)).map { _ in today.adding(days: Int.random(in: 0...9, using: &generator)) }
            )

            let expected = reference.recommend(
                durationMinutes: durationMinutes, loads: usage.planningLoads, holidays: holidays, now: now, horizon: horizon, lead: lead)
            let context: Comment =
                "seed \(seed), \(scenario.zone), \(durationMinutes) min, lead \(lead), horizon \(horizon), holidays \(holidays.sorted())"
            do {
                let actual = try QuietWindowPlanner.recommend(
                    duration: Double(durationMinutes) * 60, histogram: usage, timeZone: timeZone, holidays: holidays, now: now,
                    horizon: horizon, earliestLead: lead)
                guard let expected else {
                    Issue.record("planner found \(actual.startsAt) where the reference found none; \(context)")
                    continue
                }
                #expect(actual.startsAt == expected.start, context)
                #expect(actual.endsAt == expected.start.addingTimeInterval(Double(durationMinutes) * 60), context)
                #expect(abs(actual.expectedSessionHours * 3600 - expected.cost) <= 1e-6 * max(1, expected.cost), context)
                #expect(actual.expectedActiveSessions == Int((expected.peak - 1e-9 * max(1, expected.peak)).rounded(.up)), context)
            } catch {
                #expect(expected == nil, "planner threw \(error); \(context)")
                #expect(error.code == "no_window", context)
                noWindowCount += 1
            }
        }
        // The seeds give mostly plannable cases and a few with no window at all, so both paths are compared.
        #expect((1..<100).contains(noWindowCount))
    }
}
