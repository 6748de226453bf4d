import Foundation
import Glibc
import HoldfastCore
import HoldfastHTTP
import Logging

/// Users' workspaces on this host and their backups: snapshots, restores, progress.
///
/// One backup or restore at a time per workspace: a request that arrives while another runs
/// waits for it (two restic runs on one folder would only race). The session supervisor
/// decides *when* to snapshot; this actor knows *how*, and what is running now.
public actor WorkspaceBackups: WorkspaceService {
    public struct Configuration: Sendable {
        /// `WORKSPACES/<tenant id>/<user id>` is a user's home on this host.
        public var workspacesDirectory: String
        /// Scratch space for restores, on the same file system as the workspaces (restores
        /// land there first, then move into place with one rename).
        public var restoresDirectory: String

        public init(workspacesDirectory: String, restoresDirectory: String) {
            self.workspacesDirectory = workspacesDirectory
            self.restoresDirectory = restoresDirectory
        }
    }

    struct Key: Hashable {
        var tenant: Tenant.ID
        var user: User.ID
    }

    private struct Running {
        var id = UUID()
        var activity: WorkspaceActivity
    }

    let configuration: Configuration
    let driver: any BackupDriver
    let repositories: Repositories
    let accountFor: @Sendable (User) async throws -> UnixAccount?
    let now: @Sendable () -> Date
    let logger: Logger
    /// The last job queued per workspace; the next one waits for it.
    private var tails: [Key: Task<Void, Never>] = [:]
    private var running: [Key: [Running]] = [:]
    /// When the latest successful snapshot of each workspace started (what it covers).
    private var lastSnapshotStart: [Key: Date] = [:]

    public init(
        configuration: Configuration,
        driver: any BackupDriver,
        repositories: Repositories,
        accountFor: @escaping @Sendable (User) async throws -> UnixAccount?,
        now: @escaping @Sendable () -> Date,
        logger: Logger
    ) {
        self.configuration = configuration
        self.driver = driver
        self.repositories = repositories
        self.accountFor = accountFor
        self.now = now
        self.logger = logger
    }

    /// The user's home on this host (it may not exist yet).
    public nonisolated func workspace(tenant: Tenant.ID, user: User.ID) -> String {
        URL(fileURLWithPath: self.configuration.workspacesDirectory)
            .appendingPathComponent(tenant.description).appendingPathComponent(user.description).path
    }

    // MARK: Snapshots

    /// Snapshots the workspace and returns once the snapshot is verified in the repository;
    /// `nil` when the workspace is empty or missing: there is nothing to lose (and restic refuses
    /// to store an empty snapshot).
    public func snapshot(tenant: Tenant.ID, user: User.ID, session: Session.ID?) async throws -> BackupSummary? {
        let key = Key(tenant: tenant, user: user)
        let path = self.workspace(tenant: tenant, user: user)
        let activity = WorkspaceActivity(kind: .backup, startedAt: self.now(), sessionID: session, path: nil, progress: nil)
        let (summary, started) = try await self.serially(key, activity) { [driver, now] progress -> (BackupSummary?, Date) in
            let started = now()
            guard !WorkspaceScan.isMissingOrEmpty(path) else { return (nil, started) }
            return (try await driver.backup(workspace: path, tenant: tenant, user: user, session: session, progress: progress), started)
        }
        self.lastSnapshotStart[key] = max(started, self.lastSnapshotStart[key] ?? started)
        return summary
    }

    /// Whether anything in the workspace changed since its latest snapshot here started, so
    /// an interval snapshot is worth taking. Unknown (none taken since this server started)
    /// counts as changed.
    public func hasChangedSinceLastSnapshot(tenant: Tenant.ID, user: User.ID) async -> Bool {
        guard let since = self.lastSnapshotStart[Key(tenant: tenant, user: user)] else { return true }
        let path = self.workspace(tenant: tenant, user: user)
        return await Task.detached(priority: .utility) { WorkspaceScan.changed(path, since: since) }.value
    }

    /// Puts the newest snapshot back when this host has no copy of the workspace (a new host,
    /// a cleaned disk), before a session starts on it. Returns the snapshot restored, if any.
    public func restoreIfMissing(tenant: Tenant.ID, user: User.ID) async throws -> Snapshot? {
        let key = Key(tenant: tenant, user: user)
        let path = self.workspace(tenant: tenant, user: user)
        guard WorkspaceScan.isMissingOrEmpty(path) else { return nil }
        guard let newest = try await self.driver.snapshots(tenant: tenant, user: user).first else { return nil }
        let activity = WorkspaceActivity(kind: .restore, startedAt: self.now(), sessionID: nil, path: "", progress: nil)
        try await self.serially(key, activity) { [driver, configuration] progress in
            guard WorkspaceScan.isMissingOrEmpty(path) else { return }
            let staging = try Self.stagingPath(in: configuration.restoresDirectory)
            _ = try await driver.restore(
                tenant: tenant, user: user, snapshot: newest.id, path: .root, into: staging, progress: progress)
            // An empty folder left by a cleaned disk makes way; a non-empty one was never touched.
            _ = rmdir(path)
            try FileManager.default.createDirectory(
                atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            try Self.moveIntoPlace(staging, to: path)
            // Private like every workspace; the host hands it to the session's account at launch.
            _ = chmod(path, 0o700)
        }
        self.logger.info(
            "workspace restored from the newest snapshot", metadata: ["user.id": "\(user)", "snapshot": "\(newest.shortID)"])
        return newest
    }

    /// Forgets the users' snapshots the policy does not keep, then prunes the tenant's repository.
    public func applyRetention(_ policy: RetentionPolicy, tenant: Tenant.ID, users: [User.ID]) async throws {
        guard !users.isEmpty else { return }
        try await self.driver.applyRetention(policy, tenant: tenant, users: users)
    }

    // MARK: WorkspaceService

    public func snapshots(for user: User) async throws -> [Snapshot] {
        try await self.driver.snapshots(tenant: user.tenantID, user: user.id)
    }

    public func files(in snapshot: String, path: WorkspacePath, for user: User) async throws -> [SnapshotEntry] {
        try await self.driver.list(tenant: user.tenantID, user: user.id, snapshot: snapshot, path: path)
    }

    public func restore(snapshot: String, path: WorkspacePath, for user: User) async throws -> WorkspaceRestore {
        let key = Key(tenant: user.tenantID, user: user.id)
        let zone = try await self.repositories.tenants.find(id: user.tenantID).flatMap { TimeZone(identifier: $0.timeZone) } ?? .gmt
        let account = try await self.accountFor(user)
        let workspace = self.workspace(tenant: user.tenantID, user: user.id)
        let activity = WorkspaceActivity(kind: .restore, startedAt: self.now(), sessionID: nil, path: path.description, progress: nil)
        return try await self.serially(key, activity) { [driver, configuration] progress in
            let staging = try Self.stagingPath(in: configuration.restoresDirectory)
            // The driver checks that the snapshot is the user's, and says which one it was.
            let summary = try await driver.restore(
                tenant: user.tenantID, user: user.id, snapshot: snapshot, path: path, into: staging, progress: progress)
            do {
                try Self.giveAway(staging, to: account)
                try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
                let folderBase = "Restored " + Self.folderTime(summary.snapshot.time, zone: zone)
                let folder = try Self.moveBeside(staging, into: workspace, named: folderBase)
                let restoredTo = path.isRoot ? folder : "\(folder)/\(path.name)"
                return WorkspaceRestore(restoredTo: restoredTo, summary: summary)
            } catch {
                try? FileManager.default.removeItem(atPath: staging)
                throw error
            }
        }
    }

    public func activity(for user: User) async -> [WorkspaceActivity] {
        (self.running[Key(tenant: user.tenantID, user: user.id)] ?? []).map(\.activity)
    }

    // MARK: Running one job at a time per workspace

    /// Runs `job` after every earlier job of the workspace, listing it as running (with its
    /// progress) while it does.
    private func serially<Result: Sendable>(
        _ key: Key, _ activity: WorkspaceActivity,
        _ job: @escaping @Sendable (_ progress: @escaping @Sendable (BackupProgress) -> Void) async throws -> Result
    ) async throws -> Result {
        let previous = self.tails[key]
        let (done, finished) = AsyncStream.makeStream(of: Never.self)
        let tail = Task { for await _ in done {} }
        self.tails[key] = tail
        defer {
            finished.finish()
            if self.tails[key] == tail { self.tails[key] = nil }
        }
        await previous?.value

        let entry = Running(activity: activity)
        self.running[key, default: []].append(entry)
        defer { self.running[key]?.removeAll { $0.id == entry.id } }
        return try await job { progress in
            Task { await self.update(key, entry.id, progress) }
        }
    }

    private func update(_ key: Key, _ id: UUID, _ progress: BackupProgress) {
        guard let index = self.running[key]?.firstIndex(where: { $0.id == id }) else { return }
        self.running[key]?[index].activity.progress = progress
    }

    // MARK: Files

    /// `2026-11-26 14:05` in the tenant's zone.
    public static func folderTime(_ time: Date, zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: time)
        return String(
            format: "%04d-%02d-%02d %02d:%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0, parts.minute ?? 0)
    }

    /// A fresh path in the restores folder (created 0700 if needed); the path itself does not exist.
    static func stagingPath(in directory: String) throws -> String {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return directory + "/" + UUID().uuidString.lowercased()
    }

    /// Hands the top of a restored folder to the session's account (restic kept the owners inside).
    static func giveAway(_ path: String, to account: UnixAccount?) throws {
        guard let account else { return }
        guard lchown(path, account.uid, account.gid) == 0 else {
            throw CoreError(
                .unavailable, code: "restore_failed", message: "Could not give the restored folder to your account (errno \(errno)).")
        }
    }

    /// Renames `source` to `WORKSPACE/NAME`, `NAME (2)`, … whichever does not exist: never over
    /// anything, and never through a link (rename does not follow its last component, and
    /// RENAME_NOREPLACE refuses one that is there).
    static func moveBeside(_ source: String, into workspace: String, named base: String) throws -> String {
        for attempt in 1...100 {
            let name = attempt == 1 ? base : "\(base) (\(attempt))"
            if renameNoReplace(source, workspace + "/" + name) == 0 { return name }
            guard errno == EEXIST else { break }
        }
        throw CoreError(
            .unavailable, code: "restore_failed",
            message:
                "Could not move the restored files into your workspace (\(String(cString: strerror(errno)))); nothing in it was changed.")
    }

    /// Renames `source` to `target`, which must not exist.
    static func moveIntoPlace(_ source: String, to target: String) throws {
        guard renameNoReplace(source, target) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: source)
            throw CoreError(.unavailable, code: "restore_failed", message: "Could not put the restored workspace in place (\(reason)).")
        }
    }
}

/// `renameat2(…, RENAME_NOREPLACE)`: fails with EEXIST rather than replace the target.
private func renameNoReplace(_ source: String, _ target: String) -> Int32 {
    // Glibc's module hides renameat2 (no _GNU_SOURCE); look it up in the C library.
    typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else {
        errno = ENOSYS
        return -1
    }
    let renameNoReplaceFlag: UInt32 = 1  // RENAME_NOREPLACE, <linux/fs.h>
    return unsafeBitCast(symbol, to: RenameAt2.self)(AT_FDCWD, source, AT_FDCWD, target, renameNoReplaceFlag)
}

/// Cheap looks at a workspace folder.
enum WorkspaceScan {
    static func isMissingOrEmpty(_ path: String) -> Bool {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else {
            return !FileManager.default.fileExists(atPath: path)
        }
        return entries.isEmpty
    }

    /// Whether any entry (or the folder itself) was modified at or after `since`: a new, edited,
    /// renamed or deleted file shows in its own or its folder's modification time. Links are not
    /// followed.
    static func changed(_ path: String, since: Date) -> Bool {
        func touched(_ entry: String) -> Bool {
            let attributes = try? FileManager.default.attributesOfItem(atPath: entry)
            return (attributes?[.modificationDate] as? Date).map { $0 >= since } ?? false
        }
        if touched(path) { return true }
        guard let walker = FileManager.default.enumerator(atPath: path) else { return false }
        for case let relative as String in walker where touched(path + "/" + relative) {
            return true
        }
        return false
    }
}
