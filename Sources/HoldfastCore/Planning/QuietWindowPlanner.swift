import Foundation

/// Finds the maintenance window of a requested length that is expected to disturb the fewest sessions.
///
/// Candidates start on whole local hours, because that is how operators announce maintenance ("Sunday
/// 03:00–05:00") and how the histogram is bucketed. Each candidate is a stretch of *real* time, `duration`
/// long, so a two-hour window across a clock change still lasts two hours; its cost is the expected number
/// of active sessions integrated over that time (session-hours), read from the histogram hour by local hour.
/// A window that touches the repeated autumn hour therefore pays for it twice, and one that spans the
/// skipped spring hour pays nothing for it, matching what will actually happen on that night.
public enum QuietWindowPlanner {
    /// The longest window the planner looks for; longer maintenance is planned by hand.
    public static let maximumDuration: TimeInterval = 86_400
    /// How far ahead candidates may start by default: one week, every hour of the week once.
    public static let defaultHorizon: TimeInterval = 7 * 86_400
    /// How soon the earliest candidate may start by default: 24 hours, the first notice users get.
    public static let defaultEarliestLead: TimeInterval = 86_400
    /// The furthest ahead the planner will look, which bounds the work one request can cause.
    public static let maximumHorizon: TimeInterval = 366 * 86_400

    /// The recommended window and what it is expected to affect.
    public struct Recommendation: Sendable, Codable, Hashable {
        public var startsAt: Date
        public var endsAt: Date
        /// The highest mean among the hours the window covers, rounded up: the number of sessions the
        /// announcement should expect to affect. The peak rather than the average, because users notice the
        /// busiest moment of an outage; rounded up, because a mean of 0.3 still means someone may be there.
        public var expectedActiveSessions: Int
        /// The cost that was minimised: expected active sessions integrated over the window, in session-hours.
        public var expectedSessionHours: Double
        /// The local hours the window covers, in order, each cut to the part the window covers.
        public var hourly: [CoveredHour]

        public init(startsAt: Date, endsAt: Date, expectedActiveSessions: Int, expectedSessionHours: Double, hourly: [CoveredHour]) {
            self.startsAt = startsAt
            self.endsAt = endsAt
            self.expectedActiveSessions = expectedActiveSessions
            self.expectedSessionHours = expectedSessionHours
            self.hourly = hourly
        }
    }

    /// One local hour (or the part of it) inside a recommended window.
    public struct CoveredHour: Sendable, Codable, Hashable {
        public var startsAt: Date
        public var endsAt: Date
        /// The histogram bucket: Monday 00:00 local = 0 … Sunday 23:00 = 167.
        public var hourOfWeek: Int
        /// The mean active sessions the planner assumed for this hour.
        public var expectedActiveSessions: Double
        /// Whether the hour was ever sampled; if not, the assumption is the mean of the known hours.
        public var isKnown: Bool

        public init(startsAt: Date, endsAt: Date, hourOfWeek: Int, expectedActiveSessions: Double, isKnown: Bool) {
            self.startsAt = startsAt
            self.endsAt = endsAt
            self.hourOfWeek = hourOfWeek
            self.expectedActiveSessions = expectedActiveSessions
            self.isKnown = isKnown
        }
    }

    /// The quietest window of `duration` that starts on a whole local hour between `now + earliestLead`
    /// (rounded up to the next whole hour) and `now + horizon` (inclusive) and touches no holiday.
    ///
    /// A window touches a holiday when any instant of `[startsAt, endsAt)` falls on that local date, so a
    /// window may end exactly at the midnight that starts one. Among windows of equal cost the earliest
    /// wins: an operator would rather be done sooner, and it keeps the answer stable from one request to
    /// the next. With no history every window costs nothing and the earliest is recommended.
    /// - Parameters:
    ///   - duration: Seconds; a whole number of minutes from one minute to 24 hours.
    ///   - timeZone: The tenant's zone, the one the histogram was built in.
    ///   - holidays: Local dates on which no maintenance may happen.
    /// - Throws: `CoreError` `invalid_duration`, `invalid_planning_horizon` for a negative lead or a horizon
    ///   before the lead, or `no_window` (a conflict) when every candidate touches a holiday.
    public static func recommend(
        duration: TimeInterval,
        histogram: UsageHistogram,
        timeZone: TimeZone,
        holidays: Set<LocalDate>,
        now: Date,
        horizon: TimeInterval = Self.defaultHorizon,
        earliestLead: TimeInterval = Self.defaultEarliestLead
    ) throws(CoreError) -> Recommendation {
        try self.validate(duration: duration)
        let clock = LocalClock(timeZone: timeZone)
        let range = try self.startRange(clock: clock, now: now, horizon: horizon, earliestLead: earliestLead)
        let length = Int(duration)
        let segments = self.segments(clock: clock, from: range.lowerBound, to: range.upperBound + length)
        let loads = histogram.planningLoads
        let holidayDays = Set(holidays.map(\.dayNumber))

        var best: (index: Int, cost: Double)?
        for (index, segment) in segments.enumerated() where segment.start <= range.upperBound && clock.isWholeHour(segment.start) {
            let window = segment.start..<segment.start + length
            guard let cost = self.cost(of: window, from: index, segments: segments, loads: loads, holidayDays: holidayDays) else {
                continue
            }
            // Equal costs summed in a different order can differ in the last bits; only a clearly lower
            // cost displaces an earlier window, so ties go to the earliest.
            if let current = best, cost >= current.cost - Self.tolerance(current.cost) { continue }
            best = (index, cost)
        }
        guard let best else {
            throw .conflict(
                "no_window",
                "every \(self.describe(duration: duration)) window starting between \(clock.describe(range.lowerBound)) and "
                    + "\(clock.describe(range.upperBound)) (\(timeZone.identifier)) touches a holiday; "
                    + "remove a holiday, ask for a shorter window or ask again later"
            )
        }

        let start = segments[best.index].start
        let hourly = self.covered(start..<start + length, from: best.index, segments: segments).map { segment, end in
            CoveredHour(
                startsAt: Date(timeIntervalSince1970: TimeInterval(segment.start)),
                endsAt: Date(timeIntervalSince1970: TimeInterval(end)),
                hourOfWeek: segment.hourOfWeek,
                expectedActiveSessions: loads[segment.hourOfWeek],
                isKnown: histogram.buckets[segment.hourOfWeek].count > 0
            )
        }
        let peak = hourly.map(\.expectedActiveSessions).max() ?? 0
        return Recommendation(
            startsAt: Date(timeIntervalSince1970: TimeInterval(start)),
            endsAt: Date(timeIntervalSince1970: TimeInterval(start + length)),
            // A mean that should be a whole number may come out a hair above it after division.
            expectedActiveSessions: Int((peak - Self.tolerance(peak)).rounded(.up)),
            expectedSessionHours: best.cost / 3600,
            hourly: hourly
        )
    }

    /// The instants a window may start at: every whole local hour from `now + earliestLead` up to and
    /// including `now + horizon`, in order. A repeated autumn hour appears twice (at two instants), a
    /// skipped spring hour not at all.
    /// - Throws: `CoreError` `invalid_planning_horizon` as ``recommend(duration:histogram:timeZone:holidays:now:horizon:earliestLead:)``.
    public static func candidateStarts(
        timeZone: TimeZone,
        now: Date,
        horizon: TimeInterval = Self.defaultHorizon,
        earliestLead: TimeInterval = Self.defaultEarliestLead
    ) throws(CoreError) -> [Date] {
        let clock = LocalClock(timeZone: timeZone)
        let range = try self.startRange(clock: clock, now: now, horizon: horizon, earliestLead: earliestLead)
        return self.segments(clock: clock, from: range.lowerBound, to: range.upperBound + 1)
            .map(\.start)
            .filter { $0 <= range.upperBound && clock.isWholeHour($0) }
            .map { Date(timeIntervalSince1970: TimeInterval($0)) }
    }

    /// Checks a requested window length: a whole number of minutes from one minute to 24 hours.
    /// - Throws: `CoreError` `invalid_duration`, saying the allowed range.
    public static func validate(duration: TimeInterval) throws(CoreError) {
        guard duration.isFinite, duration >= 60, duration <= Self.maximumDuration, duration.truncatingRemainder(dividingBy: 60) == 0
        else {
            throw .invalidInput(
                "invalid_duration",
                "a maintenance window of \(self.describe(duration: duration)) cannot be planned; ask for a whole number of "
                    + "minutes from 1m to 24h, for example 30m, 2h or 1h30m"
            )
        }
    }

    // MARK: - Walking the local hours

    /// A stretch of real time within one local hour of one local date: between two consecutive boundaries.
    private struct Segment {
        var start: Int
        var end: Int
        var hourOfWeek: Int
        var day: Int
    }

    /// The instants (whole seconds) at which candidates may start: from the first whole local hour at or
    /// after `now + earliestLead` to `now + horizon`, both included.
    /// - Throws: `invalid_planning_horizon` for bounds that make no sense, `no_window` when no whole hour
    ///   falls between them.
    private static func startRange(
        clock: LocalClock, now: Date, horizon: TimeInterval, earliestLead: TimeInterval
    ) throws(CoreError)
        -> ClosedRange<Int>
    {
        let base = now.timeIntervalSince1970
        guard base.isFinite, abs(base) < 1e12, earliestLead.isFinite, earliestLead >= 0, horizon.isFinite, horizon >= earliestLead,
            horizon <= Self.maximumHorizon
        else {
            throw .invalidInput(
                "invalid_planning_horizon",
                "cannot plan from a lead of \(earliestLead) s to a horizon of \(horizon) s; give a lead of zero or more "
                    + "and a horizon from the lead up to 366 days"
            )
        }
        let first = clock.wholeHour(atOrAfter: Int((base + earliestLead).rounded(.up)))
        let last = Int((base + horizon).rounded(.down))
        guard first <= last else {
            throw .conflict(
                "no_window",
                "no whole hour lies between \(clock.describe(Int((base + earliestLead).rounded(.up)))) and \(clock.describe(last)) "
                    + "(\(clock.timeZone.identifier)); look further ahead"
            )
        }
        return first...last
    }

    /// The local-hour segments that tile `[start, end)` (the last one may run past `end`).
    private static func segments(clock: LocalClock, from start: Int, to end: Int) -> [Segment] {
        var segments: [Segment] = []
        var cursor = start
        while cursor < end {
            let next = clock.nextBoundary(after: cursor)
            let wall = clock.wallTime(at: cursor)
            segments.append(
                Segment(start: cursor, end: next, hourOfWeek: LocalClock.hourOfWeek(wallTime: wall), day: LocalClock.day(wallTime: wall))
            )
            cursor = next
        }
        return segments
    }

    /// The segments a window starting at segment `index` covers, each with where the window's part of it ends.
    private static func covered(_ window: Range<Int>, from index: Int, segments: [Segment]) -> [(Segment, end: Int)] {
        segments[index...].prefix { $0.start < window.upperBound }.map { ($0, min($0.end, window.upperBound)) }
    }

    /// The expected session-seconds inside `window`, or `nil` when it touches a holiday.
    private static func cost(
        of window: Range<Int>, from index: Int, segments: [Segment], loads: [Double], holidayDays: Set<Int>
    )
        -> Double?
    {
        var total = 0.0
        var position = index
        while position < segments.count, segments[position].start < window.upperBound {
            let segment = segments[position]
            guard !holidayDays.contains(segment.day) else { return nil }
            total += loads[segment.hourOfWeek] * Double(min(segment.end, window.upperBound) - segment.start)
            position += 1
        }
        return total
    }

    /// How far apart two costs may be and still count as equal.
    static func tolerance(_ value: Double) -> Double {
        1e-9 * max(1, abs(value))
    }

    /// A duration in the `1h30m` notation where it is one, for messages.
    private static func describe(duration: TimeInterval) -> String {
        guard duration.isFinite, duration >= 0, duration < 1e15, duration.rounded() == duration else { return "\(duration) seconds" }
        return DurationText.format(seconds: Int(duration))
    }
}
