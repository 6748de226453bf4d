import Foundation
import Glibc
import HoldfastCore
import Testing

@testable import HoldfastHost

/// A session's cgroups bound its processes and memory, and go away with it.
@Suite("Session cgroup")
struct SessionCgroupTests {
    @Test func thisHostsControllersAreFoundAndAFolderOfOtherThingsIsNotCgroups() throws {
        let layout = try #require(CgroupLayout.detect())
        let unified = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
        #expect(layout.version == (unified ? .v2 : .v1))
        #expect(CgroupLayout.detect(root: "/usr") == nil)
        // A v2 root is recognised by what its cgroup.controllers lists.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cgroup-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Data("cpuset cpu io memory pids\n".utf8).write(to: URL(fileURLWithPath: folder + "/cgroup.controllers"))
        #expect(CgroupLayout.detect(root: folder) == CgroupLayout(version: .v2, root: folder, hasCPU: true))
        try Data("cpu io\n".utf8).write(to: URL(fileURLWithPath: folder + "/cgroup.controllers"))
        #expect(CgroupLayout.detect(root: folder) == nil)
    }

    @Test func creatingAgainChangesTheLimitsUpAndDownAndRemovingLeavesNoFolder() async throws {
        let cgroup = try sessionCgroup()
        try cgroup.create(limits: limits(memoryMiB: 64, pids: 20))
        #expect(cgroup.usage()?.pidsLimit == 20)
        #expect(cgroup.usage()?.memoryLimitBytes == 64 << 20)
        #expect(cgroup.usage()?.pids == 0)
        try cgroup.create(limits: limits(memoryMiB: 256, pids: 30))
        #expect(cgroup.usage()?.memoryLimitBytes == 256 << 20)
        try cgroup.create(limits: limits(memoryMiB: 32, pids: 30))
        #expect(cgroup.usage()?.memoryLimitBytes == 32 << 20)
        #expect(cgroup.usage()?.pidsLimit == 30)
        try await cgroup.remove()
        for directory in cgroup.directories {
            #expect(!FileManager.default.fileExists(atPath: directory), "\(directory)")
        }
        #expect(cgroup.usage() == nil)
        // Removing what is gone is fine.
        try await cgroup.remove()
    }

    @Test func limitsOutOfRangeAreRefusedAndNothingIsMade() throws {
        let cgroup = try sessionCgroup()
        let error = #expect(throws: HostError.self) { try cgroup.create(limits: limits(memoryMiB: 64, pids: 20, cpuWeight: 0)) }
        #expect(error?.code == "invalid_limits")
        #expect(cgroup.directories.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
    }

    @Test func aProcessThatWritesItsPidIntoTheProcsFilesIsInTheGroupsAndSoIsWhatItExecs() async throws {
        let cgroup = try sessionCgroup()
        try cgroup.create(limits: limits(memoryMiB: 64, pids: 20))
        // What holdfast-jail does before it execs bwrap.
        let result = try await ProcessSpawner.run(
            Command(
                "/bin/sh",
                ["-c", "for f in \"$@\"; do echo $$ > \"$f\" || exit 1; done; exec cat /proc/self/cgroup", "sh"] + cgroup.procsFiles,
                environment: [:]),
            timeout: .seconds(10)
        )
        #expect(result.status == .exited(0), "\(result.output)")
        let path = "/\(SessionCgroup.parent)/\(cgroup.sessionID)"
        let lines = result.output.split(separator: "\n").map(String.init)
        for controller in cgroup.layout.controllers {
            let line =
                cgroup.layout.version == .v2
                ? "0::\(path)"
                : lines.first {
                    $0.split(separator: ":").dropFirst().first?.split(separator: ",").contains(Substring(controller.rawValue)) == true
                }
            #expect(line?.hasSuffix(":" + path) == true, "\(controller): \(result.output)")
        }
        try await cgroup.remove()
    }

    @Test func aForkBombStopsAtThePidsLimitAndIsCounted() async throws {
        let cgroup = try sessionCgroup()
        try cgroup.create(limits: limits(memoryMiB: 256, pids: 20))
        // 40 background sleeps in a subshell: forks beyond 20 processes fail, the shell around goes on.
        // The sleeps outlast the test (they are killed at its end), so a loaded host that forks
        // slowly still finds them all counted.
        let shell = try HeldShell(
            "i=0; (while [ $i -lt 40 ]; do sleep 120 >/dev/null 2>&1 & i=$((i+1)); done); echo outer=alive",
            in: cgroup)
        let status = await shell.child.exit.wait(timeout: .seconds(10))
        let usage = try #require(cgroup.usage())
        #expect(usage.pidsLimit == 20)
        #expect((usage.pids ?? 0) <= 20 && (usage.pids ?? 0) >= 10, "\(usage)")
        #expect((usage.pidsRefused ?? 0) > 0, "\(usage)")
        #expect(cgroup.pids().count == usage.pids)
        for pid in cgroup.pids() { _ = kill(pid, SIGKILL) }
        let output = shell.output()
        #expect(status == .exited(0), "\(output)")
        #expect(output.contains("fork"), "\(output)")  // "Cannot fork"
        #expect(output.hasSuffix("outer=alive"), "\(output)")
        try await cgroup.remove()
        #expect(cgroup.directories.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
    }

    @Test func aMemoryHogIsKilledAloneAndCounted() async throws {
        let cgroup = try sessionCgroup()
        try cgroup.create(limits: limits(memoryMiB: 64, pids: 20))
        let shell = try HeldShell(
            "/usr/bin/python3 -c 'b = bytearray(200 * 1024 * 1024); print(\"not killed\")'; echo python=$?", in: cgroup)
        let status = await shell.child.exit.wait(timeout: .seconds(10))
        let output = shell.output()
        // 137 = 128 + SIGKILL: the OOM killer took python, and the shell that started it lived on
        // and told its user.
        #expect(status == .exited(0), "\(output)")
        #expect(output.hasPrefix("Killed") && output.hasSuffix("python=137"), "\(output)")
        let usage = try #require(cgroup.usage())
        #expect((usage.oomKills ?? 0) >= 1, "\(usage)")
        #expect(usage.memoryLimitBytes == 64 << 20)
        try await cgroup.remove()
    }

    @Test func removingAGroupThatStillHoldsAProcessFailsAndNamesIt() async throws {
        let cgroup = try sessionCgroup()
        try cgroup.create(limits: limits(memoryMiB: 64, pids: 20))
        let sleeper = try ProcessSpawner.spawn(Command("/bin/sleep", ["30"], environment: [:]))
        try cgroup.add(sleeper.pid)
        #expect(cgroup.pids() == [sleeper.pid])
        let error = await #expect(throws: HostError.self) { try await cgroup.remove() }
        #expect(error?.code == "cgroup_busy")
        #expect(error?.message.contains("\(sleeper.pid)") == true)
        await sleeper.end(grace: .zero)
        try await cgroup.remove()
        #expect(cgroup.directories.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
    }

    @Test func addingAProcessThatHasEndedSaysSo() async throws {
        let cgroup = try sessionCgroup()
        try cgroup.create(limits: limits(memoryMiB: 64, pids: 20))
        let ended = try ProcessSpawner.spawn(Command("/bin/true", [], environment: [:]))
        _ = await ended.exit.wait()
        let error = #expect(throws: HostError.self) { try cgroup.add(ended.pid) }
        #expect(error?.message.contains("No such process") == true, "\(error?.message ?? "")")
        try await cgroup.remove()
    }
}

/// A group for a fresh session id on this host's cgroups.
private func sessionCgroup() throws -> SessionCgroup {
    SessionCgroup(layout: try #require(CgroupLayout.detect()), sessionID: Session.ID())
}

private func limits(memoryMiB: Int, pids: Int, cpuWeight: Int = 100) -> SessionLimits {
    var limits = SessionLimits.standard
    limits.memoryMiB = memoryMiB
    limits.pids = pids
    limits.cpuWeight = cpuWeight
    return limits
}

/// `sh -c SCRIPT` started waiting on its input, moved into `cgroup`, then let go: so everything
/// the script forks starts inside the group. Its output and errors go to one pipe.
private struct HeldShell {
    let child: ChildProcess
    private let reader: Int32

    init(_ script: String, in cgroup: SessionCgroup) throws {
        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        guard pipe(&input) == 0, pipe(&output) == 0 else {
            throw HostError(code: "test_setup", message: "pipe failed: \(errorText(errno))")
        }
        for end in input + output { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        defer {
            close(input[0])
            close(input[1])
            close(output[1])
        }
        self.reader = output[0]
        self.child = try ProcessSpawner.spawn(
            Command("/bin/sh", ["-c", "read go; " + script], environment: ["PATH": "/usr/bin:/bin"]),
            standardInput: input[0], standardOutput: output[1], standardError: output[1]
        )
        try cgroup.add(self.child.pid)
        _ = write(input[1], "go\n", 3)
    }

    /// What the shell wrote until now, trimmed; closes the pipe.
    func output() -> String {
        defer { close(self.reader) }
        _ = fcntl(self.reader, F_SETFL, fcntl(self.reader, F_GETFL) | O_NONBLOCK)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let count = read(self.reader, &buffer, buffer.count), count > 0 {
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
