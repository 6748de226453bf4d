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

    public func launch(_ launch: TerminalLaunch) async throws {
        try self.state.withLock { state in
            guard !state.failLaunches else { throw FakeHostError(message: "launch refused by the fake host") }
            state.launches.append(launch)
            state.running.insert(launch.sessionID)
        }
    }

    public func isAlive(_ id: Session.ID) async -> Bool {
        self.state.withLock { $0.running.contains(id) }
    }

    public func runningSessions() async throws -> [Session.ID] {
        self.state.withLock { Array($0.running) }
    }

    public func attachTerminal(_ id: Session.ID, columns: Int, rows: Int) async throws -> any TerminalConnection {
        guard await self.isAlive(id) else { throw FakeHostError(message: "no such session on the fake host") }
        return EchoTerminal()
    }

    public func terminate(_ id: Session.ID) async throws {
        try self.state.withLock { state in
            guard !state.failTerminations else { throw FakeHostError(message: "termination refused by the fake host") }
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
    let output: AsyncStream<[UInt8]>
    private let continuation: AsyncStream<[UInt8]>.Continuation

    init() {
        (self.output, self.continuation) = AsyncStream.makeStream()
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
