import Foundation
import Glibc
import Testing

@testable import HoldfastHost

/// Children start clean and are always reaped.
@Suite("Process spawner")
struct ProcessSpawnerTests {
    @Test func aCommandSeesOnlyTheEnvironmentGivenAndItsOutputIsCaptured() async throws {
        let result = try await ProcessSpawner.run(
            Command("/usr/bin/env", [], environment: ["ONLY": "this"], workingDirectory: "/tmp"),
            timeout: .seconds(30)
        )
        #expect(result.status == .exited(0))
        #expect(result.output == "ONLY=this")
    }

    @Test func aCommandStartsInItsWorkingDirectoryWithOnlyThreeDescriptors() async throws {
        let result = try await ProcessSpawner.run(
            Command("/bin/sh", ["-c", "pwd; ls /proc/self/fd | wc -l; exit 3"], environment: [:], workingDirectory: "/usr"),
            timeout: .seconds(30)
        )
        #expect(result.status == .exited(3))
        // 0–2 and the descriptor `ls` opens to read the folder: nothing of the test process.
        #expect(result.output.split(separator: "\n") == ["/usr", "4"])
    }

    @Test func aCommandThatOverrunsItsTimeoutIsKilledAndReaped() async throws {
        let clock = ContinuousClock()
        let started = clock.now
        let error = await #expect(throws: HostError.self) {
            try await ProcessSpawner.run(Command("/bin/sleep", ["30"], environment: [:]), timeout: .milliseconds(200))
        }
        #expect(error?.code == "command_timed_out")
        // Killed, not waited out: `sleep 30` would take 30 s (a loose bound, for a loaded machine).
        #expect(clock.now - started < .seconds(25))
    }

    @Test func everyChildIsReapedEvenWhenNobodyWaits() async throws {
        let children = try (0..<20).map { _ in try ProcessSpawner.spawn(Command("/bin/true", [], environment: [:])) }
        for child in children {
            #expect(await child.exit.wait(timeout: .seconds(30)) == .exited(0))
            // Reaped means gone from /proc, not a zombie.
            #expect(!FileManager.default.fileExists(atPath: "/proc/\(child.pid)"))
        }
        let killed = try ProcessSpawner.spawn(Command("/bin/sleep", ["30"], environment: [:]))
        #expect(await killed.end(grace: .milliseconds(50)) == .signaled(SIGKILL))
    }

    @Test func aMissingProgramIsAClearError() async throws {
        let error = #expect(throws: HostError.self) {
            try ProcessSpawner.spawn(Command("/nonexistent/program", [], environment: [:]))
        }
        #expect(error?.code == "spawn_failed")
        #expect(error?.message.contains("No such file") == true)
    }
}
