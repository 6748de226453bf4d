import Foundation
import HoldfastCore
import HoldfastTestSupport
import Testing

@Suite("Usage histogram: hour-of-week buckets on the tenant's wall clock")
struct UsageHistogramTests {
    @Test(
        "A sample lands in the bucket of its local weekday and hour",
        arguments: [
            ("Europe/London", "2026-06-01T00:00:00+01:00", 0),
            ("Europe/London", "2026-06-01T09:30:00+01:00", 9),
            ("Europe/London", "2026-06-07T23:59:59+01:00", 167),
            // 03:00 UTC on a Monday is still Sunday evening in New York.
            ("America/New_York", "2026-06-01T03:00:00Z", 167),
            ("Asia/Kolkata", "2026-06-03T03:29:00Z", 56),
            ("Asia/Kolkata", "2026-06-03T03:30:00Z", 57),
        ]
    )
    func bucketOfASample(zoneName: String, instant: String, expected: Int) throws {
        #expect(UsageHistogram.hourOfWeek(of: try isoInstant(instant), in: zone(zoneName)) == expected)
    }

    @Test("A bucket is the mean over the minutes sampled in that hour across weeks, and keeps its sample count")
    func meanAcrossWeeks() throws {
        let london = zone("Europe/London")
        let samples = [
            ConcurrencySample(at: try isoInstant("2026-06-01T09:00:00+01:00"), activeSessions: 4),
            ConcurrencySample(at: try isoInstant("2026-06-01T09:59:00+01:00"), activeSessions: 6),
            ConcurrencySample(at: try isoInstant("2026-06-08T09:10:00+01:00"), activeSessions: 11),
            ConcurrencySample(at: try isoInstant("2026-06-08T10:00:00+01:00"), activeSessions: 100),
        ]
        let histogram = UsageHistogram(samples: samples, timeZone: london)
        #expect(histogram.buckets[hourOfWeek(.mon, 9)] == UsageBucket(hourOfWeek: 9, sum: 21, count: 3))
        #expect(histogram.buckets[hourOfWeek(.mon, 9)].mean == 7)
        #expect(histogram.buckets[hourOfWeek(.mon, 10)].mean == 100)
        #expect(histogram.buckets[hourOfWeek(.mon, 11)].mean == nil)
        #expect(histogram.sampleCount == 4)
    }

    @Test("The repeated autumn hour goes to one bucket; the skipped spring hour gets no samples that day")
    func dstNights() throws {
        let london = zone("Europe/London")
        // Every minute from 23:00 UTC on Saturday to 04:00 UTC on Sunday, around each change.
        func night(_ saturday: String) throws -> [ConcurrencySample] {
            let start = try isoInstant("\(saturday)T23:00:00Z")
            return (0..<300).map { ConcurrencySample(at: start.addingTimeInterval(Double($0) * 60), activeSessions: 1) }
        }
        let autumn = UsageHistogram(samples: try night("2026-10-24"), timeZone: london)
        // 23:00Z is 00:00 BST; 01:00 happens twice (00:00Z BST, 01:00Z GMT); 02:00 and 03:00 GMT follow.
        #expect(autumn.buckets[hourOfWeek(.sun, 0)].count == 60)
        #expect(autumn.buckets[hourOfWeek(.sun, 1)].count == 120)
        #expect(autumn.buckets[hourOfWeek(.sun, 2)].count == 60)
        #expect(autumn.buckets[hourOfWeek(.sun, 3)].count == 60)
        #expect(autumn.sampleCount == 300)

        let spring = UsageHistogram(samples: try night("2026-03-28"), timeZone: london)
        // 23:00Z is Saturday 23:00 GMT; at 01:00Z the clock jumps from 01:00 to 02:00 BST.
        #expect(spring.buckets[hourOfWeek(.sat, 23)].count == 60)
        #expect(spring.buckets[hourOfWeek(.sun, 0)].count == 60)
        #expect(spring.buckets[hourOfWeek(.sun, 1)].count == 0)
        #expect(spring.buckets[hourOfWeek(.sun, 2)].count == 60)
        #expect(spring.buckets[hourOfWeek(.sun, 4)].count == 60)
    }

    @Test("An unknown bucket is planned as the mean of the known buckets, or 0 when nothing was recorded")
    func unknownBuckets() throws {
        let sparse = try UsageHistogram(aggregates: [
            UsageBucket(hourOfWeek: 10, sum: 20, count: 10),
            // Sampled three times as often, but it weighs the same in the fill value.
            UsageBucket(hourOfWeek: 11, sum: 120, count: 30),
        ])
        #expect(sparse.meanOfKnownBuckets == 3)
        let loads = sparse.planningLoads
        #expect(loads.count == 168)
        #expect(loads[10] == 2 && loads[11] == 4)
        #expect(loads.enumerated().allSatisfy { $0.offset == 10 || $0.offset == 11 || $0.element == 3 })

        let empty = UsageHistogram()
        #expect(empty.meanOfKnownBuckets == nil)
        #expect(empty.planningLoads == Array(repeating: 0, count: 168))
    }

    @Test("Pre-aggregated rows give the same histogram as the samples; rows for one hour add up")
    func aggregatesMatchSamples() throws {
        let newYork = zone("America/New_York")
        let start = try isoInstant("2026-05-04T00:00:00-04:00")
        var generator = SeededGenerator(seed: 7)
        let samples = (0..<3 * 7 * 24 * 12).map { index in
            ConcurrencySample(at: start.addingTimeInterval(Double(index) * 300), activeSessions: Int.random(in: 0...30, using: &generator))
        }
        let fromSamples = UsageHistogram(samples: samples, timeZone: newYork)

        // What `GROUP BY week, hour_of_week` would return: several rows per hour.
        var rows: [UsageBucket] = []
        for week in 0..<3 {
            let weekHistogram = UsageHistogram(samples: samples[week * 2016..<(week + 1) * 2016], timeZone: newYork)
            rows += weekHistogram.aggregates
        }
        #expect(rows.count == 3 * 168)
        #expect(try UsageHistogram(aggregates: rows) == fromSamples)
        #expect(try UsageHistogram(aggregates: fromSamples.aggregates) == fromSamples)

        // Incremental: record sample by sample, or merge per-week histograms.
        var incremental = UsageHistogram()
        for sample in samples { incremental.record(sample, in: newYork) }
        #expect(incremental == fromSamples)
        var merged = UsageHistogram()
        for week in 0..<3 {
            try merged.merge(UsageHistogram(samples: samples[week * 2016..<(week + 1) * 2016], timeZone: newYork))
        }
        #expect(merged == fromSamples)
    }

    @Test("The JSON form holds only the sampled buckets and decodes to the same histogram")
    func codableRoundTrip() throws {
        let original = try UsageHistogram(aggregates: [
            UsageBucket(hourOfWeek: 0, sum: 3, count: 2), UsageBucket(hourOfWeek: 167, sum: 0, count: 5),
        ])
        let json = try JSONEncoder().encode(original)
        let object = try JSONSerialization.jsonObject(with: json) as? [String: [[String: Int]]]
        #expect(object?["buckets"]?.count == 2)
        #expect(try JSONDecoder().decode(UsageHistogram.self, from: json) == original)
        let bad = Data(#"{"buckets":[{"hourOfWeek":168,"sum":1,"count":1}]}"#.utf8)
        #expect(throws: CoreError.self) { try JSONDecoder().decode(UsageHistogram.self, from: bad) }
    }

    @Test(
        "Malformed aggregate rows are rejected with a message that says how to fix them",
        arguments: [
            UsageBucket(hourOfWeek: 168, sum: 1, count: 1),
            UsageBucket(hourOfWeek: -1, sum: 1, count: 1),
            UsageBucket(hourOfWeek: 3, sum: -1, count: 1),
            UsageBucket(hourOfWeek: 3, sum: 0, count: -1),
            UsageBucket(hourOfWeek: 3, sum: 5, count: 0),
        ]
    )
    func malformedAggregates(row: UsageBucket) throws {
        let error = #expect(throws: CoreError.self) { try UsageHistogram(aggregates: [row]) }
        #expect(error?.code == "invalid_usage_aggregate")
        #expect(error?.kind == .invalidInput)
        #expect(error?.message.contains("rebuild the aggregates") == true)
    }

    @Test("Totals that would overflow are rejected rather than wrapping around")
    func overflowingAggregates() throws {
        let rows = [UsageBucket(hourOfWeek: 1, sum: Int.max, count: 1), UsageBucket(hourOfWeek: 1, sum: 1, count: 1)]
        let error = #expect(throws: CoreError.self) { try UsageHistogram(aggregates: rows) }
        #expect(error?.code == "invalid_usage_aggregate")
    }

    @Test("A negative sample counts as zero sessions but still as a sample")
    func negativeSample() throws {
        let sample = ConcurrencySample(at: try isoInstant("2026-06-01T09:00:00Z"), activeSessions: -4)
        let histogram = UsageHistogram(samples: [sample], timeZone: zone("UTC"))
        #expect(histogram.buckets[9] == UsageBucket(hourOfWeek: 9, sum: 0, count: 1))
    }
}
