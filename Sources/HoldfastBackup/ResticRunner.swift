import Foundation
import HoldfastCore
import Logging
import Subprocess
import Synchronization

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// How one restic run ended and what it printed.
struct ResticOutcome: Sendable {
    /// The exit code, or `nil` when restic was ended by a signal.
    var exitCode: Int32?
    /// Standard output by line; empty when a line handler took the lines.
    var lines: [String]
    /// The last lines of standard error, for error messages (restic's errors are short).
    var errorTail: String
    /// Whether restic overran the deadline and was interrupted (or killed).
    var timedOut = false
    /// Whether restic was interrupted because it was retrying to read a lock that is gone (see
    /// ``ResticRunner/isVanishedLock(_:)``); running the command again is the remedy.
    var lockVanished = false

    var succeeded: Bool { self.exitCode == 0 && !self.timedOut && !self.lockVanished }

    /// restic 0.14's message when another process holds a conflicting lock (stale or not).
    var isLocked: Bool { self.errorTail.contains("repository is already locked") }

    /// restic's message when there is no repository at the location: no `config` file (local),
    /// no such key or no such bucket (S3). A connection failure reads differently.
    var isMissingRepository: Bool {
        self.errorTail.contains("unable to open config file")
            && (self.errorTail.contains("no such file or directory") || self.errorTail.contains("The specified key does not exist")
                || self.errorTail.contains("The specified bucket does not exist"))
    }

    /// restic's message when the password opens no key of the repository.
    var isWrongPassword: Bool { self.errorTail.contains("wrong password or no key found") }
}

/// Runs restic with a clean environment, reads both pipes concurrently and enforces a deadline.
///
/// The deadline matters because restic's S3 backend retries a failing store for many minutes,
/// and a store that accepts connections but never answers blocks it forever. On the deadline
/// restic gets SIGINT, on which it removes its lock and exits; if it has not ended after the
/// grace period it gets SIGKILL (its lock then stays, and the next command's `unlock` removes it).
/// The same sequence runs when the calling task is cancelled. swift-subprocess does the spawning
/// and reaping (through a pidfd, so it never takes the exit status of another part's child).
struct ResticRunner: Sendable {
    var executable: String
    var environment: [String: String]
    var timeout: Duration
    var interruptGrace: Duration
    /// Bounds how many restic processes run at once (shared by every run of one driver).
    var gate: ProcessGate
    var logger: Logger

    /// Joins the cgroup whose `cgroup.procs` is `$0`, then becomes the program in `$@`.
    static let joiningScript = #"echo $$ 2>/dev/null > "$0" || echo "\#(notJoined) $0" >&2; exec "$@""#
    /// What the joining script prints when the group refused it.
    static let notJoined = "holdfast: restic runs outside the throttled group, which refused it:"

    /// The deadline of a run: the command timeout, but never less than `throttledMinimumTimeout`
    /// in a throttled group, where restic has a few percent of a CPU (an init at 5 % took longer
    /// than a 6 s timeout, and a repository the object store's outage kept from being created
    /// then never was).
    func timeout(joining group: String?) -> Duration {
        group == nil ? self.timeout : max(self.timeout, Self.throttledMinimumTimeout)
    }

    static let throttledMinimumTimeout = Duration.seconds(120)

    /// The longest line restic may print: `snapshots --json` prints every snapshot on one line.
    private static let maximumLineLength = 64 << 20
    private static let errorTailLines = 20

    /// Runs `restic ARGUMENTS` (the arguments hold no secret: the password is a file).
    ///
    /// - Parameters:
    ///   - workingDirectory: where restic starts; `backup .` records paths relative to it.
    ///   - onLine: receives each line of standard output as it arrives, instead of collecting it.
    ///   - group: a cgroup's `cgroup.procs` that restic joins before it starts (see `initialisationGroup`).
    /// - Returns: how restic ended; a non-zero exit or an overrun deadline is an outcome, not an error.
    /// - Throws: `.unavailable` when restic cannot be started or printed an unreadable line.
    func run(
        _ arguments: [String], in workingDirectory: String? = nil, onLine: (@Sendable (String) -> Void)? = nil,
        joining group: String? = nil
    ) async throws(CoreError) -> ResticOutcome {
        let command = arguments.first ?? ""
        // Joined before the exec (a shell writes its own pid, then becomes restic), so no
        // instruction of restic runs outside the group. A group that refuses costs speed, not the
        // command: restic runs anyway, and the line below tells why it was not throttled.
        let (executable, fullArguments) =
            group.map { ("/bin/sh", ["-c", Self.joiningScript, $0, self.executable] + arguments) } ?? (self.executable, arguments)
        var logger = self.logger
        logger[metadataKey: "restic.command"] = "\(command)"
        logger.debug("Running restic", metadata: ["restic.arguments": "\(arguments.joined(separator: " "))"])
        let started = ContinuousClock.now
        var options = PlatformOptions()
        options.teardownSequence = [.send(signal: .interrupt, allowedDurationToNextStep: self.interruptGrace)]
        let deadline = OnceFlag()
        let vanishedLock = OnceFlag()
        let (timeout, grace) = (self.timeout(joining: group), self.interruptGrace)
        let environment = Dictionary(uniqueKeysWithValues: self.environment.map { (Environment.Key(stringLiteral: $0.key), $0.value) })
        let result: ExecutionResult<Streams, SequenceOutput, SequenceOutput>
        // The deadline counts from the start of the process, not from the wait for a turn.
        await self.gate.enter()
        do {
            result = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(fullArguments), environment: .custom(environment),
                workingDirectory: workingDirectory.map { FilePath($0) }, platformOptions: options,
                input: .none, output: .sequence, error: .sequence
            ) { execution in
                await withTaskGroup(of: StreamEvent.self) { group in
                    group.addTask {
                        var lines: [String] = []
                        do {
                            for try await line in execution.standardOutput.strings(
                                bufferingPolicy: .maxLineLength(Self.maximumLineLength))
                            {
                                if let onLine { onLine(line) } else { lines.append(line) }
                            }
                        } catch {
                            // Stop restic rather than let it block on a pipe nobody reads.
                            try? execution.send(signal: .kill)
                            return .failed("\(error)")
                        }
                        return .output(lines)
                    }
                    group.addTask {
                        var tail: [String] = []
                        do {
                            for try await line in execution.standardError.strings(
                                bufferingPolicy: .maxLineLength(Self.maximumLineLength))
                            {
                                tail.append(String(line.prefix(2000)))
                                if tail.count > Self.errorTailLines { tail.removeFirst() }
                                if !vanishedLock.passed, Self.isVanishedLock(line) {
                                    vanishedLock.pass()
                                    try? execution.send(signal: .interrupt)
                                }
                            }
                        } catch {
                            try? execution.send(signal: .kill)
                            return .failed("\(error)")
                        }
                        return .errors(tail.joined(separator: "\n"))
                    }
                    group.addTask {
                        do {
                            try await Task.sleep(for: timeout)
                            deadline.pass()
                            try? execution.send(signal: .interrupt)
                            try await Task.sleep(for: grace)
                            try? execution.send(signal: .kill)
                        } catch {}
                        return .deadline
                    }
                    var streams = Streams()
                    var open = 2
                    while open > 0, let event = await group.next() {
                        switch event {
                        case .output(let lines): streams.lines = lines; open -= 1
                        case .errors(let tail): streams.errorTail = tail; open -= 1
                        case .failed(let reason): streams.failure = reason; open -= 1
                        case .deadline: continue
                        }
                    }
                    group.cancelAll()
                    return streams
                }
            }
        } catch {
            await self.gate.leave()
            throw .toolMissing(self.executable, "\(error)")
        }
        await self.gate.leave()
        let streams = result.closureResult
        let exitCode: Int32?
        switch result.terminationStatus {
        case .exited(let code): exitCode = code
        case .signaled: exitCode = nil
        }
        let elapsed = ContinuousClock.now - started
        logger.debug(
            "restic ended",
            metadata: ["restic.exit": "\(exitCode.map(String.init) ?? "signal")", "restic.seconds": "\(elapsed.timeInterval)"])
        if let failure = streams.failure {
            throw .unreadableOutput(command, failure)
        }
        return ResticOutcome(
            exitCode: exitCode, lines: streams.lines, errorTail: streams.errorTail, timedOut: deadline.passed,
            lockVanished: vanishedLock.passed)
    }

    /// restic 0.14 lists the repository's locks, then reads each; a lock removed in between
    /// (another restic of the tenant ended meanwhile) makes it retry reading that file for up to
    /// 15 minutes, which never succeeds. Its line for that: `Load(<lock/ID>, 0, 0) returned error,
    /// retrying after …: open …: no such file or directory` (local) or `…: The specified key does
    /// not exist.` (S3). Such a run is interrupted at once and run again (restic 0.15 fixed it).
    static func isVanishedLock(_ line: some StringProtocol) -> Bool {
        line.hasPrefix("Load(<lock/")
            && (line.contains("no such file or directory") || line.contains("The specified key does not exist"))
    }

    private enum StreamEvent: Sendable {
        case output([String])
        case errors(String)
        case failed(String)
        case deadline
    }

    private struct Streams: Sendable {
        var lines: [String] = []
        var errorTail = ""
        var failure: String?
    }

    /// Set once the deadline has passed, so a restic that ends on SIGINT is still reported as late.
    /// A flag set once from a pump task and read after the run.
    private final class OnceFlag: Sendable {
        private let state = Mutex(false)
        func pass() { self.state.withLock { $0 = true } }
        var passed: Bool { self.state.withLock { $0 } }
    }
}

/// At most `limit` restic processes at once; the others wait their turn, first come first served.
actor ProcessGate {
    private let limit: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    func enter() async {
        guard self.running >= self.limit else {
            self.running += 1
            return
        }
        // The slot is handed over by `leave`, which keeps the count.
        await withCheckedContinuation { self.waiting.append($0) }
    }

    func leave() {
        if self.waiting.isEmpty {
            self.running -= 1
        } else {
            self.waiting.removeFirst().resume()
        }
    }
}
