import Foundation
import Glibc
import HoldfastCore
import Testing

@testable import HoldfastHost

/// Sessions outlive the object (and the process) that launched them, and end cleanly when told to.
@Suite("Lifecycle")
struct LifecycleTests {
    @Test func aNewHostOnTheSameDirectoryAdoptsRunningSessions() async throws {
        try await withFixture { fixture in
            let id: Session.ID
            do {
                let first = fixture.host()
                id = try await fixture.launch(first, workspace: "a")
                try await withTerminal(first, id) { terminal, output in
                    try await terminal.type("echo $((6*7))")
                    await output.waitFor("42")
                }
            }
            // Leftovers a crash can leave must not count as sessions: a folder whose server is gone,
            // and a folder that is not a session at all.
            let dead = Session.ID()
            try FileManager.default.createDirectory(
                atPath: fixture.sessionsDirectory + "/\(dead)/socket", withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: fixture.sessionsDirectory + "/\(dead)/socket/tmux.sock", contents: nil))
            try FileManager.default.createDirectory(atPath: fixture.sessionsDirectory + "/lost+found", withIntermediateDirectories: true)

            let second = fixture.host()
            #expect(try await second.runningSessions() == [id])
            #expect(await second.isAlive(id))
            #expect(await second.liveness(dead).isDead)
            try await withTerminal(second, id) { _, output in
                await output.waitFor("42")
            }
        }
    }

    @Test func terminateEndsEveryProcessKeepsTheWorkspaceAndCanBeRepeated() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a", account: accountA)
            let directory = host.directory(id)
            let leader = try #require(directory.recordedSandboxPID())
            try await withTerminal(host, id) { terminal, output in
                // A background job that ignores SIGHUP must not survive either.
                try await terminal.type("nohup sleep 1000 >/dev/null 2>&1 & echo > ~/kept; echo J\"\"=started")
                await output.waitFor("J=started")
            }
            #expect(!processes(mentioning: directory.socketDirectory).isEmpty)

            try await host.terminate(id)

            #expect(await host.liveness(id).isDead)
            #expect(try await host.runningSessions().isEmpty)
            #expect(processes(mentioning: directory.socketDirectory).isEmpty)
            #expect(processes(mentioning: "sleep 1000").isEmpty)
            // The leader was this process's child: the reaper collects it, so no zombie stays.
            #expect(await poll(timeout: .seconds(30)) { !FileManager.default.fileExists(atPath: "/proc/\(leader)") })
            #expect(!FileManager.default.fileExists(atPath: directory.path))
            #expect(FileManager.default.fileExists(atPath: fixture.workspace("a") + "/kept"))

            try await host.terminate(id)
            try await host.terminate(Session.ID())
        }
    }

    @Test func terminateEndsASandboxWhoseTmuxNoLongerAnswers() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a")
            let directory = host.directory(id)
            let leader = try #require(directory.recordedSandboxPID())
            // A frozen tmux server: kill-server times out, so terminate must fall back to SIGKILL.
            let server = try #require(processTree(leader).first { procStatus($0, "NSpid")?.last == "2" })
            #expect(kill(server, SIGSTOP) == 0)
            try await host.terminate(id)
            #expect(processes(mentioning: directory.socketDirectory).isEmpty)
            #expect(await host.liveness(id).isDead)
        }
    }

    @Test func whenTheUserExitsTheShellTheSandboxEndsAndIsReaped() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a")
            let leader = try #require(host.directory(id).recordedSandboxPID())
            try await withTerminal(host, id) { terminal, output in
                try await terminal.type("nohup sleep 1001 >/dev/null 2>&1 &")
                try await terminal.type("exit")
                // The client exits with the session, which ends the output.
                #expect(await poll(timeout: .seconds(30)) { output.isFinished })
            }
            // The sandbox's leader exits a moment after tmux closes its clients.
            #expect(await poll(timeout: .seconds(30)) { await host.liveness(id).isDead })
            // The leader is this process's child: it must not linger as a zombie.
            #expect(await poll(timeout: .seconds(30)) { !FileManager.default.fileExists(atPath: "/proc/\(leader)") })
            // The job the user left behind keeps bwrap's inner process alive: terminate ends both.
            #expect(!processes(mentioning: "sleep 1001").isEmpty)
            try await host.terminate(id)
            #expect(processes(mentioning: "sleep 1001").isEmpty)
            #expect(processes(mentioning: host.directory(id).socketDirectory).isEmpty)
        }
    }

    @Test func livenessIsDeadOnlyOnEvidenceAndUnknownWhenTheRecordMakesNoSense() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a")
            let directory = host.directory(id)
            #expect(await host.liveness(id) == .alive)
            let leader = try #require(directory.recordedSandboxPID())
            // A record that cannot be read as a pid says nothing about the sandbox.
            try Data("garbage\n".utf8).write(to: URL(fileURLWithPath: directory.pidFile))
            let garbled = await host.liveness(id)
            #expect(!garbled.isDead && garbled != .alive, "a garbled pid file read as \(garbled)")
            try Data("\(leader)\n".utf8).write(to: URL(fileURLWithPath: directory.pidFile))
            #expect(await host.liveness(id) == .alive)

            // The leader killed: its exit is evidence.
            #expect(kill(leader, SIGKILL) == 0)
            #expect(await poll(timeout: .seconds(30)) { await host.liveness(id).isDead })
            try await host.terminate(id)
            let gone = await host.liveness(id)
            #expect(gone == .dead(evidence: "the session's sandbox folder is gone"))
        }
    }

    @Test func launchingARunningSessionAgainFails() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a")
            let error = await #expect(throws: HostError.self) {
                try await host.launch(TerminalLaunch(sessionID: id, workspace: fixture.workspace("a"), account: accountA))
            }
            #expect(error?.code == "session_already_running")
            #expect(await host.isAlive(id))
        }
    }

    @Test func aSandboxThatCannotStartFailsTheLaunchWithWhatBwrapSaid() async throws {
        try await withFixture { fixture in
            var configuration = TmuxHost.Configuration(sessionsDirectory: fixture.sessionsDirectory)
            configuration.shell = "/bin/bash"
            configuration.tmuxPath = "/nonexistent/tmux"
            let host = TmuxHost(configuration: configuration, logger: testLogger)
            let id = Session.ID()
            let error = await #expect(throws: HostError.self) {
                try await host.launch(TerminalLaunch(sessionID: id, workspace: fixture.workspace("a"), account: accountA))
            }
            #expect(error?.code == "sandbox_did_not_start")
            #expect(error?.message.contains("/nonexistent/tmux") == true)
            #expect(!FileManager.default.fileExists(atPath: host.directory(id).path))
        }
    }

    @Test func attachingToASessionThatIsNotRunningFails() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let error = await #expect(throws: HostError.self) {
                _ = try await host.attachTerminal(Session.ID(), columns: 80, rows: 24)
            }
            #expect(error?.code == "session_not_running")
        }
    }

    @Test func aDeepSessionsDirectoryWorksThoughSocketPathsAreShort() async throws {
        // sockaddr_un holds 108 bytes; pytest's temporary folders alone come close to that.
        try await withFixture { fixture in
            let deep = fixture.root + "/" + String(repeating: "deep-folder/", count: 10) + "sessions"
            let host = TmuxHost(configuration: .init(sessionsDirectory: deep), logger: testLogger)
            let id = Session.ID()
            try await host.launch(TerminalLaunch(sessionID: id, workspace: fixture.workspace("a"), account: accountA))
            #expect(try await host.runningSessions() == [id])
            try await withTerminal(host, id) { terminal, output in
                try await terminal.type("echo $((6*7))")
                await output.waitFor("42")
            }
            try await host.terminate(id)
            #expect(await host.liveness(id).isDead)
            #expect(processes(mentioning: host.directory(id).socketDirectory).isEmpty)
        }
    }
}
