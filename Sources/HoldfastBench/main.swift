// Held-session capacity of the server itself: many sessions held at once in the SQL store
// (SQLite in a temporary folder), the session supervisor over a `FakeHost` (no processes), and
// the supervisor's clock ticking every second exactly as `SessionClock` does in `holdfast serve`.
//
// Every session is started, attached once and dropped, so it is held with a real deadline
// (`expiresAt = last traffic + the tenant's grace`). Graces are spread across tenants, so the
// deadlines fall over a few minutes of wall-clock time. The benchmark then waits for the clock to
// expire them all and reads each session's timeline back from the store: the lateness of a
// session is its `expired` event's time minus its `expiresAt`.
//
//     .build-release/release/HoldfastBench [--sessions 10000] [--tenants 20]
//         [--grace-min 60] [--grace-max 180] [--concurrency 1] [--tick-interval 0.5] [--output bench/results/capacity.json]
//
// Other modes, each in its own file: `backup` (BackupBenchmark.swift), `seed-tickets`
// (TicketSeeding.swift) and `sla` (SLABenchmark.swift).
//
// Reported: the process's RSS (VmRSS sampled every tick, and VmHWM), the lateness of every
// expiry (target: all within 1 s), the tick durations, and the total run time.

import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastStore
import HoldfastTestSupport
import Logging
import Synchronization

/// Runs one mode of the benchmark (`HoldfastBench backup …`) and exits with its outcome.
func runMode(_ name: String, _ body: (ArraySlice<String>) async throws -> Void) async -> Never {
    do {
        try await body(CommandLine.arguments.dropFirst(2))
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("HoldfastBench \(name) failed: \(error)\n".utf8))
        exit(1)
    }
}

switch CommandLine.arguments.dropFirst().first {
case "backup": await runMode("backup") { try await runBackupBenchmark(BackupBenchmarkOptions.parse($0)) }
case "seed-tickets": await runMode("seed-tickets") { try await runTicketSeeding(TicketSeedingOptions.parse($0)) }
case "sla": await runMode("sla") { try runSLABenchmark(SLABenchmarkOptions.parse($0)) }
default: break
}

struct Options {
    var sessions = 10_000
    var tenants = 20
    var graceMin = 60
    var graceMax = 180
    /// Sessions set up at once. More than 1 can livelock the SQLite store on 2 cores (see `watchSetup`).
    var concurrency = 1
    /// The clock's sleep between ticks; 1 s is what `SessionClock` does in `holdfast serve`.
    var tickInterval = 0.5
    var output: String?

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { Self.usage("\(flag) needs a value") }
            if flag == "--output" {
                options.output = value
                continue
            }
            if flag == "--tick-interval" {
                guard let seconds = Double(value), seconds > 0 else { Self.usage("--tick-interval takes seconds, e.g. 0.5") }
                options.tickInterval = seconds
                continue
            }
            guard let number = Int(value) else { Self.usage("\(flag) takes a whole number") }
            switch flag {
            case "--sessions": options.sessions = number
            case "--tenants": options.tenants = number
            case "--grace-min": options.graceMin = number
            case "--grace-max": options.graceMax = number
            case "--concurrency": options.concurrency = number
            default: Self.usage("unknown option \(flag)")
            }
        }
        guard options.sessions > 0, options.tenants > 0, options.graceMin >= 1, options.graceMax >= options.graceMin,
            options.concurrency > 0
        else { Self.usage("--sessions, --tenants and --concurrency must be positive, and --grace-min <= --grace-max") }
        return options
    }

    static func usage(_ message: String) -> Never {
        FileHandle.standardError.write(
            Data(
                ("HoldfastBench: \(message)\nusage: HoldfastBench [--sessions N] [--tenants N] [--grace-min S] [--grace-max S] "
                    + "[--concurrency N] [--tick-interval S] [--output FILE]\n").utf8))
        exit(2)
    }
}

/// VmRSS and VmHWM of this process, in MiB.
func memory() -> (rss: Double, peak: Double) {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    var rss = 0.0
    var peak = 0.0
    for line in status.split(separator: "\n") {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count >= 2, let kilobytes = Double(parts[1]) else { continue }
        if parts[0] == "VmRSS:" { rss = kilobytes / 1024 }
        if parts[0] == "VmHWM:" { peak = kilobytes / 1024 }
    }
    return (rss, peak)
}

/// The 1-, 5- and 15-minute load averages: on a shared 2-core machine, the noise to note.
func loadAverage() -> String {
    let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

/// Nearest-rank percentile of a non-empty array (p in 0...100).
func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    let rank = max(1, min(sorted.count, Int((p / 100 * Double(sorted.count)).rounded(.up))))
    return sorted[rank - 1]
}

struct Distribution: Codable {
    var n: Int
    var p50: Double
    var p90: Double
    var p99: Double
    var max: Double
    var min: Double

    init(_ values: [Double]) {
        self.n = values.count
        let round = { (value: Double) in (value * 1000).rounded() / 1000 }
        self.p50 = values.isEmpty ? 0 : round(percentile(values, 50))
        self.p90 = values.isEmpty ? 0 : round(percentile(values, 90))
        self.p99 = values.isEmpty ? 0 : round(percentile(values, 99))
        self.max = round(values.max() ?? 0)
        self.min = round(values.min() ?? 0)
    }
}

/// What the clock task saw, shared with the main task.
final class ClockRecord: Sendable {
    struct State {
        var tickSeconds: [Double] = []
        var peakRSS = 0.0
        var peakLive = 0
        var rssWhenPeakLive = 0.0
    }

    let state = Mutex(State())

    func note(tick: Double, rss: Double, live: Int) {
        self.state.withLock { state in
            state.tickSeconds.append(tick)
            state.peakRSS = max(state.peakRSS, rss)
            if live >= state.peakLive {
                state.peakLive = live
                state.rssWhenPeakLive = rss
            }
        }
    }
}

/// The supervisor's clock, as `SessionClock` runs it in the server: tick, then sleep a second
/// (`interval`); process checks every 10 s.
func runClock(_ supervisor: SessionSupervisor, interval: Double, record: ClockRecord) async {
    var sinceCheck = Duration.zero
    let clock = ContinuousClock()
    while !Task.isCancelled {
        let started = clock.now
        await supervisor.tick()
        let tick = started.duration(to: clock.now)
        if sinceCheck >= .seconds(10) {
            await supervisor.watchProcesses()
            sinceCheck = .zero
        }
        let seconds = Double(tick.components.seconds) + Double(tick.components.attoseconds) / 1e18
        let live = await supervisor.liveCount
        record.note(tick: seconds, rss: memory().rss, live: live)
        try? await Task.sleep(for: .seconds(interval))
        sinceCheck += .seconds(interval)
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { self.count.withLock { $0 } }
    func increment() { self.count.withLock { $0 += 1 } }
}

/// Ends the run when setup makes no progress for a minute.
///
/// On this 2-core machine sqlite-nio runs every statement on NIO's blocking pool (one thread per
/// core) and its busy handler retries at once, forever: when more write transactions are open
/// than the pool has threads, the waiters spin on every thread and the lock holder never gets
/// one to commit. That is a livelock, not slowness, so say so instead of hanging.
func watchSetup(_ progress: Counter, total: Int) async {
    var last = -1
    var since = ContinuousClock.now
    while !Task.isCancelled {
        try? await Task.sleep(for: .seconds(5))
        let now = progress.value
        if now >= total { return }
        if now != last {
            last = now
            since = .now
        } else if since.duration(to: .now) > .seconds(60) {
            FileHandle.standardError.write(
                Data(
                    ("HoldfastBench: no session became held for 60 s (\(now) of \(total)); the SQLite store is stuck "
                        + "(more concurrent write transactions than NIO blocking-pool threads?). Try --concurrency 1.\n").utf8))
            exit(3)
        }
    }
}

struct HeldSession: Sendable {
    var id: Session.ID
    var expiresAt: Date
}

struct Report: Codable {
    var benchmark = "held_session_capacity"
    var machine: String
    var loadavgAtStart: String
    var loadavgAtEnd: String
    var sessions: Int
    var tenants: Int
    var graceSeconds: [Int]
    var tickIntervalSeconds: Double
    var setupSeconds: Double
    var setupSessionsPerSecond: Double
    var heldAtOnce: Int
    var deadlineSpreadSeconds: Double
    var rssBaselineMiB: Double
    var rssPeakSampledMiB: Double
    var rssWithAllHeldMiB: Double
    var vmHWMMiB: Double
    var expiredLatenessSeconds: Distribution
    var closedLatenessSeconds: Distribution
    var expiriesLaterThan1s: Int
    var earlyExpiries: Int
    var missingExpiredEvents: Int
    var notClosed: Int
    var tickSeconds: Distribution
    var totalRunSeconds: Double
    var storeFileMiB: Double
    var targetRSSMiB = 150
    var targetLatenessSeconds = 1.0
}

func runBenchmark() async throws {
    let options = Options.parse(CommandLine.arguments)
    let runStarted = Date()
    let loadAtStart = loadAverage()
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("holdfast-bench-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let databasePath = folder.appendingPathComponent("holdfast.sqlite").path

    var logger = Logger(label: "holdfast.bench")
    logger.logLevel = .warning
    let database = try Database(location: .sqlite(path: databasePath), logger: logger)
    _ = try await database.migrate()
    let repositories = Repositories.sql(database)

    // Tenants with graces spread evenly from --grace-min to --grace-max, one member each.
    var users: [User] = []
    var graces: [Int] = []
    for index in 0..<options.tenants {
        let grace =
            options.tenants == 1
            ? options.graceMin : options.graceMin + (options.graceMax - options.graceMin) * index / (options.tenants - 1)
        graces.append(grace)
        let tenant = Tenant(name: "Bench \(index)", slug: "bench-\(index)", graceSeconds: grace, createdAt: Date())
        try await repositories.tenants.create(tenant)
        let user = User(
            tenantID: tenant.id, email: "member\(index)@bench.test", name: "Member \(index)", role: .member, createdAt: Date())
        try await repositories.users.create(user, passwordHash: "-")
        users.append(user)
    }

    var configuration = SessionSupervisor.Configuration()
    configuration.grace = 30 * 60
    configuration.heartbeat = 10
    let backups = WorkspaceBackups(
        configuration: .init(
            workspacesDirectory: folder.appendingPathComponent("workspaces").path,
            restoresDirectory: folder.appendingPathComponent("restores").path),
        driver: FakeBackupDriver(), repositories: repositories, accountFor: { _ in nil }, now: { Date() }, logger: logger)
    let supervisor = SessionSupervisor(
        configuration: configuration, repositories: repositories, host: FakeHost(), backups: backups, accountFor: { _ in nil },
        now: { Date() }, logger: logger)

    let baseline = memory().rss
    let record = ClockRecord()
    let clock = Task { await runClock(supervisor, interval: options.tickInterval, record: record) }
    print(
        "HoldfastBench: \(options.sessions) sessions, \(options.tenants) tenants, grace \(options.graceMin)…\(options.graceMax) s, "
            + "a tick every \(options.tickInterval) s after the last; "
            + "baseline RSS \(String(format: "%.1f", baseline)) MiB")

    // Start, attach once, drop: every session ends up held with a deadline.
    let members = users
    let setupStarted = Date()
    let progress = Counter()
    let watchdog = Task { await watchSetup(progress, total: options.sessions) }
    let held = try await withThrowingTaskGroup(of: [HeldSession].self) { group in
        for worker in 0..<options.concurrency {
            group.addTask {
                var mine: [HeldSession] = []
                for index in stride(from: worker, to: options.sessions, by: options.concurrency) {
                    let user = members[index % members.count]
                    let session = try await supervisor.start(kind: .terminal, for: user)
                    let attachment = try await supervisor.attach(session.id, user: user, columns: 80, rows: 24, disconnect: {})
                    // The fake terminal needs no closing: nothing keeps the attachment once it is dropped.
                    await supervisor.detached(attachment, lastTrafficAt: Date())
                    let now = try await supervisor.session(session.id, for: user)
                    guard now.state == .held, let expiresAt = now.machine.expiresAt else {
                        throw BenchError("session \(session.id) is \(now.state) after the drop, not held")
                    }
                    mine.append(HeldSession(id: session.id, expiresAt: expiresAt))
                    progress.increment()
                    if index > 0, index % 1000 == 0 {
                        print("  \(index) sessions held, RSS \(String(format: "%.1f", memory().rss)) MiB")
                    }
                }
                return mine
            }
        }
        var all: [HeldSession] = []
        for try await part in group { all += part }
        return all
    }
    watchdog.cancel()
    let setupSeconds = Date().timeIntervalSince(setupStarted)
    let heldAtOnce = await supervisor.liveCount
    let rssAllHeld = memory().rss
    let firstDeadline = held.map(\.expiresAt).min()!
    let lastDeadline = held.map(\.expiresAt).max()!
    print(
        "  setup: \(held.count) sessions in \(String(format: "%.1f", setupSeconds)) s; \(heldAtOnce) held at once; "
            + "RSS \(String(format: "%.1f", rssAllHeld)) MiB; deadlines from +\(Int(firstDeadline.timeIntervalSinceNow)) s "
            + "to +\(Int(lastDeadline.timeIntervalSinceNow)) s")

    // Wait for the clock to expire them all (or give up 60 s after the last deadline).
    var lastReport = Date()
    while await supervisor.liveCount > 0, Date() < lastDeadline.addingTimeInterval(60) {
        try await Task.sleep(for: .milliseconds(250))
        if Date().timeIntervalSince(lastReport) >= 30 {
            lastReport = Date()
            print("  \(await supervisor.liveCount) sessions still live, RSS \(String(format: "%.1f", memory().rss)) MiB")
        }
    }
    clock.cancel()
    await clock.value
    let peakAfterRun = memory().peak

    // Read every timeline back from the store.
    var expiredLateness: [Double] = []
    var closedLateness: [Double] = []
    var missing = 0
    var notClosed = 0
    for session in held {
        let events = try await repositories.sessions.events(sessionID: session.id)
        if let expired = events.first(where: { $0.type == .expired }) {
            expiredLateness.append(expired.at.timeIntervalSince(session.expiresAt))
        } else {
            missing += 1
        }
        if let closed = events.last(where: { $0.type == .closed }) {
            closedLateness.append(closed.at.timeIntervalSince(session.expiresAt))
        }
        if try await repositories.sessions.find(id: session.id)?.state != .closed {
            notClosed += 1
        }
    }
    await database.close()
    let storeSize = (try? FileManager.default.attributesOfItem(atPath: databasePath)[.size] as? Int) ?? 0
    let ticks = record.state.withLock { $0 }

    let report = Report(
        machine: "\(ProcessInfo.processInfo.activeProcessorCount) cores (shared)",
        loadavgAtStart: loadAtStart,
        loadavgAtEnd: loadAverage(),
        sessions: options.sessions,
        tenants: options.tenants,
        graceSeconds: graces,
        tickIntervalSeconds: options.tickInterval,
        setupSeconds: (setupSeconds * 10).rounded() / 10,
        setupSessionsPerSecond: (Double(held.count) / setupSeconds).rounded(),
        heldAtOnce: heldAtOnce,
        deadlineSpreadSeconds: lastDeadline.timeIntervalSince(firstDeadline).rounded(),
        rssBaselineMiB: (baseline * 10).rounded() / 10,
        rssPeakSampledMiB: (ticks.peakRSS * 10).rounded() / 10,
        rssWithAllHeldMiB: (rssAllHeld * 10).rounded() / 10,
        vmHWMMiB: (peakAfterRun * 10).rounded() / 10,
        expiredLatenessSeconds: Distribution(expiredLateness),
        closedLatenessSeconds: Distribution(closedLateness),
        expiriesLaterThan1s: expiredLateness.filter { $0 > 1 }.count,
        earlyExpiries: expiredLateness.filter { $0 < -0.001 }.count,
        missingExpiredEvents: missing,
        notClosed: notClosed,
        tickSeconds: Distribution(ticks.tickSeconds),
        totalRunSeconds: Date().timeIntervalSince(runStarted).rounded(),
        storeFileMiB: (Double(storeSize) / 1_048_576 * 10).rounded() / 10
    )

    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let json = try encoder.encode(report)
    if let output = options.output {
        try json.write(to: URL(fileURLWithPath: output))
    }
    let e = report.expiredLatenessSeconds
    print(
        """
        held-session capacity: \(report.heldAtOnce) held at once (of \(report.sessions)), deadlines over \(Int(report.deadlineSpreadSeconds)) s
          RSS: baseline \(report.rssBaselineMiB) MiB, all held \(report.rssWithAllHeldMiB) MiB, peak sampled \(report.rssPeakSampledMiB) MiB, \
        VmHWM \(report.vmHWMMiB) MiB (target <= 150 MiB: \(report.vmHWMMiB <= 150 ? "met" : "MISSED"))
          expiry lateness: p50 \(e.p50) s, p99 \(e.p99) s, max \(e.max) s, min \(e.min) s; later than 1 s: \(report.expiriesLaterThan1s); \
        early: \(report.earlyExpiries); missing: \(report.missingExpiredEvents); not closed: \(report.notClosed) \
        (target all within 1 s: \(report.expiriesLaterThan1s == 0 && report.missingExpiredEvents == 0 ? "met" : "MISSED"))
          tick duration: p50 \(report.tickSeconds.p50) s, p99 \(report.tickSeconds.p99) s, max \(report.tickSeconds.max) s over \
        \(report.tickSeconds.n) ticks
          setup \(report.setupSeconds) s (\(Int(report.setupSessionsPerSecond)) sessions/s); total run \(Int(report.totalRunSeconds)) s; \
        store \(report.storeFileMiB) MiB
        """)
    if let output = options.output {
        print("  saved \(output)")
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

do {
    try await runBenchmark()
} catch {
    FileHandle.standardError.write(Data("HoldfastBench failed: \(error)\n".utf8))
    exit(1)
}
