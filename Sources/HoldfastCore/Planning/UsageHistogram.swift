import Foundation

/// The recorded usage of one hour of the week: the total of the sampled session counts and how many samples
/// there were, so means can be combined exactly across weeks and across stored rows.
///
/// This is also the row shape the app may pre-aggregate into (`hourOfWeek, sum, count`), so a long history
/// needs 168 rows rather than one row a minute.
public struct UsageBucket: Sendable, Codable, Hashable {
    /// Monday 00:00 local = 0, Monday 01:00 = 1, … Sunday 23:00 = 167.
    public var hourOfWeek: Int
    /// The sum of `activeSessions` over the samples.
    public var sum: Int
    /// How many samples (minutes) were recorded in this hour, over all weeks.
    public var count: Int

    public init(hourOfWeek: Int, sum: Int, count: Int) {
        self.hourOfWeek = hourOfWeek
        self.sum = sum
        self.count = count
    }

    /// The mean number of active sessions, or `nil` when the hour was never sampled ("unknown").
    public var mean: Double? {
        self.count > 0 ? Double(self.sum) / Double(self.count) : nil
    }
}

/// Mean session concurrency for each of the 168 hours of the week, in the tenant's local time.
///
/// Buckets follow the wall clock of the tenant's zone, so "Sunday 03:00" is the same bucket in summer and in
/// winter: the repeated hour of an autumn night adds its samples to one bucket, and the skipped hour of a
/// spring night simply gets none that week. The histogram does not store its zone; build it and plan with
/// it in the same one (and rebuild pre-aggregated rows when a tenant changes zone).
///
/// A bucket that was never sampled is *unknown* rather than zero: a service that has only run for three
/// days knows nothing about Sunday nights, and treating them as empty would recommend exactly the hours we
/// know least about. For planning an unknown bucket counts as the mean of the known buckets (see
/// ``planningLoads``), and as 0 when nothing at all has been recorded.
public struct UsageHistogram: Sendable, Hashable {
    /// The number of buckets: 7 days × 24 hours.
    public static let hoursPerWeek = 168

    /// All 168 buckets, indexed by hour of the week.
    public private(set) var buckets: [UsageBucket]

    /// An empty histogram: every bucket unknown.
    public init() {
        self.buckets = (0..<Self.hoursPerWeek).map { UsageBucket(hourOfWeek: $0, sum: 0, count: 0) }
    }

    /// A histogram of per-minute samples read on the wall clock of `timeZone`.
    public init(samples: some Sequence<ConcurrencySample>, timeZone: TimeZone) {
        self.init()
        for sample in samples {
            self.record(sample, in: timeZone)
        }
    }

    /// A histogram from pre-aggregated rows, for example `SELECT hour_of_week, sum(n), count(*) … GROUP BY 1`.
    ///
    /// Rows for the same hour add up, so per-week or per-day aggregates can be passed as they are.
    /// - Throws: `CoreError` `invalid_usage_aggregate` for an hour outside 0…167, a negative sum or count,
    ///   a sum without samples, or totals too large to add.
    public init(aggregates: some Sequence<UsageBucket>) throws(CoreError) {
        self.init()
        for row in aggregates {
            guard (0..<Self.hoursPerWeek).contains(row.hourOfWeek), row.count >= 0, row.sum >= 0, row.count > 0 || row.sum == 0
            else {
                throw .invalidInput(
                    "invalid_usage_aggregate",
                    "usage row (hourOfWeek \(row.hourOfWeek), sum \(row.sum), count \(row.count)) is not valid; hourOfWeek runs "
                        + "from 0 (Monday 00:00) to 167 (Sunday 23:00), sum and count are not negative and a sum needs samples; "
                        + "rebuild the aggregates from the recorded samples"
                )
            }
            try self.add(sum: row.sum, count: row.count, to: row.hourOfWeek)
        }
    }

    /// The hour of the week (Monday 00:00 = 0 … Sunday 23:00 = 167) on the wall clock of `timeZone` at
    /// `instant`: the key under which the app stores or aggregates a sample.
    public static func hourOfWeek(of instant: Date, in timeZone: TimeZone) -> Int {
        LocalClock(timeZone: timeZone).hourOfWeek(at: Int(instant.timeIntervalSince1970.rounded(.down)))
    }

    /// Adds one sample, read on the wall clock of `timeZone`.
    ///
    /// A negative count (which the server never records) counts as zero rather than failing every later
    /// recommendation because of one bad row.
    public mutating func record(_ sample: ConcurrencySample, in timeZone: TimeZone) {
        let hour = Self.hourOfWeek(of: sample.at, in: timeZone)
        self.buckets[hour].sum += max(0, sample.activeSessions)
        self.buckets[hour].count += 1
    }

    /// Adds another histogram's samples to this one, as when new minutes are folded into stored aggregates.
    /// - Throws: `CoreError` `invalid_usage_aggregate` if the totals are too large to add.
    public mutating func merge(_ other: UsageHistogram) throws(CoreError) {
        for bucket in other.buckets {
            try self.add(sum: bucket.sum, count: bucket.count, to: bucket.hourOfWeek)
        }
    }

    /// The buckets that hold samples, in hour-of-week order: the compact form to store.
    public var aggregates: [UsageBucket] {
        self.buckets.filter { $0.count > 0 }
    }

    /// How many samples the histogram holds in all.
    public var sampleCount: Int {
        self.buckets.reduce(0) { $0 + $1.count }
    }

    /// The mean of the known buckets' means, or `nil` when nothing has been recorded.
    ///
    /// Each known hour weighs the same whatever its sample count, so an hour sampled for four weeks does not
    /// outweigh one sampled for a single week in what an unknown hour is assumed to look like.
    public var meanOfKnownBuckets: Double? {
        let means = self.buckets.compactMap(\.mean)
        return means.isEmpty ? nil : means.reduce(0, +) / Double(means.count)
    }

    /// The expected active sessions for each hour of the week as the planner uses them: the bucket mean,
    /// or for an unknown bucket the mean of the known buckets (0 when nothing has been recorded).
    public var planningLoads: [Double] {
        let fill = self.meanOfKnownBuckets ?? 0
        return self.buckets.map { $0.mean ?? fill }
    }

    private mutating func add(sum: Int, count: Int, to hour: Int) throws(CoreError) {
        let (newSum, sumOverflow) = self.buckets[hour].sum.addingReportingOverflow(sum)
        let (newCount, countOverflow) = self.buckets[hour].count.addingReportingOverflow(count)
        guard !sumOverflow, !countOverflow else {
            throw .invalidInput(
                "invalid_usage_aggregate",
                "usage totals for hour-of-week \(hour) are too large to add; rebuild the aggregates from the recorded samples"
            )
        }
        self.buckets[hour].sum = newSum
        self.buckets[hour].count = newCount
    }
}

extension UsageHistogram: Codable {
    private enum CodingKeys: String, CodingKey {
        case buckets
    }

    /// Decodes `{"buckets":[{"hourOfWeek","sum","count"}…]}`, validated as ``init(aggregates:)`` does, so a
    /// stored histogram can never index outside the week.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(aggregates: container.decode([UsageBucket].self, forKey: .buckets))
    }

    /// Encodes only the sampled buckets, the compact form of ``aggregates``.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.aggregates, forKey: .buckets)
    }
}
