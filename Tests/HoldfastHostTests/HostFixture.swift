import Foundation
import Glibc
import HoldfastCore
import Logging
import Synchronization
import Testing

@testable import HoldfastHost

/// A temporary data folder with a sessions directory and workspaces, removed with every session in it.
///
/// The root is short (`/tmp/hf-XXXXXX`) because the tmux socket path must fit in 107 bytes, and
/// mode 0700 like a real data directory, so the tests also show that a session's account needs
/// no access to the folders above its workspace.
struct HostFixture {
    let root: String
    var sessionsDirectory: String { self.root + "/sessions" }

    func workspace(_ name: String) -> String { self.root + "/workspaces/" + name }

    func host() -> TmuxHost {
        TmuxHost(configuration: .init(sessionsDirectory: self.sessionsDirectory), logger: testLogger)
    }

    /// Launches a session with a fresh id and a workspace named `name`; without a network unless
    /// asked (slirp4netns costs a test ~10 ms and has tests of its own).
    func launch(
        _ host: TmuxHost, workspace name: String, account: UnixAccount? = accountA, columns: Int = 80, rows: Int = 24,
        network: NetworkAccess = .none, limits: SessionLimits = .standard
    )
        async throws -> Session.ID
    {
        let id = Session.ID()
        try await host.launch(
            TerminalLaunch(
                sessionID: id, workspace: self.workspace(name), account: account, columns: columns, rows: rows,
                network: network, limits: limits))
        return id
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "holdfast.host.tests")
    logger.logLevel = ProcessInfo.processInfo.environment["HOLDFAST_TEST_LOG"] == nil ? .critical : .trace
    return logger
}()

/// Accounts no host user has: the sandbox must work for uids without a passwd entry.
let accountA = UnixAccount(uid: 200_001, gid: 200_001)
let accountB = UnixAccount(uid: 200_002, gid: 200_002)

/// Runs `body` with a fresh fixture; afterwards ends every session left in it and removes it.
func withFixture<Result>(_ body: (HostFixture) async throws -> Result) async throws -> Result {
    var template = Array("/tmp/hf-XXXXXX".utf8CString)
    guard mkdtemp(&template) != nil else {
        throw HostError(code: "test_setup", message: "mkdtemp failed: \(errorText(errno))")
    }
    let fixture = HostFixture(root: String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    func cleanUp() async {
        let host = fixture.host()
        if let names = try? FileManager.default.contentsOfDirectory(atPath: fixture.sessionsDirectory) {
            for name in names {
                if let id = Session.ID(name) { try? await host.terminate(id) }
            }
        }
        try? FileManager.default.removeItem(atPath: fixture.root)
    }
    do {
        let result = try await body(fixture)
        await cleanUp()
        return result
    } catch {
        await cleanUp()
        throw error
    }
}

/// Everything a terminal printed so far, searchable while more arrives.
final class Transcript: Sendable {
    private let state = Mutex((bytes: [UInt8](), finished: false))

    func append(_ chunk: [UInt8]) { self.state.withLock { $0.bytes += chunk } }
    func finish() { self.state.withLock { $0.finished = true } }

    var text: String { self.state.withLock { String(decoding: $0.bytes, as: UTF8.self) } }
    var isFinished: Bool { self.state.withLock { $0.finished } }
    var isEmpty: Bool { self.state.withLock { $0.bytes.isEmpty } }

    /// Waits until the output contains `needle`; fails the test with the output when it does not.
    func waitFor(_ needle: String, timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation) async {
        let found = await poll(timeout: timeout) { self.text.contains(needle) }
        #expect(found, "\(needle.debugDescription) never appeared in: \(self.text.debugDescription)", sourceLocation: sourceLocation)
    }

    /// Waits for the first output: from then on the client has put the terminal in raw mode, and
    /// keystrokes are no longer echoed by the PTY itself (ARCHITECTURE §7).
    func waitForFirstOutput(sourceLocation: SourceLocation = #_sourceLocation) async {
        let found = await poll(timeout: .seconds(30)) { !self.isEmpty }
        #expect(found, "the terminal printed nothing", sourceLocation: sourceLocation)
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
func poll(timeout: Duration, _ condition: () async -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while await !condition() {
        if clock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}

/// Attaches a terminal, reads its output into a transcript while `body` runs, then detaches.
func withTerminal<Result: Sendable>(
    _ host: TmuxHost, _ id: Session.ID, columns: Int = 80, rows: Int = 24,
    _ body: (any TerminalConnection, Transcript) async throws -> Result
) async throws -> Result {
    let connection = try await host.attachTerminal(id, columns: columns, rows: rows)
    let transcript = Transcript()
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            for await chunk in connection.output { transcript.append(chunk) }
            transcript.finish()
        }
        do {
            await transcript.waitForFirstOutput()
            let result = try await body(connection, transcript)
            await connection.close()
            try await group.waitForAll()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }
}

extension TerminalConnection {
    /// Types a line as a user would, Enter included.
    func type(_ line: String) async throws {
        try await self.write(Array((line + "\r").utf8))
    }
}

/// Runs a tmux command against a session the way the host does: inside its sandbox, as its user.
func tmux(_ host: TmuxHost, _ id: Session.ID, _ arguments: [String]) async throws -> CommandResult {
    let running = try #require(host.running(host.directory(id)), "session \(id) is not running")
    return try await ProcessSpawner.run(host.tmuxCommand(running, arguments), timeout: .seconds(30))
}

/// A field of `/proc/PID/status`, such as `Uid` or `NSpid`, split into its values.
func procStatus(_ pid: pid_t, _ field: String) -> [String]? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }
    return nil
}

/// `pid` and all its descendants, found through `/proc/PID/task/TID/children`.
func processTree(_ pid: pid_t) -> [pid_t] {
    var result = [pid]
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    for task in tasks {
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ pid_t($0) }) {
            result += processTree(child)
        }
    }
    return result
}

/// The pids of live processes whose command line mentions `text` (like `pgrep -f`).
func processes(mentioning text: String) -> [pid_t] {
    ProcessTable.processIDs().filter { pid in
        pid != getpid() && (ProcessTable.arguments(of: pid)?.joined(separator: " ").contains(text) ?? false)
    }
}
