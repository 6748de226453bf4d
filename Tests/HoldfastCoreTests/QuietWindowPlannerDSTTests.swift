import Foundation
import HoldfastCore
import Testing

@Suite("Quiet-window planner across clock changes")
struct QuietWindowPlannerDSTTests {
    @Test(
        "Spring forward: a 2 h window across the skipped hour lasts 2 h of real time and pays for the hours it really spans",
        arguments: [
            // Zone, the local hour that does not exist that night, now, expected start and end.
            ("Europe/London", 1, "2026-03-27T12:00:00Z", "2026-03-29T00:00:00Z", "2026-03-29T03:00:00+01:00"),
            ("America/New_York", 2, "2026-03-06T12:00:00-05:00", "2026-03-08T01:00:00-05:00", "2026-03-08T04:00:00-04:00"),
        ]
    )
    func springForward(zoneName: String, skipped: Int, now: String, expectedStart: String, expectedEnd: String) throws {
        // The skipped hour looks free on the histogram, its neighbours cost 4 and the rest 9. Reading the
        // wall clock naively, `skipped-1 … skipped+1` would cost 4; in real time the window starting an hour
        // before the gap covers the hours on both sides of it and costs 8, and still beats everything else.
        let usage = try histogram(
            base: 9,
            [hourOfWeek(.sun, skipped - 1): 4, hourOfWeek(.sun, skipped): 0, hourOfWeek(.sun, skipped + 1): 4]
        )
        let recommendation = try QuietWindowPlanner.recommend(
            duration: 7200, histogram: usage, timeZone: zone(zoneName), holidays: [], now: isoInstant(now))
        #expect(recommendation.startsAt == (try isoInstant(expectedStart)))
        #expect(recommendation.endsAt == (try isoInstant(expectedEnd)))
        #expect(recommendation.endsAt.timeIntervalSince(recommendation.startsAt) == 7200)
        #expect(recommendation.hourly.map(\.hourOfWeek) == [hourOfWeek(.sun, skipped - 1), hourOfWeek(.sun, skipped + 1)])
        #expect(recommendation.hourly.map { $0.endsAt.timeIntervalSince($0.startsAt) } == [3600, 3600])
        #expect(recommendation.expectedSessionHours == 8)
        #expect(recommendation.expectedActiveSessions == 4)
    }

    @Test(
        "Fall back: the second 01:00 is a candidate of its own, an hour after the first",
        arguments: [
            ("Europe/London", "2026-10-23T12:00:00+01:00", "2026-10-25T01:00:00Z"),
            ("America/New_York", "2026-10-30T12:00:00-04:00", "2026-11-01T01:00:00-05:00"),
        ]
    )
    func fallBackSecondOccurrence(zoneName: String, now: String, expectedStart: String) throws {
        // Starting at the first 01:00 covers 01:00 twice (cost 4); only the second 01:00 reaches the free 02:00.
        let usage = try histogram(base: 9, [hourOfWeek(.sun, 1): 2, hourOfWeek(.sun, 2): 0])
        let recommendation = try QuietWindowPlanner.recommend(
            duration: 7200, histogram: usage, timeZone: zone(zoneName), holidays: [], now: isoInstant(now))
        #expect(recommendation.startsAt == (try isoInstant(expectedStart)))
        #expect(recommendation.endsAt == recommendation.startsAt.addingTimeInterval(7200))
        #expect(recommendation.hourly.map(\.hourOfWeek) == [hourOfWeek(.sun, 1), hourOfWeek(.sun, 2)])
        #expect(recommendation.expectedSessionHours == 2)
    }

    @Test(
        "Fall back: a 2 h window from the first 01:00 covers the repeated hour twice and ends at 01:00 again",
        arguments: [
            ("Europe/London", "2026-10-23T12:00:00+01:00", "2026-10-25T01:00:00+01:00", "2026-10-25T01:00:00Z"),
            ("America/New_York", "2026-10-30T12:00:00-04:00", "2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"),
        ]
    )
    func fallBackRepeatedHour(zoneName: String, now: String, expectedStart: String, secondOccurrence: String) throws {
        let usage = try histogram(base: 5, [hourOfWeek(.sun, 1): 0])
        let recommendation = try QuietWindowPlanner.recommend(
            duration: 7200, histogram: usage, timeZone: zone(zoneName), holidays: [], now: isoInstant(now))
        #expect(recommendation.startsAt == (try isoInstant(expectedStart)))
        #expect(recommendation.endsAt == recommendation.startsAt.addingTimeInterval(7200))
        #expect(recommendation.hourly.map(\.hourOfWeek) == [hourOfWeek(.sun, 1), hourOfWeek(.sun, 1)])
        #expect(recommendation.hourly.map(\.startsAt) == [try isoInstant(expectedStart), try isoInstant(secondOccurrence)])
        #expect(recommendation.expectedActiveSessions == 0)
    }

    @Test(
        "Candidate starts on a change day: every local whole hour that happens, once per occurrence",
        arguments: [
            ("Europe/London", "2026-03-29", [0] + Array(2...23)),
            ("Europe/London", "2026-10-25", [0, 1] + Array(1...23)),
            ("America/New_York", "2026-03-08", [0, 1] + Array(3...23)),
            ("America/New_York", "2026-11-01", [0, 1] + Array(1...23)),
            // Lord Howe moves by half an hour: 02:00 → 02:30 skips 02:00; 02:00 → 01:30 repeats no whole hour.
            ("Australia/Lord_Howe", "2026-10-04", [0, 1] + Array(3...23)),
            ("Australia/Lord_Howe", "2026-04-05", Array(0...23)),
            ("Asia/Kolkata", "2026-03-29", Array(0...23)),
            // Caracas moved from 02:30 (-04:30) to 03:00 (-04:00) in 2016: a change in the middle of an hour,
            // after which 03:00 comes only 30 minutes after 02:00.
            ("America/Caracas", "2016-05-01", Array(0...23)),
        ]
    )
    func candidatesOnAChangeDay(zoneName: String, date: String, hours: [Int]) throws {
        let timeZone = zone(zoneName)
        let wall = WallClock(timeZone)
        let day = try LocalDate(date)
        // From well before the day to well after it, with no lead.
        let starts = try QuietWindowPlanner.candidateStarts(
            timeZone: timeZone, now: isoInstant("\(day.adding(days: -2))T00:00:00Z"), horizon: 4 * 86_400, earliestLead: 0)
        #expect(zip(starts, starts.dropFirst()).allSatisfy { $0 < $1 })
        #expect(starts.allSatisfy { wall.isWholeHour($0) })
        #expect(starts.filter { wall.localDate($0) == day }.map { wall.hour($0) } == hours)
        // Nothing in between was missed: between consecutive candidates no other whole hour occurs.
        for (earlier, later) in zip(starts, starts.dropFirst()) {
            let between = stride(from: earlier.addingTimeInterval(60), to: later, by: 60).filter { wall.isWholeHour($0) }
            #expect(between.isEmpty)
        }
    }
}
