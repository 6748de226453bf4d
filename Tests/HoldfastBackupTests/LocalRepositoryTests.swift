import Foundation
import Glibc
import HoldfastBackup
import HoldfastCore
import Synchronization
import Testing

/// The driver against real restic and a repository in a temporary folder.
@Suite("Restic driver, local repository")
struct LocalRepositoryTests {
    let userA = User.ID()
    let userB = User.ID()

    /// A workspace with nested folders, a name full of glob characters and links.
    func sampleFiles() -> [String: [UInt8]] {
        [
            "top.txt": Array("top\n".utf8),
            "notes/today.txt": Array("today\n".utf8),
            "notes/deep/data.bin": noise(300_000, seed: 1),
            "we*ird [1]?/inner.txt": Array("weird\n".utf8),
        ]
    }

    @Test func aBackupCanBeListedAndRestoredFileFolderAndRoot() async throws {
        try await withFixture { fixture in
            let workspace = try fixture.workspace("ws", self.sampleFiles())
            try FileManager.default.createSymbolicLink(atPath: workspace + "/link", withDestinationPath: "notes")
            let driver = fixture.driver()
            let session = Session.ID()
            let reports = Mutex<[BackupProgress]>([])

            let summary = try await driver.backup(
                workspace: workspace, tenant: fixture.tenant, user: self.userA, session: session,
                progress: { report in reports.withLock { $0.append(report) } })
            #expect(summary.filesNew == 4)
            #expect(summary.totalFiles == 4)
            #expect(summary.totalBytes == 300_016)
            #expect(summary.bytesAdded > 300_000)
            #expect(summary.snapshot.id.count == 64)
            #expect(summary.snapshot.userID == self.userA)
            #expect(summary.snapshot.sessionID == session)
            #expect(reports.withLock { $0.last?.fraction } == 1)

            let snapshots = try await driver.snapshots(tenant: fixture.tenant, user: self.userA)
            #expect(snapshots == [summary.snapshot])
            let id = summary.snapshot.shortID  // a short prefix is accepted

            let root = try await driver.list(tenant: fixture.tenant, user: self.userA, snapshot: id, path: .root)
            #expect(root.map(\.path) == ["link", "notes", "top.txt", "we*ird [1]?"])
            #expect(root.map(\.kind) == [.symlink, .directory, .file, .directory])
            #expect(root.first { $0.name == "top.txt" }?.size == 4)
            #expect(root.allSatisfy { $0.modifiedAt != nil })
            let notes = try await driver.list(tenant: fixture.tenant, user: self.userA, snapshot: id, path: WorkspacePath("notes"))
            #expect(notes.map(\.path) == ["notes/deep", "notes/today.txt"])
            let file = try await driver.list(
                tenant: fixture.tenant, user: self.userA, snapshot: id, path: WorkspacePath("notes/deep/data.bin"))
            #expect(file.map(\.path) == ["notes/deep/data.bin"])
            #expect(file.first?.size == 300_000)

            let original = try contents(of: workspace)
            let fileTarget = fixture.target("file")
            let restoredFile = try await driver.restore(
                tenant: fixture.tenant, user: self.userA, snapshot: id, path: WorkspacePath("notes/deep/data.bin"), into: fileTarget,
                progress: { _ in })
            #expect(try contents(of: fileTarget) == ["data.bin": original["notes/deep/data.bin"] ?? []])
            #expect(restoredFile.files == 1)
            #expect(restoredFile.bytes == 300_000)

            let folderTarget = fixture.target("folder")
            _ = try await driver.restore(
                tenant: fixture.tenant, user: self.userA, snapshot: id, path: WorkspacePath("notes"), into: folderTarget,
                progress: { _ in })
            #expect(
                try contents(of: folderTarget)
                    == ["notes/today.txt": original["notes/today.txt"] ?? [], "notes/deep/data.bin": original["notes/deep/data.bin"] ?? []])

            let weirdTarget = fixture.target("weird")
            _ = try await driver.restore(
                tenant: fixture.tenant, user: self.userA, snapshot: id, path: WorkspacePath("we*ird [1]?"), into: weirdTarget,
                progress: { _ in })
            #expect(try contents(of: weirdTarget) == ["we*ird [1]?/inner.txt": Array("weird\n".utf8)])

            let rootTarget = fixture.target("root")
            let restoreReports = Mutex<[BackupProgress]>([])
            let restoredRoot = try await driver.restore(
                tenant: fixture.tenant, user: self.userA, snapshot: summary.snapshot.id, path: .root, into: rootTarget,
                progress: { report in restoreReports.withLock { $0.append(report) } })
            #expect(try contents(of: rootTarget) == original)
            #expect(restoredRoot.files == 4)
            #expect(restoredRoot.bytes == 300_016)
            #expect(
                restoreReports.withLock { $0.last }
                    == BackupProgress(fraction: 1, filesDone: 4, totalFiles: 4, bytesDone: 300_016, totalBytes: 300_016))
            // Staging folders are gone: only the four targets remain.
            #expect(try fixture.names(in: fixture.root + "/restores") == ["file", "folder", "root", "weird"])
        }
    }

    @Test func anEmptiedWorkspaceIsStoredAsAnEmptySnapshotThatRestoresNothing() async throws {
        try await withFixture { fixture in
            let workspace = try fixture.workspace("ws", ["draft.txt": Array("chapter one\n".utf8)])
            let driver = fixture.driver()
            let kept = try await driver.backup(
                workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil, progress: { _ in })
            #expect(!kept.snapshot.isEmpty)
            try FileManager.default.removeItem(atPath: workspace + "/draft.txt")

            let emptied = try await driver.backup(
                workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil, progress: { _ in })
            #expect(emptied.snapshot.isEmpty)
            let newest = try #require(try await driver.snapshots(tenant: fixture.tenant, user: self.userA).first)
            #expect(newest.id == emptied.snapshot.id && newest.isEmpty)
            #expect(try await driver.list(tenant: fixture.tenant, user: self.userA, snapshot: newest.id, path: .root).isEmpty)
            let refused = await #expect(throws: CoreError.self) {
                _ = try await driver.restore(
                    tenant: fixture.tenant, user: self.userA, snapshot: newest.id, path: .root, into: fixture.target("empty"),
                    progress: { _ in })
            }
            #expect(refused?.code == "empty_snapshot")
        }
    }

    @Test func anUnchangedSecondBackupUsesTheSameUsersParentEvenWhenAnotherUserBackedUpTheSamePath() async throws {
        try await withFixture { fixture in
            let workspace = try fixture.workspace("ws", self.sampleFiles())
            let driver = fixture.driver()
            let first = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }

            // User B's workspace is mounted at the same path meanwhile; restic alone would then take
            // B's snapshot as the parent of A's next backup (same host, same path).
            try FileManager.default.moveItem(atPath: workspace, toPath: workspace + ".a")
            try fixture.workspace("ws", ["other.txt": Array("b\n".utf8)])
            _ = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userB, session: nil) { _ in }
            try FileManager.default.removeItem(atPath: workspace)
            try FileManager.default.moveItem(atPath: workspace + ".a", toPath: workspace)

            let second = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }
            #expect(second.filesUnmodified == second.totalFiles)
            #expect(second.filesNew == 0)
            #expect(second.totalFiles == first.totalFiles)
            #expect(second.bytesAdded < 16_384, "only folder metadata may change, not file data")
            #expect(second.snapshot.id != first.snapshot.id)
            let snapshots = try await driver.snapshots(tenant: fixture.tenant, user: self.userA)
            #expect(snapshots.map(\.id) == [second.snapshot.id, first.snapshot.id], "newest first")
        }
    }

    @Test func usersOfOneTenantCannotSeeOrRestoreEachOthersSnapshots() async throws {
        try await withFixture { fixture in
            let driver = fixture.driver()
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: self.userA) == [], "no repository yet")
            let workspaceA = try fixture.workspace("a", ["a.txt": Array("a\n".utf8)])
            let workspaceB = try fixture.workspace("b", ["b.txt": Array("b\n".utf8)])
            let snapshotA = try await driver.backup(workspace: workspaceA, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }
            let snapshotB = try await driver.backup(workspace: workspaceB, tenant: fixture.tenant, user: self.userB, session: nil) { _ in }

            #expect(try await driver.snapshots(tenant: fixture.tenant, user: self.userA).map(\.id) == [snapshotA.snapshot.id])
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: self.userB).map(\.id) == [snapshotB.snapshot.id])
            for id in [snapshotB.snapshot.id, snapshotB.snapshot.shortID] {
                let listing = await #expect(throws: CoreError.self) {
                    try await driver.list(tenant: fixture.tenant, user: self.userA, snapshot: id, path: .root)
                }
                #expect(listing?.kind == .notFound)
                let restore = await #expect(throws: CoreError.self) {
                    try await driver.restore(
                        tenant: fixture.tenant, user: self.userA, snapshot: id, path: .root, into: fixture.target("stolen"),
                        progress: { _ in })
                }
                #expect(restore?.kind == .notFound)
            }
            #expect(!FileManager.default.fileExists(atPath: fixture.target("stolen")))
            // Another tenant's driver sees nothing either.
            #expect(try await driver.snapshots(tenant: Tenant.ID(), user: self.userA) == [])
            let malformed = await #expect(throws: CoreError.self) {
                try await driver.list(tenant: fixture.tenant, user: self.userA, snapshot: "--help", path: .root)
            }
            #expect(malformed?.code == "invalid_snapshot_id")
        }
    }

    @Test func aRestoreIntoAnExistingTargetIsAConflictAndChangesNothing() async throws {
        try await withFixture { fixture in
            let workspace = try fixture.workspace("ws", self.sampleFiles())
            let driver = fixture.driver()
            let summary = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }
            let target = try fixture.workspace("restores/existing", ["mine.txt": Array("keep me\n".utf8)])
            let error = await #expect(throws: CoreError.self) {
                try await driver.restore(
                    tenant: fixture.tenant, user: self.userA, snapshot: summary.snapshot.id, path: .root, into: target, progress: { _ in })
            }
            #expect(error?.kind == .conflict)
            #expect(error?.code == "restore_target_exists")
            #expect(try contents(of: target) == ["mine.txt": Array("keep me\n".utf8)])
            #expect(try fixture.names(in: fixture.root + "/restores") == ["existing"])
        }
    }

    @Test func aPathThroughASymbolicLinkInTheSnapshotIsNotFound() async throws {
        try await withFixture { fixture in
            let workspace = try fixture.workspace("ws", self.sampleFiles())
            try FileManager.default.createSymbolicLink(atPath: workspace + "/link", withDestinationPath: "notes")
            try FileManager.default.createSymbolicLink(atPath: workspace + "/etc", withDestinationPath: "/etc")
            let driver = fixture.driver()
            let id = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }.snapshot
                .id
            for path in ["link/today.txt", "link", "etc/passwd", "missing", "notes/missing.txt"] {
                let listing = await #expect(throws: CoreError.self) {
                    try await driver.list(tenant: fixture.tenant, user: self.userA, snapshot: id, path: WorkspacePath(path))
                }
                #expect(listing?.kind == .notFound, "listing \(path)")
                let restore = await #expect(throws: CoreError.self) {
                    try await driver.restore(
                        tenant: fixture.tenant, user: self.userA, snapshot: id, path: WorkspacePath(path), into: fixture.target("x"),
                        progress: { _ in })
                }
                #expect(restore?.kind == .notFound, "restoring \(path)")
            }
            #expect(try fixture.names(in: fixture.root + "/restores") == [])
        }
    }

    @Test func aStaleLockBlocksNeitherTheNextBackupNorRetention() async throws {
        try await withFixture { fixture in
            let workspace = try fixture.workspace("ws", ["a.txt": Array("a\n".utf8)])
            let driver = fixture.driver()
            _ = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }

            try await leaveStaleExclusiveLock(fixture)
            _ = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }
            try await leaveStaleExclusiveLock(fixture)
            try await driver.applyRetention(
                RetentionPolicy(keepLast: 1, keepHourly: 0, keepDaily: 0, keepWeekly: 0), tenant: fixture.tenant, users: [self.userA])
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: self.userA).count == 1)
            // `check` needs the repository to itself: no lock of a dead run may be left in its way.
            // (Whether `locks/` is empty at this instant is restic's business: under load it was
            // seen holding a lock file of a finished command for a moment.)
            try await driver.check(tenant: fixture.tenant)
        }
    }

    @Test func aRememberedParentThatWasForgottenIsLookedUpAgain() async throws {
        try await withFixture { fixture in
            let workspace = try fixture.workspace("ws", ["a.txt": Array("a\n".utf8), "b.txt": Array("b\n".utf8)])
            let driver = fixture.driver()
            let first = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }
            // Another server (a second driver) backs up a change and its retention forgets the first
            // snapshot, which this driver remembers as the user's newest.
            let other = fixture.driver()
            try Data("a2\n".utf8).write(to: URL(fileURLWithPath: workspace + "/a.txt"))
            let second = try await other.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }
            try await other.applyRetention(
                RetentionPolicy(keepLast: 1, keepHourly: 0, keepDaily: 0, keepWeekly: 0), tenant: fixture.tenant, users: [self.userA])
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: self.userA).map(\.id) == [second.snapshot.id])

            let third = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }
            #expect(third.snapshot.id != first.snapshot.id)
            // The newest snapshot was found and used as the parent: nothing was read again.
            #expect(third.filesUnmodified == 2)
            #expect(third.filesNew == 0)
            let fourth = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }
            #expect(fourth.filesUnmodified == 2)
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: self.userA).count == 3)
        }
    }

    @Test func retentionKeepsTheNewestSnapshotsOfEachUser() async throws {
        try await withFixture { fixture in
            let workspace = try fixture.workspace("ws", ["a.txt": Array("0\n".utf8)])
            let other = try fixture.workspace("other", ["b.txt": Array("b\n".utf8)])
            let driver = fixture.driver()
            var ids: [String] = []
            for round in 1...3 {
                try Data("\(round)\n".utf8).write(to: URL(fileURLWithPath: workspace + "/a.txt"))
                // Each with its own session tag: grouping must not split the user's snapshots by tags.
                ids.append(
                    try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: Session.ID()) { _ in }
                        .snapshot.id)
            }
            let kept = try await driver.backup(workspace: other, tenant: fixture.tenant, user: self.userB, session: nil) { _ in }

            try await driver.applyRetention(
                RetentionPolicy(keepLast: 2, keepHourly: 0, keepDaily: 0, keepWeekly: 0), tenant: fixture.tenant,
                users: [self.userA, self.userB])
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: self.userA).map(\.id) == [ids[2], ids[1]])
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: self.userB).map(\.id) == [kept.snapshot.id])
            try await driver.check(tenant: fixture.tenant)

            let invalid = await #expect(throws: CoreError.self) {
                try await driver.applyRetention(
                    RetentionPolicy(keepLast: 0, keepHourly: 0, keepDaily: 0, keepWeekly: 0), tenant: fixture.tenant, users: [self.userA])
            }
            #expect(invalid?.code == "invalid_retention")
        }
    }

    @Test(arguments: ["config", "keys"])
    func aDamagedRepositoryIsUnavailableWithAHint(_ damage: String) async throws {
        try await withFixture { fixture in
            let workspace = try fixture.workspace("ws", ["a.txt": Array("a\n".utf8)])
            let driver = fixture.driver()
            _ = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }
            if damage == "config" {
                try FileManager.default.removeItem(atPath: fixture.tenantRepository + "/config")
            } else {
                for key in try fixture.names(in: fixture.tenantRepository + "/keys") {
                    try Data(noise(300, seed: 7)).write(to: URL(fileURLWithPath: fixture.tenantRepository + "/keys/" + key))
                }
            }
            let listing = await #expect(throws: CoreError.self) {
                try await driver.snapshots(tenant: fixture.tenant, user: self.userA)
            }
            #expect(listing?.kind == .unavailable)
            #expect(listing?.code == "backup_repository_unavailable")
            #expect(listing?.message.contains(fixture.tenantRepository) == true)
            let backup = await #expect(throws: CoreError.self) {
                try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }
            }
            #expect(backup?.code == "backup_repository_unavailable")
            let check = await #expect(throws: CoreError.self) { try await driver.check(tenant: fixture.tenant) }
            #expect(check?.code == "backup_repository_unavailable")
        }
    }

    /// The server killed during a tenant's very first backup, inside `restic init`: the folder has
    /// restic's empty layout and maybe a key, but no config and no data. The next backup works.
    @Test func aRepositoryWhoseInitialisationWasKilledIsCreatedAfresh() async throws {
        try await withFixture { fixture in
            let workspace = try fixture.workspace("ws", ["a.txt": Array("a\n".utf8)])
            let driver = fixture.driver()
            for folder in ["data/00", "data/ff", "index", "keys", "locks", "snapshots"] {
                try FileManager.default.createDirectory(atPath: fixture.tenantRepository + "/" + folder, withIntermediateDirectories: true)
            }
            try Data(noise(300, seed: 3)).write(
                to: URL(fileURLWithPath: fixture.tenantRepository + "/keys/" + String(repeating: "a", count: 64)))
            // The password file is written before `restic init` runs.
            try FileManager.default.createDirectory(atPath: fixture.secretsDirectory, withIntermediateDirectories: true)
            try Data(String(repeating: "5", count: 64).utf8).write(to: URL(fileURLWithPath: fixture.passwordFile))
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: self.userA).isEmpty)
            let summary = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: self.userA).map(\.id) == [summary.snapshot.id])
            let aside = try FileManager.default.contentsOfDirectory(atPath: fixture.repositoriesDirectory).filter {
                $0.contains(".interrupted-init-")
            }
            #expect(aside.count == 1)
        }
    }

    /// Found by the RPO benchmark: two users' first backups at once each ran `restic init`, and the
    /// repository ended up with data one of the keys could not decrypt.
    @Test func concurrentFirstBackupsOfOneTenantCreateOneRepository() async throws {
        try await withFixture { fixture in
            let driver = fixture.driver()
            let users = (0..<4).map { _ in User.ID() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, user) in users.enumerated() {
                    let workspace = try fixture.workspace("ws\(index)", ["f.txt": Array("user \(index)\n".utf8)])
                    group.addTask {
                        _ = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: user, session: nil) { _ in }
                    }
                }
                try await group.waitForAll()
            }
            for (index, user) in users.enumerated() {
                let snapshots = try await driver.snapshots(tenant: fixture.tenant, user: user)
                #expect(snapshots.count == 1)
                let target = fixture.target("user\(index)")
                _ = try await driver.restore(
                    tenant: fixture.tenant, user: user, snapshot: try #require(snapshots.first).id, path: .root, into: target
                ) { _ in }
                #expect(FileManager.default.contents(atPath: target + "/f.txt") == Data("user \(index)\n".utf8))
            }
            #expect(try fixture.names(in: fixture.tenantRepository + "/keys").count == 1)
            try await driver.check(tenant: fixture.tenant)
        }
    }

    @Test func thePasswordIsAPrivateFileInAPrivateFolderAndIsKept() async throws {
        try await withFixture { fixture in
            let workspace = try fixture.workspace("ws", ["a.txt": Array("a\n".utf8)])
            let driver = fixture.driver()
            let missing = await #expect(throws: CoreError.self) { try await driver.check(tenant: fixture.tenant) }
            #expect(missing?.code == "backup_repository_missing")
            _ = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }
            var info = stat()
            #expect(stat(fixture.secretsDirectory, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o700)
            #expect(stat(fixture.passwordFile, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600)
            let password = try String(contentsOfFile: fixture.passwordFile, encoding: .utf8)
            #expect(password.count == 64)
            let isHex = password.allSatisfy(\.isHexDigit)
            #expect(isHex)

            _ = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.userA, session: nil) { _ in }
            #expect(try String(contentsOfFile: fixture.passwordFile, encoding: .utf8) == password)
            try await driver.check(tenant: fixture.tenant)

            let noWorkspace = await #expect(throws: CoreError.self) {
                try await driver.backup(workspace: fixture.root + "/nowhere", tenant: fixture.tenant, user: self.userA, session: nil) { _ in
                }
            }
            #expect(noWorkspace?.code == "workspace_missing")
        }
    }
}

/// restic 0.14 retries for up to 15 minutes to read a lock that was listed and then removed by
/// the restic that held it. A dangling link in `locks/` makes real restic hit exactly that path:
/// listed, then `open` fails with ENOENT.
@Suite("Restic driver, a lock gone while restic reads it")
struct VanishedLockTests {
    @Test func aBackupRunsAgainInsteadOfWaitingOutTheTimeout() async throws {
        try await withFixture { fixture in
            let workspace = try fixture.workspace("ws", ["notes.txt": Array("notes\n".utf8)])
            let driver = fixture.driver(timeout: .seconds(40))
            let user = User.ID()
            // The repository exists (a first backup), then another "restic" leaves a lock behind
            // that is gone by the time it is read; it stays gone after a second.
            _ = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: user, session: nil, progress: { _ in })
            let lock = fixture.tenantRepository + "/locks/" + String(repeating: "ab", count: 32)
            try FileManager.default.createSymbolicLink(atPath: lock, withDestinationPath: fixture.root + "/no-such-lock")
            let removal = Task {
                try await Task.sleep(for: .seconds(1))
                try FileManager.default.removeItem(atPath: lock)
            }
            try Data("more\n".utf8).write(to: URL(fileURLWithPath: workspace + "/more.txt"))

            // Left to itself restic would still be retrying that lock when the 40 s timeout
            // stopped it, and the backup would fail.
            let summary = try await driver.backup(
                workspace: workspace, tenant: fixture.tenant, user: user, session: nil, progress: { _ in })
            try await removal.value
            #expect(summary.totalFiles == 2)
            // Listings take no lock at all: the dangling lock does not slow them.
            try FileManager.default.createSymbolicLink(atPath: lock, withDestinationPath: fixture.root + "/no-such-lock")
            let snapshots = try await driver.snapshots(tenant: fixture.tenant, user: user)
            #expect(snapshots.count == 2)
            let listed = try await driver.list(tenant: fixture.tenant, user: user, snapshot: summary.snapshot.shortID, path: .root)
            #expect(listed.map(\.path) == ["more.txt", "notes.txt"])
        }
    }
}

/// How many restic processes run at once, and listings that share one run. restic runs through
/// a wrapper that logs when each run starts and ends (with the command), then runs the real one.
@Suite("Restic driver, processes at once")
struct ResticProcessLimitTests {
    struct Run {
        var command: String
        var start: UInt64
        var end: UInt64
    }

    /// A driver whose restic is `/usr/bin/restic` behind a logging wrapper; the log's runs.
    func loggingDriver(_ fixture: BackupFixture, maximumProcesses: Int) throws -> (ResticBackupDriver, () throws -> [Run]) {
        let log = fixture.root + "/runs.log"
        let wrapper = fixture.root + "/restic"
        let script = """
            #!/bin/sh
            echo "start $$ $1 $(date +%s%N)" >> \(log)
            \(resticPath) "$@"
            status=$?
            echo "end $$ $1 $(date +%s%N)" >> \(log)
            exit $status

            """
        try Data(script.utf8).write(to: URL(fileURLWithPath: wrapper))
        _ = chmod(wrapper, 0o755)
        let driver = ResticBackupDriver(
            configuration: .init(
                repository: .local(directory: fixture.repositoriesDirectory), secretsDirectory: fixture.secretsDirectory,
                cacheDirectory: fixture.root + "/cache", resticPath: wrapper, interruptGrace: .seconds(3),
                maximumProcesses: maximumProcesses, environment: [:]),
            logger: testLogger)
        let runs = { () throws -> [Run] in
            let lines = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            var started: [String: (String, UInt64)] = [:]
            var runs: [Run] = []
            for line in lines.split(separator: "\n") {
                let fields = line.split(separator: " ").map(String.init)
                guard fields.count == 4, let time = UInt64(fields[3]) else { continue }
                if fields[0] == "start" { started[fields[1]] = (fields[2], time) }
                if fields[0] == "end", let (command, start) = started[fields[1]] {
                    runs.append(Run(command: command, start: start, end: time))
                }
            }
            return runs
        }
        return (driver, runs)
    }

    /// The most runs that overlapped in time.
    func mostAtOnce(_ runs: [Run]) -> Int {
        let edges = runs.flatMap { [($0.start, 1), ($0.end, -1)] }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
        var (now, most) = (0, 0)
        for (_, step) in edges {
            now += step
            most = max(most, now)
        }
        return most
    }

    @Test func noMoreResticProcessesRunThanTheLimitAndTheRestWait() async throws {
        try await withFixture { fixture in
            let users = (0..<4).map { _ in User.ID() }
            let seed = fixture.driver()
            for (index, user) in users.enumerated() {
                let workspace = try fixture.workspace("ws\(index)", ["notes.txt": Array("user \(index)\n".utf8)])
                _ = try await seed.backup(workspace: workspace, tenant: fixture.tenant, user: user, session: nil, progress: { _ in })
            }
            for limit in [1, 4] {
                let (driver, runs) = try self.loggingDriver(fixture, maximumProcesses: limit)
                let before = try runs().count
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for user in users {
                        group.addTask { try await driver.snapshots(tenant: fixture.tenant, user: user).count }
                    }
                    for try await count in group { #expect(count == 1) }
                }
                let these = Array(try runs().dropFirst(before))
                #expect(these.count == 4)
                // One at a time with a limit of 1; with room for all four, they overlap (the check can fail).
                if limit == 1 {
                    #expect(self.mostAtOnce(these) == 1)
                } else {
                    #expect(self.mostAtOnce(these) > 1)
                }
            }
        }
    }

    @Test func listingsOfOneUserAtTheSameTimeShareOneResticRun() async throws {
        try await withFixture { fixture in
            let user = User.ID()
            let workspace = try fixture.workspace("ws", ["notes.txt": Array("notes\n".utf8)])
            let (driver, runs) = try self.loggingDriver(fixture, maximumProcesses: 8)
            _ = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: user, session: nil, progress: { _ in })
            let before = try runs().count
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 {
                    group.addTask { try await driver.snapshots(tenant: fixture.tenant, user: user).count }
                }
                for try await count in group { #expect(count == 1) }
            }
            #expect(try runs().dropFirst(before).map(\.command) == ["snapshots"])
            // A backup since makes the next listing a new run, which sees the new snapshot.
            try Data("more\n".utf8).write(to: URL(fileURLWithPath: workspace + "/more.txt"))
            _ = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: user, session: nil, progress: { _ in })
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: user).count == 2)
        }
    }
}
