import Foundation
import HoldfastCore
import Testing

@Suite("Quiet-window planner: the window with the fewest expected sessions")
struct QuietWindowPlannerTests {
    /// Busy weekdays 09–18 (40 sessions), evenings and weekends at 6, Wednesday 03–05 at 1 and the
    /// trough on Sunday 03–05 at 0, flanked by hours of 1.
    static func weeklyPattern(day: Weekday, hour: Int) -> Int {
        switch (day, hour) {
        case (.sun, 3), (.sun, 4): 0
        case (.sun, 2), (.sun, 5), (.wed, 3), (.wed, 4): 1
        case (Weekday.mon...Weekday.fri, 9..<18): 40
        default: 6
        }
    }

    static let pattern = try! histogram { weeklyPattern(day: Weekday.allCases[$0 / 24], hour: $0 % 24) }

    @Test(
        "Three weeks of minute samples with a Sunday 03:00–05:00 trough give that trough, in the tenant's zone",
        arguments: [
            ("Europe/London", "2026-06-01T10:00:00+01:00", "2026-06-07T03:00:00+01:00"),
            ("America/New_York", "2026-06-01T10:00:00-04:00", "2026-06-07T03:00:00-04:00"),
            ("Asia/Kolkata", "2026-06-01T10:00:00+05:30", "2026-06-07T03:00:00+05:30"),
        ]
    )
    func troughFromSamples(zoneName: String, now: String, expectedStart: String) throws {
        let timeZone = zone(zoneName)
        let wall = WallClock(timeZone)
        let end = try isoInstant(now)
        // A sample every five minutes, its count read from the pattern on Foundation's wall clock.
        let samples = (1...3 * 7 * 24 * 12).map { step in
            let at = end.addingTimeInterval(-Double(step) * 300)
            let hour = wall.hourOfWeek(at)
            return ConcurrencySample(at: at, activeSessions: Self.weeklyPattern(day: Weekday.allCases[hour / 24], hour: hour % 24))
        }
        let usage = UsageHistogram(samples: samples, timeZone: timeZone)
        let recommendation = try QuietWindowPlanner.recommend(
            duration: 2 * 3600, histogram: usage, timeZone: timeZone, holidays: [], now: end)
        #expect(recommendation.startsAt == (try isoInstant(expectedStart)))
        #expect(recommendation.endsAt == recommendation.startsAt.addingTimeInterval(7200))
        #expect(recommendation.expectedActiveSessions == 0)
        #expect(recommendation.expectedSessionHours == 0)
        #expect(recommendation.hourly.map(\.hourOfWeek) == [hourOfWeek(.sun, 3), hourOfWeek(.sun, 4)])
    }

    @Test("A longer window takes in the flanking hours; the expected count is the peak hour, rounded up")
    func longerWindow() throws {
        let recommendation = try QuietWindowPlanner.recommend(
            duration: 3 * 3600 + 30 * 60, histogram: Self.pattern, timeZone: zone("Europe/London"), holidays: [],
            now: isoInstant("2026-06-01T10:00:00+01:00"))
        // 02:00–05:30 costs 1 + 0 + 0 + 0.5; 03:00–06:30 would cost 0 + 0 + 1 + 3.
        #expect(recommendation.startsAt == (try isoInstant("2026-06-07T02:00:00+01:00")))
        #expect(recommendation.endsAt == (try isoInstant("2026-06-07T05:30:00+01:00")))
        #expect(recommendation.expectedSessionHours == 1.5)
        #expect(recommendation.expectedActiveSessions == 1)
        #expect(recommendation.hourly.last?.endsAt == recommendation.endsAt)
        #expect(recommendation.hourly.map(\.expectedActiveSessions) == [1, 0, 0, 1])
    }

    @Test("A fractional peak is rounded up: a mean of 0.25 sessions still expects one")
    func fractionalPeakRoundsUp() throws {
        let usage = try UsageHistogram(aggregates: (0..<168).map { UsageBucket(hourOfWeek: $0, sum: $0 == 50 ? 15 : 600, count: 60) })
        let recommendation = try QuietWindowPlanner.recommend(
            duration: 3600, histogram: usage, timeZone: zone("UTC"), holidays: [], now: isoInstant("2026-06-01T00:00:00Z"),
            earliestLead: 0)
        #expect(recommendation.startsAt == (try isoInstant("2026-06-03T02:00:00Z")))
        #expect(recommendation.expectedActiveSessions == 1)
    }

    @Test("With equal costs the earliest window wins; a flat history gives the first allowed hour")
    func tiesGoToTheEarliest() throws {
        let london = zone("Europe/London")
        let flat = try histogram(base: 3, [:])
        let atQuarterPast = try QuietWindowPlanner.recommend(
            duration: 3600, histogram: flat, timeZone: london, holidays: [], now: isoInstant("2026-06-02T10:17:30+01:00"))
        #expect(atQuarterPast.startsAt == (try isoInstant("2026-06-03T11:00:00+01:00")))
        #expect(atQuarterPast.expectedActiveSessions == 3)

        let twoTroughs = try histogram(base: 5, [hourOfWeek(.tue, 2): 0, hourOfWeek(.thu, 2): 0])
        let tie = try QuietWindowPlanner.recommend(
            duration: 3600, histogram: twoTroughs, timeZone: london, holidays: [], now: isoInstant("2026-06-01T00:30:00+01:00"))
        #expect(tie.startsAt == (try isoInstant("2026-06-02T02:00:00+01:00")))

        // Not simply the first low hour: a strictly lower one later on wins.
        let lowerLater = try histogram(base: 5, [hourOfWeek(.tue, 2): 1, hourOfWeek(.thu, 2): 0])
        let later = try QuietWindowPlanner.recommend(
            duration: 3600, histogram: lowerLater, timeZone: london, holidays: [], now: isoInstant("2026-06-01T00:30:00+01:00"))
        #expect(later.startsAt == (try isoInstant("2026-06-04T02:00:00+01:00")))
    }

    @Test("No history at all: every window costs nothing and the earliest is recommended")
    func emptyHistory() throws {
        let recommendation = try QuietWindowPlanner.recommend(
            duration: 7200, histogram: UsageHistogram(), timeZone: zone("Europe/London"), holidays: [],
            now: isoInstant("2026-06-01T10:00:00+01:00"))
        #expect(recommendation.startsAt == (try isoInstant("2026-06-02T10:00:00+01:00")))
        #expect(recommendation.expectedActiveSessions == 0)
        #expect(recommendation.hourly.allSatisfy { !$0.isKnown })
    }

    @Test("An unknown hour counts as the mean of the known hours, not as an empty hour")
    func unknownHourIsNotFree() throws {
        // Every hour is known at 2 except Wednesday 03:00 at 0; Tuesday 03:00 was never sampled.
        let usage = try histogram { hour in
            hour == hourOfWeek(.tue, 3) ? nil : hour == hourOfWeek(.wed, 3) ? 0 : 2
        }
        let recommendation = try QuietWindowPlanner.recommend(
            duration: 3600, histogram: usage, timeZone: zone("Europe/London"), holidays: [],
            now: isoInstant("2026-06-01T00:30:00+01:00"), earliestLead: 0)
        #expect(recommendation.startsAt == (try isoInstant("2026-06-03T03:00:00+01:00")))
        #expect(recommendation.hourly.map(\.isKnown) == [true])

        // When the unknown hour is the only way to avoid known load, it is taken at the assumed mean.
        let sparse = try UsageHistogram(aggregates: [
            UsageBucket(hourOfWeek: hourOfWeek(.mon, 9), sum: 600, count: 60),
            UsageBucket(hourOfWeek: hourOfWeek(.mon, 10), sum: 60, count: 60),
        ])
        let fromSparse = try QuietWindowPlanner.recommend(
            duration: 3600, histogram: sparse, timeZone: zone("Europe/London"), holidays: [],
            now: isoInstant("2026-06-01T08:00:00+01:00"), earliestLead: 0)
        #expect(fromSparse.startsAt == (try isoInstant("2026-06-01T10:00:00+01:00")))
        let twoHours = try QuietWindowPlanner.recommend(
            duration: 7200, histogram: sparse, timeZone: zone("Europe/London"), holidays: [],
            now: isoInstant("2026-06-01T08:00:00+01:00"), earliestLead: 0)
        // 10:00–12:00 costs 1 + 5.5, less than any other pair; the unknown 11:00 sets the expected count.
        #expect(twoHours.startsAt == (try isoInstant("2026-06-01T10:00:00+01:00")))
        #expect(twoHours.hourly.map(\.isKnown) == [true, false])
        #expect(twoHours.expectedActiveSessions == 6)
    }

    @Test("A holiday rules out the trough on it; the next quietest window is recommended")
    func holidaySkipped() throws {
        let recommendation = try QuietWindowPlanner.recommend(
            duration: 2 * 3600, histogram: Self.pattern, timeZone: zone("Europe/London"), holidays: [try LocalDate("2026-06-07")],
            now: isoInstant("2026-06-01T10:00:00+01:00"))
        #expect(recommendation.startsAt == (try isoInstant("2026-06-03T03:00:00+01:00")))
        #expect(recommendation.expectedActiveSessions == 1)
    }

    @Test("A window that runs into a holiday is skipped, but one that ends at its midnight is allowed")
    func windowTouchingAHoliday() throws {
        let usage = try histogram(
            base: 6, [hourOfWeek(.sat, 22): 1, hourOfWeek(.sat, 23): 0, hourOfWeek(.sun, 0): 0, hourOfWeek(.sun, 1): 2])
        let now = try isoInstant("2026-06-01T10:00:00+01:00")
        let free = try QuietWindowPlanner.recommend(
            duration: 7200, histogram: usage, timeZone: zone("Europe/London"), holidays: [], now: now)
        #expect(free.startsAt == (try isoInstant("2026-06-06T23:00:00+01:00")))
        let sundayOff = try QuietWindowPlanner.recommend(
            duration: 7200, histogram: usage, timeZone: zone("Europe/London"), holidays: [try LocalDate("2026-06-07")], now: now)
        #expect(sundayOff.startsAt == (try isoInstant("2026-06-06T22:00:00+01:00")))
        #expect(sundayOff.endsAt == (try isoInstant("2026-06-07T00:00:00+01:00")))
    }

    @Test("Every candidate on a holiday: a no_window conflict that says what to do")
    func everythingIsAHoliday() throws {
        let start = try LocalDate("2026-05-31")
        let holidays = Set((0..<10).map { start.adding(days: $0) })
        let error = #expect(throws: CoreError.self) {
            try QuietWindowPlanner.recommend(
                duration: 3600, histogram: Self.pattern, timeZone: zone("Europe/London"), holidays: holidays,
                now: isoInstant("2026-06-01T10:00:00+01:00"))
        }
        #expect(error?.kind == .conflict)
        #expect(error?.code == "no_window")
        #expect(error?.message.contains("2026-06-02 10:00") == true)
        #expect(error?.message.contains("remove a holiday") == true)
    }

    @Test("The earliest lead keeps a trough that is too soon out of reach; a shorter lead allows it")
    func earliestLeadRespected() throws {
        let london = zone("Europe/London")
        let now = try isoInstant("2026-06-06T12:00:00+01:00")
        // Sunday 03:00 is 15 hours away.
        let standard = try QuietWindowPlanner.recommend(duration: 7200, histogram: Self.pattern, timeZone: london, holidays: [], now: now)
        #expect(standard.startsAt == (try isoInstant("2026-06-10T03:00:00+01:00")))
        #expect(standard.startsAt >= now.addingTimeInterval(QuietWindowPlanner.defaultEarliestLead))
        let exactLead = try QuietWindowPlanner.recommend(
            duration: 7200, histogram: Self.pattern, timeZone: london, holidays: [], now: now, earliestLead: 15 * 3600)
        #expect(exactLead.startsAt == (try isoInstant("2026-06-07T03:00:00+01:00")))
        let justTooLate = try QuietWindowPlanner.recommend(
            duration: 7200, histogram: Self.pattern, timeZone: london, holidays: [], now: now, earliestLead: 15 * 3600 + 1)
        // Rounded up to 04:00: Sunday 04:00–06:00 (0 + 1) still beats Wednesday (1 + 1).
        #expect(justTooLate.startsAt == (try isoInstant("2026-06-07T04:00:00+01:00")))
    }

    @Test("The horizon bounds the start, inclusively; the window may run past it")
    func horizonBoundsTheStart() throws {
        let london = zone("Europe/London")
        let now = try isoInstant("2026-06-06T12:00:00+01:00")
        let reaches = try QuietWindowPlanner.recommend(
            duration: 7200, histogram: Self.pattern, timeZone: london, holidays: [], now: now, horizon: 15 * 3600, earliestLead: 0)
        #expect(reaches.startsAt == (try isoInstant("2026-06-07T03:00:00+01:00")))
        let short = try QuietWindowPlanner.recommend(
            duration: 7200, histogram: Self.pattern, timeZone: london, holidays: [], now: now, horizon: 15 * 3600 - 1, earliestLead: 0)
        // Saturday evening is all 6s; the best start an hour earlier still catches Sunday 02:00.
        #expect(short.startsAt == (try isoInstant("2026-06-07T02:00:00+01:00")))
    }

    @Test(
        "Durations outside 1 minute … 24 hours, or not whole minutes, are refused with the allowed range",
        arguments: [0, -3600, 30 * 86_400, 90.5, 86_400 + 60, 59, 61, .nan, .infinity] as [TimeInterval]
    )
    func invalidDurations(duration: TimeInterval) throws {
        let error = #expect(throws: CoreError.self) {
            try QuietWindowPlanner.recommend(
                duration: duration, histogram: Self.pattern, timeZone: zone("UTC"), holidays: [],
                now: isoInstant("2026-06-01T00:00:00Z"))
        }
        #expect(error?.kind == .invalidInput)
        #expect(error?.code == "invalid_duration")
        #expect(error?.message.contains("from 1m to 24h") == true)
    }

    @Test("The message names the duration as it was asked for")
    func durationInMessage() throws {
        let error = #expect(throws: CoreError.self) { try QuietWindowPlanner.validate(duration: 30 * 86_400) }
        #expect(error?.message.hasPrefix("a maintenance window of 30d cannot be planned") == true)
        let zero = #expect(throws: CoreError.self) { try QuietWindowPlanner.validate(duration: 0) }
        #expect(zero?.message.hasPrefix("a maintenance window of 0s") == true)
    }

    @Test("One minute and exactly 24 hours are both plannable", arguments: [60, 5400, 86_400] as [TimeInterval])
    func validDurations(duration: TimeInterval) throws {
        let recommendation = try QuietWindowPlanner.recommend(
            duration: duration, histogram: Self.pattern, timeZone: zone("UTC"), holidays: [], now: isoInstant("2026-06-01T00:00:00Z"))
        #expect(recommendation.endsAt.timeIntervalSince(recommendation.startsAt) == duration)
        let covered = recommendation.hourly.reduce(0) { $0 + $1.endsAt.timeIntervalSince($1.startsAt) }
        #expect(covered == duration)
    }

    @Test("A negative lead or a horizon before the lead is refused")
    func invalidHorizon() throws {
        let now = try isoInstant("2026-06-01T00:00:00Z")
        for (horizon, lead) in [(86_400.0, -1.0), (3600, 7200), (400 * 86_400, 0), (.infinity, 0)] as [(TimeInterval, TimeInterval)] {
            let error = #expect(throws: CoreError.self) {
                try QuietWindowPlanner.recommend(
                    duration: 3600, histogram: Self.pattern, timeZone: zone("UTC"), holidays: [], now: now, horizon: horizon,
                    earliestLead: lead)
            }
            #expect(error?.code == "invalid_planning_horizon")
        }
    }

    @Test("The recommendation encodes the contract's fields")
    func contractFields() throws {
        let recommendation = try QuietWindowPlanner.recommend(
            duration: 7200, histogram: Self.pattern, timeZone: zone("Europe/London"), holidays: [],
            now: isoInstant("2026-06-01T10:00:00+01:00"))
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let object = try JSONSerialization.jsonObject(with: encoder.encode(recommendation)) as? [String: Any]
        #expect(object?["startsAt"] as? String == "2026-06-07T02:00:00Z")
        #expect(object?["endsAt"] as? String == "2026-06-07T04:00:00Z")
        #expect(object?["expectedActiveSessions"] as? Int == 0)
    }
}
