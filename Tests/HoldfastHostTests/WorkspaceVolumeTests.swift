import Foundation
import Glibc
import HoldfastCore
import Testing

@testable import HoldfastHost

/// The per-user disk quota: real loop-mounted ext4 volumes in a temporary folder (needs root).
///
/// Serialized: a test that holds a volume in a mount namespace of its own would hold every other
/// test's volume mounted at that moment too.
@Suite("WorkspaceVolume", .serialized, .enabled(if: geteuid() == 0, "loop mounts need root"))
struct WorkspaceVolumeTests {
    @Test func aUserFillsTheVolumeToItsQuotaWhileTheHostDiskHasRoom() async throws {
        try await withVolume { volume in
            let clock = ContinuousClock()
            let started = clock.now
            let outcome = try await volume.ensureMounted(sizeGiB: 1, owner: accountA)
            print("ensureMounted creating a 1 GiB volume took \(clock.now - started)")
            #expect(outcome.created && outcome.mounted && outcome.sizeBytes == 1 << 30)
            #expect(volume.isMounted)

            // Sparse: a fresh 1 GiB volume takes a few MiB on the host.
            var image = stat()
            #expect(stat(volume.image, &image) == 0)
            #expect(Int(image.st_blocks) * 512 < 16 << 20)

            // What the user sees: their own folder, private, with no lost+found, nosuid and nodev.
            var top = stat()
            #expect(stat(volume.mountPoint, &top) == 0)
            #expect(top.st_uid == accountA.uid && top.st_gid == accountA.gid && top.st_mode & 0o777 == 0o700)
            #expect(try FileManager.default.contentsOfDirectory(atPath: volume.mountPoint).isEmpty)
            let options = try #require(Self.mountOptions(volume.mountPoint))
            #expect(options.contains("nosuid") && options.contains("nodev"))

            // 1.2 GB does not fit in 1 GiB, although the host's disk has room for it.
            #expect(Self.freeBytes("/tmp") > 2 << 30)
            #expect(Self.allocate(volume.mountPoint + "/big", bytes: 1_200_000_000) == ENOSPC)
            let usage = try #require(volume.usage())
            #expect(usage.sizeBytes > 900 << 20 && usage.sizeBytes <= 1 << 30)
            try FileManager.default.removeItem(atPath: volume.mountPoint + "/big")
            #expect(Self.allocate(volume.mountPoint + "/fits", bytes: 800_000_000) == 0)
            let full = try #require(volume.usage())
            #expect(Double(full.usedBytes) / Double(full.sizeBytes) > 0.75)
        }
    }

    @Test func filesFromBeforeQuotasAreMovedIntoTheVolume() async throws {
        try await withVolume { volume in
            try FileManager.default.createDirectory(atPath: volume.mountPoint + "/notes", withIntermediateDirectories: true)
            try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: volume.mountPoint + "/notes/todo.txt"))
            try FileManager.default.createSymbolicLink(atPath: volume.mountPoint + "/link", withDestinationPath: "/etc/passwd")
            #expect(lchown(volume.mountPoint + "/notes/todo.txt", accountA.uid, accountA.gid) == 0)

            let outcome = try await volume.ensureMounted(sizeGiB: 1, owner: accountA)
            #expect(outcome.migrated)
            #expect(volume.isMounted)
            #expect(try String(contentsOfFile: volume.mountPoint + "/notes/todo.txt", encoding: .utf8) == "keep me\n")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: volume.mountPoint + "/link") == "/etc/passwd")
            var info = stat()
            #expect(lstat(volume.mountPoint + "/notes/todo.txt", &info) == 0 && info.st_uid == accountA.uid)
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: volume.mountPoint)) == ["notes", "link"])
            // Nothing is left beside it.
            #expect(access(volume.mountPoint + ".before-volume", F_OK) != 0)
        }
    }

    @Test func aPreQuotaWorkspaceLargerThanTheQuotaStaysWhereItWas() async throws {
        try await withVolume { volume in
            try FileManager.default.createDirectory(atPath: volume.mountPoint, withIntermediateDirectories: true)
            #expect(Self.allocate(volume.mountPoint + "/big", bytes: 1_200_000_000) == 0)
            await #expect {
                try await volume.ensureMounted(sizeGiB: 1, owner: accountA)
            } throws: { ($0 as? HostError)?.code == "workspace_too_large" }
            #expect(!volume.isMounted)
            #expect(FileManager.default.fileExists(atPath: volume.mountPoint + "/big"))
        }
    }

    @Test func ensuringTwiceIsANoOpAndGrowingKeepsTheFiles() async throws {
        try await withVolume { volume in
            try await volume.ensureMounted(sizeGiB: 1, owner: accountA)
            try Data("hello\n".utf8).write(to: URL(fileURLWithPath: volume.mountPoint + "/hello.txt"))

            let clock = ContinuousClock()
            var again = Outcome()
            let elapsed = try await clock.measure { again = try await volume.ensureMounted(sizeGiB: 1, owner: accountA) }
            print("ensureMounted on a mounted volume took \(elapsed)")
            #expect(!again.created && !again.mounted && again.resizedFromBytes == nil && again.sizeBytes == 1 << 30)
            #expect(elapsed < .milliseconds(50))
            #expect(Self.mountCount(volume.mountPoint) == 1)

            let grown = try await volume.ensureMounted(sizeGiB: 2, owner: accountA)
            #expect(grown.resizedFromBytes == 1 << 30 && grown.sizeBytes == 2 << 30 && grown.sizeNotApplied == nil)
            #expect(Self.mountCount(volume.mountPoint) == 1)
            #expect(try String(contentsOfFile: volume.mountPoint + "/hello.txt", encoding: .utf8) == "hello\n")
            #expect(Self.allocate(volume.mountPoint + "/big", bytes: 1_200_000_000) == 0)
            #expect(try #require(volume.usage()).sizeBytes > 1 << 30)

            // Below what is used, the quota cannot go down: the old size stays and the outcome says why.
            let refused = try await volume.ensureMounted(sizeGiB: 1, owner: accountA)
            #expect(refused.sizeBytes == 2 << 30 && refused.sizeNotApplied != nil)
            #expect(volume.isMounted)
            #expect(FileManager.default.fileExists(atPath: volume.mountPoint + "/big"))
        }
    }

    @Test func aVolumeUnmountedAndMountedAgainHasTheSameFiles() async throws {
        try await withVolume { volume in
            try await volume.ensureMounted(sizeGiB: 1, owner: accountA)
            try Data("still here\n".utf8).write(to: URL(fileURLWithPath: volume.mountPoint + "/file.txt"))

            try await volume.unmount()
            #expect(!volume.isMounted)
            #expect(volume.usage() == nil)
            #expect(!FileManager.default.fileExists(atPath: volume.mountPoint + "/file.txt"))
            #expect(!Self.loopDevices().contains(volume.image))
            try await volume.unmount()

            // What a host reboot leaves: the image alone; the next start mounts it again.
            let outcome = try await volume.ensureMounted(sizeGiB: 1, owner: accountA)
            #expect(outcome.mounted && !outcome.created)
            #expect(try String(contentsOfFile: volume.mountPoint + "/file.txt", encoding: .utf8) == "still here\n")
        }
    }

    @Test func aVolumeStillHeldElsewhereIsMountedThroughItsOwnLoopDevice() async throws {
        try await withVolume { volume in
            try await volume.ensureMounted(sizeGiB: 1, owner: accountA)
            // A mount namespace that keeps the filesystem alive, as a running sandbox does.
            let holder = try ProcessSpawner.spawn(
                Command("/usr/bin/unshare", ["-m", "--propagation", "private", "/bin/sleep", "30"], environment: [:]))
            defer { holder.kill(SIGKILL) }
            try await Task.sleep(for: .milliseconds(200))
            try await volume.unmount()
            #expect(Self.loopDevices().filter { $0 == volume.image }.count == 1)

            try await volume.ensureMounted(sizeGiB: 1, owner: accountA)
            #expect(volume.isMounted)
            #expect(Self.loopDevices().filter { $0 == volume.image }.count == 1)
        }
    }

    typealias Outcome = WorkspaceVolume.Outcome

    // MARK: Helpers

    /// `posix_fallocate`'s result: 0, or the errno (ENOSPC when it does not fit).
    static func allocate(_ path: String, bytes: Int) -> Int32 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return errno }
        defer { close(descriptor) }
        return posix_fallocate(descriptor, 0, off_t(bytes))
    }

    static func freeBytes(_ path: String) -> Int {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return 0 }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    /// The per-mount options (`rw,nosuid,nodev,…`) of what is mounted at `path`.
    static func mountOptions(_ path: String) -> String? {
        let lines = ProcessTable.text(of: "/proc/self/mountinfo")?.split(separator: "\n") ?? []
        return lines.map { $0.split(separator: " ") }.last { $0.count > 5 && $0[4] == path }.map { String($0[5]) }
    }

    static func mountCount(_ path: String) -> Int {
        MountTable.read().entries.filter { $0.mountPoint == path }.count
    }

    /// The images every loop device is attached to.
    static func loopDevices() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
        return names.compactMap { name in
            (try? String(contentsOfFile: "/sys/block/\(name)/loop/backing_file", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}

/// Runs `body` with a volume in a fresh temporary data folder; afterwards unmounts it and removes the folder.
private func withVolume(_ body: (WorkspaceVolume) async throws -> Void) async throws {
    var template = Array("/tmp/hfv-XXXXXX".utf8CString)
    guard mkdtemp(&template) != nil else {
        throw HostError(code: "test_setup", message: "mkdtemp failed: \(errorText(errno))")
    }
    let root = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let volume = WorkspaceVolume(image: root + "/volumes/t/u.img", mountPoint: root + "/workspaces/t/u")
    do {
        try await body(volume)
    } catch {
        try? await volume.unmount()
        try? FileManager.default.removeItem(atPath: root)
        throw error
    }
    try await volume.unmount()
    try FileManager.default.removeItem(atPath: root)
}
