import Foundation
import HoldfastCore
import Synchronization

/// A session host with no processes: sessions are entries in a set, and a terminal echoes
/// what is typed. For tests of the supervisor and for the held-session capacity benchmark.
public final class FakeHost: SessionHost {
    struct State {
        var running: Set<Session.ID> = []
        var launches: [TerminalLaunch] = []
        var failLaunches = false
        var failTerminations = false
        var usage: [Session.ID: SessionUsage] = [:]
        /// What a liveness check answers instead of the truth, per session.
        var answers: [Session.ID: LivenessAnswer] = [:]
        var checks = 0
        var launchesHeld = false
        var launchesWaiting: [CheckedContinuation<Void, Never>] = []
        var terminations: [Session.ID] = []
    }

    /// How the fake answers a liveness check it was told to get wrong.
    public enum LivenessAnswer: Sendable {
        case answer(SessionLiveness)
        /// The check never returns (a host stuck reading `/proc`).
        case hang
    }

    private let state = Mutex(State())

    public init() {}

    /// Makes the next launches (or terminations) fail, to exercise the failure paths.
    public func setFailures(launch: Bool = false, terminate: Bool = false) {
        self.state.withLock {
            $0.failLaunches = launch
            $0.failTerminations = terminate
        }
    }

    /// Simulates a session's processes dying on their own.
    public func kill(_ id: Session.ID) {
        _ = self.state.withLock { $0.running.remove(id) }
    }

    public var launches: [TerminalLaunch] { self.state.withLock { $0.launches } }

    /// Sets what `usage(_:)` reports for a session, as its cgroup would.
    public func setUsage(_ usage: SessionUsage?, of id: Session.ID) {
        self.state.withLock { $0.usage[id] = usage }
    }

    public func usage(_ id: Session.ID) async -> SessionUsage? {
        self.state.withLock { $0.usage[id] }
    }

    /// While held, a launch starts the session's processes and then waits until `releaseLaunches()`
    /// (a sandbox half set up, as a server killed mid-launch leaves it).
    public func holdLaunches() {
        self.state.withLock { $0.launchesHeld = true }
    }

    public func releaseLaunches() {
        let waiting = self.state.withLock { state in
            state.launchesHeld = false
            defer { state.launchesWaiting = [] }
            return state.launchesWaiting
        }
        waiting.forEach { $0.resume() }
    }

    /// The sessions `terminate` was called for, in order.
    public var terminations: [Session.ID] { self.state.withLock { $0.terminations } }

    public func launch(_ launch: TerminalLaunch) async throws {
        let held = try self.state.withLock { state in
            guard !state.failLaunches else { throw FakeHostError(message: "launch refused by the fake host") }
            state.launches.append(launch)
            state.running.insert(launch.sessionID)
            return state.launchesHeld
        }
        guard held else { return }
        await withCheckedContinuation { continuation in
            let resumeNow = self.state.withLock { state in
                guard state.launchesHeld else { return true }
                state.launchesWaiting.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Makes liveness checks of `id` answer `answer` (`nil`: the truth again).
    public func setLiveness(_ answer: LivenessAnswer?, of id: Session.ID) {
        self.state.withLock { $0.answers[id] = answer }
    }

    /// How many liveness checks were asked.
    public var livenessChecks: Int { self.state.withLock { $0.checks } }

    public func liveness(_ id: Session.ID) async -> SessionLiveness {
        let (answer, running) = self.state.withLock { state in
            state.checks += 1
            return (state.answers[id], state.running.contains(id))
        }
        switch answer {
        case .answer(let liveness)?:
            return liveness
        case .hang?:
            try? await Task.sleep(for: .seconds(24 * 3600))
            return .unknown(reason: "the fake host's check was cancelled")
        case nil:
            return running ? .alive : .dead(evidence: "not running on the fake host")
        }
    }

    public func runningSessions() async throws -> [Session.ID] {
        self.state.withLock { Array($0.running) }
    }

    public func attachTerminal(_ id: Session.ID, columns: Int, rows: Int) async throws -> any TerminalConnection {
        guard await self.isAlive(id) else { throw FakeHostError(message: "no such session on the fake host") }
        return EchoTerminal()
    }

    /// A desktop on the fake host is an echo too: what a viewer sends comes back.
    public func attachDesktop(_ id: Session.ID) async throws -> any TerminalConnection {
        guard await self.isAlive(id) else { throw FakeHostError(message: "no such session on the fake host") }
        return EchoTerminal()
    }

    public func terminate(_ id: Session.ID) async throws {
        try self.state.withLock { state in
            guard !state.failTerminations else { throw FakeHostError(message: "termination refused by the fake host") }
            state.terminations.append(id)
            state.running.remove(id)
        }
    }
}

public struct FakeHostError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }
}

/// A terminal that writes back whatever it receives.
final class EchoTerminal: TerminalConnection {
    let output: TerminalOutput
    private let continuation: AsyncStream<[UInt8]>.Continuation

    init() {
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        (self.output, self.continuation) = (TerminalOutput(stream), continuation)
        self.continuation.yield(Array("$ ".utf8))
    }

    func write(_ bytes: [UInt8]) async throws {
        self.continuation.yield(bytes)
    }

    func resize(columns: Int, rows: Int) async throws {
        self.continuation.yield(Array("\u{1b}[8;\(rows);\(columns)t".utf8))
    }

    func close() async {
        self.continuation.finish()
    }
}
