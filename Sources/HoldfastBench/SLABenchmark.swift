// `HoldfastBench sla`: how many first-response due dates the SLA engine computes per second, on the
// calendar of `BenchFixtures` (Mon–Fri 09:00–12:30 and 13:30–17:30 Europe/London, ~10 holidays a
// year), beside a naive reference that steps minute by minute with `Calendar`, in the same run.
//
//     HoldfastBench sla [--iterations 200000] [--runs 7] [--reference 500] [--seed 7] [--output FILE]
//
// Inputs: start instants on whole minutes spread over 2026 (so they fall on weekends, holidays,
// nights and both DST changes as often as the year has them), targets of 4 h, 8 h and 2 business
// days, and for a quarter of them one or two pauses (waiting on the customer) after the start —
// the calls `NewTicket.validated` and `TicketStateMachine` make. Each run times `--iterations`
// computations with `BusinessCalendar.addingBusinessTime(minutes:to:pauses:)` and `--reference`
// of them with the minute stepper; the reference's answers are checked against the engine's.
//
// Also timed: the business time left of an overdue ticket (`calendar.businessTime(between:and:)`,
// as `TicketQueue.timeLeft` computes it for every row of the agent console), by how long overdue.

import Foundation
import HoldfastCore

struct SLABenchmarkOptions {
    var iterations = 200_000
    var runs = 7
    var reference = 500
    var seed: UInt64 = 7
    var output: String?

    static func parse(_ arguments: ArraySlice<String>) -> SLABenchmarkOptions {
        var options = SLABenchmarkOptions()
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { Self.usage("\(flag) needs a value") }
            if flag == "--output" {
                options.output = value
                continue
            }
            guard let number = Int(value), number > 0 else { Self.usage("\(flag) takes a positive whole number") }
            switch flag {
            case "--iterations": options.iterations = number
            case "--runs": options.runs = number
            case "--reference": options.reference = number
            case "--seed": options.seed = UInt64(number)
            default: Self.usage("unknown option \(flag)")
            }
        }
        return options
    }

    static func usage(_ message: String) -> Never {
        FileHandle.standardError.write(
            Data(
                ("HoldfastBench sla: \(message)\nusage: HoldfastBench sla [--iterations N] [--runs N] [--reference N] "
                    + "[--seed N] [--output FILE]\n").utf8))
        exit(2)
    }
}

/// One due-date computation: what a ticket's filing or the end of a pause asks the engine.
struct DueDateCase {
    var start: Date
    var minutes: Int
    var pauses: [Range<Date>]
}

struct SLAReport: Codable {
    var benchmark = "sla_due_dates"
    var calendar = "Mon-Fri 09:00-12:30, 13:30-17:30 Europe/London, 10 holidays in 2026"
    var loadavgAtStart: String
    var loadavgAtEnd: String
    var iterationsPerRun: Int
    var referencePerRun: Int
    var runs: Int
    var enginePerSecond: [Double]
    var referencePerSecond: [Double]
    var engineMedianPerSecond: Double
    var referenceMedianPerSecond: Double
    /// Engine over reference: the median of the runs' ratios (both timed in the same run, so the noise of the
    /// moment cancels out).
    var speedup: Double
    var engineMedianMicroseconds: Double
    /// Reference answers that differ from the engine's (should be 0).
    var mismatches: Int
    var startsWhileClosed: Int
    var startsOnHolidays: Int
    var spanningDSTChange: Int
    var withPauses: Int
    /// Microseconds for the business time left of one ticket overdue by N days (the console's per-row cost).
    var timeLeftMicrosecondsByDaysOverdue: [String: Double]
}

func runSLABenchmark(_ options: SLABenchmarkOptions) throws {
    let loadAtStart = loadAverage()
    let calendar = try BenchFixtures.calendar()
    let reference = MinuteSteppingCalendar(calendar)
    var random = SeededGenerator(seed: options.seed)
    let cases = try dueDateCases(options.iterations, calendar: calendar, random: &random)
    let referenceCases = Array(cases.prefix(options.reference))

    // The answers must agree before the speeds mean anything.
    var mismatches = 0
    for item in referenceCases {
        let engine = try calendar.addingBusinessTime(minutes: item.minutes, to: item.start, pauses: item.pauses)
        let naive = try reference.addingBusinessTime(minutes: item.minutes, to: item.start, pauses: item.pauses)
        if engine != naive {
            mismatches += 1
            if mismatches <= 3 {
                print(
                    "  mismatch: \(item.minutes) min from \(item.start) with \(item.pauses.count) pauses: engine \(engine), reference \(naive)"
                )
            }
        }
    }

    var engineRates: [Double] = []
    var referenceRates: [Double] = []
    var checksum = 0.0
    for run in 1...options.runs {
        let engineSeconds = try timed {
            for item in cases {
                checksum += try calendar.addingBusinessTime(minutes: item.minutes, to: item.start, pauses: item.pauses)
                    .timeIntervalSince1970
            }
        }
        let referenceSeconds = try timed {
            for item in referenceCases {
                checksum += try reference.addingBusinessTime(minutes: item.minutes, to: item.start, pauses: item.pauses)
                    .timeIntervalSince1970
            }
        }
        engineRates.append((Double(cases.count) / engineSeconds).rounded())
        referenceRates.append((Double(referenceCases.count) / referenceSeconds * 10).rounded() / 10)
        print("  run \(run): engine \(Int(engineRates.last!))/s, minute stepper \(referenceRates.last!)/s")
    }

    // The console's per-row cost: business time from a long-gone due date to now.
    var timeLeft: [String: Double] = [:]
    let now = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18, a Wednesday
    for days in [1, 7, 30, 90, 180, 365] {
        let due = now.addingTimeInterval(-Double(days) * 86_400)
        let repeats = max(20, 20_000 / days)
        let seconds = try timed {
            for _ in 0..<repeats { checksum += try calendar.businessTime(between: due, and: now) }
        }
        timeLeft["\(days)"] = (seconds / Double(repeats) * 1e6 * 100).rounded() / 100
    }

    let zone = calendar.timeZone
    let engineMedian = median(engineRates)
    let referenceMedian = median(referenceRates)
    let report = SLAReport(
        loadavgAtStart: loadAtStart, loadavgAtEnd: loadAverage(), iterationsPerRun: cases.count,
        referencePerRun: referenceCases.count, runs: options.runs, enginePerSecond: engineRates,
        referencePerSecond: referenceRates, engineMedianPerSecond: engineMedian, referenceMedianPerSecond: referenceMedian,
        speedup: median(zip(engineRates, referenceRates).map { $0 / $1 }).rounded(),
        engineMedianMicroseconds: (1e6 / engineMedian * 100).rounded() / 100,
        mismatches: mismatches,
        startsWhileClosed: cases.filter { !calendar.isOpen(at: $0.start) }.count,
        startsOnHolidays: cases.filter { calendar.holidays.contains(localDate(of: $0.start, in: zone)) }.count,
        spanningDSTChange: try cases.filter { item in
            let due = try calendar.addingBusinessTime(minutes: item.minutes, to: item.start, pauses: item.pauses)
            return zone.secondsFromGMT(for: item.start) != zone.secondsFromGMT(for: due)
        }.count,
        withPauses: cases.filter { !$0.pauses.isEmpty }.count,
        timeLeftMicrosecondsByDaysOverdue: timeLeft)

    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    if let output = options.output {
        try encoder.encode(report).write(to: URL(fileURLWithPath: output))
    }
    let overdue = [1, 30, 365].map { "\($0) d \(timeLeft["\($0)"]!) µs" }.joined(separator: ", ")
    print(
        """
        SLA due dates: engine \(Int(engineMedian))/s (median of \(options.runs), \(report.engineMedianMicroseconds) µs each), \
        minute stepper \(String(format: "%.1f", referenceMedian))/s: ×\(Int(report.speedup)); \(mismatches) mismatches in \(referenceCases.count)
          inputs: \(report.startsWhileClosed) of \(cases.count) start while closed, \(report.startsOnHolidays) on holidays, \
        \(report.spanningDSTChange) span a DST change, \(report.withPauses) with pauses
          business time left of an overdue ticket (per console row): \(overdue)  [checksum \(Int(checksum) % 997)]
        """)
}

/// Due-date questions over 2026: starts on whole minutes, 4 h / 8 h / 2-day targets, a quarter with pauses.
func dueDateCases(_ count: Int, calendar: BusinessCalendar, random: inout SeededGenerator) throws -> [DueDateCase] {
    let yearStart = 1_767_225_600.0  // 2026-01-01T00:00:00Z (London is on GMT then)
    let minutesInYear = 365 * 1440
    return (0..<count).map { _ in
        let start = Date(timeIntervalSince1970: yearStart + Double(Int.random(in: 0..<minutesInYear, using: &random) * 60))
        var pauses: [Range<Date>] = []
        if random.chance(0.25) {
            var from = start
            for _ in 0..<Int.random(in: 1...2, using: &random) {
                let begins = from.addingTimeInterval(Double(Int.random(in: 10...2 * 1440, using: &random) * 60))
                let ends = begins.addingTimeInterval(Double(Int.random(in: 10...3 * 1440, using: &random) * 60))
                pauses.append(begins..<ends)
                from = ends
            }
        }
        let minutes = BenchFixtures.targetMinutes[Int.random(in: 0..<BenchFixtures.targetMinutes.count, using: &random)]
        return DueDateCase(start: start, minutes: minutes, pauses: pauses)
    }
}

/// The obvious implementation, for comparison: walk forward one minute at a time, ask `Calendar` for the
/// minute's local date and time, and count it when the office is open and the ticket is not paused.
///
/// Exact for starts and pauses on whole minutes (the benchmark's inputs) in zones with whole-minute offsets.
struct MinuteSteppingCalendar {
    let calendar: Calendar
    /// Opening minutes since local midnight, indexed Monday = 0.
    let openMinutes: [[Range<Int>]]
    let holidays: Set<LocalDate>

    init(_ business: BusinessCalendar) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = business.timeZone
        self.calendar = calendar
        self.openMinutes = Weekday.allCases.map { day in
            business.weeklyHours.filter { $0.day == day }.map { $0.opens.minutes..<$0.closes.minutes }
        }
        self.holidays = business.holidays
    }

    func addingBusinessTime(minutes: Int, to start: Date, pauses: [Range<Date>]) throws -> Date {
        var minute = start
        var counted = 0
        var steps = 0
        while counted < minutes {
            if self.isOpen(minute), !pauses.contains(where: { $0.contains(minute) }) { counted += 1 }
            minute.addTimeInterval(60)
            steps += 1
            guard steps < 2 * 366 * 1440 else { throw BenchError("the reference calendar stays closed for two years") }
        }
        return minute
    }

    private func isOpen(_ instant: Date) -> Bool {
        let parts = self.calendar.dateComponents([.year, .month, .day, .weekday, .hour, .minute], from: instant)
        guard let date = try? LocalDate(year: parts.year!, month: parts.month!, day: parts.day!), !self.holidays.contains(date)
        else { return false }
        let minuteOfDay = parts.hour! * 60 + parts.minute!
        // Calendar counts Sunday = 1; the hours are indexed Monday = 0.
        return self.openMinutes[(parts.weekday! + 5) % 7].contains { $0.contains(minuteOfDay) }
    }
}

/// The local calendar date of an instant in `zone`.
func localDate(of instant: Date, in zone: TimeZone) -> LocalDate {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = zone
    let parts = calendar.dateComponents([.year, .month, .day], from: instant)
    // A Gregorian calendar always yields a valid date.
    return try! LocalDate(year: parts.year!, month: parts.month!, day: parts.day!)
}

/// Wall-clock seconds `body` takes.
func timed(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let started = clock.now
    try body()
    return started.duration(to: clock.now) / .seconds(1)
}

/// The median of a non-empty array (the mean of the middle two for an even count).
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
