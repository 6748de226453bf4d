import Foundation
import Glibc
import HoldfastCore
import HoldfastHTTP
import HoldfastHost
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
        /// land there first, then move into place with one rename). A workspace that is a
        /// volume has its own scratch space on the volume.
        public var restoresDirectory: String
        /// `VOLUMES/<tenant id>/<user id>.img` is the image of a user's workspace volume, which
        /// enforces the disk quota; `nil` gives workspaces no quota (plain folders).
        public var volumesDirectory: String?

        public init(workspacesDirectory: String, restoresDirectory: String, volumesDirectory: String? = nil) {
            self.workspacesDirectory = workspacesDirectory
            self.restoresDirectory = restoresDirectory
            self.volumesDirectory = volumesDirectory
        }
    }

    struct Key: Hashable {
        var tenant: Tenant.ID
        var user: User.ID
    }

    /// A queue of jobs that run one after another: backups and restores of a workspace in one,
    /// mounting its volume in another (a session start should not wait for a snapshot).
    struct Lane: Hashable {
        var key: Key
        var isVolume = false
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
    /// Measures a workspace instead of its volume: the composition root's tests inject it, since a
    /// real volume is mounted only by a session start as root.
    let measureUsage: (@Sendable (Tenant.ID, User.ID) -> (usedBytes: Int, sizeBytes: Int)?)?
    /// The last job queued per lane; the next one waits for it.
    private var tails: [Lane: Task<Void, Never>] = [:]
    /// Set once the host has said it cannot give workspaces a quota (the server is not root).
    private var quotaUnavailable = false
    private var running: [Key: [Running]] = [:]
    /// When the latest successful snapshot of each workspace started (what it covers).
    private var lastSnapshotStart: [Key: Date] = [:]
    /// The snapshot of each workspace asked for and not started yet (waiting for the one before
    /// it): a later request joins it, since it will hold everything written before it starts.
    private var queuedSnapshots: [Key: (id: UUID, task: Task<(BackupSummary?, Date), any Error>)] = [:]

    public init(
        configuration: Configuration,
        driver: any BackupDriver,
        repositories: Repositories,
        accountFor: @escaping @Sendable (User) async throws -> UnixAccount?,
        now: @escaping @Sendable () -> Date,
        logger: Logger,
        measureUsage: (@Sendable (Tenant.ID, User.ID) -> (usedBytes: Int, sizeBytes: Int)?)? = nil
    ) {
        self.configuration = configuration
        self.driver = driver
        self.repositories = repositories
        self.accountFor = accountFor
        self.now = now
        self.logger = logger
        self.measureUsage = measureUsage
    }

    /// The user's home on this host (it may not exist yet).
    public nonisolated func workspace(tenant: Tenant.ID, user: User.ID) -> String {
        URL(fileURLWithPath: self.configuration.workspacesDirectory)
            .appendingPathComponent(tenant.description).appendingPathComponent(user.description).path
    }

    // MARK: Quota

    /// The volume that holds the user's workspace and enforces its quota; `nil` when workspaces
    /// have no quota here.
    public nonisolated func volume(tenant: Tenant.ID, user: User.ID) -> WorkspaceVolume? {
        guard let directory = self.configuration.volumesDirectory else { return nil }
        let image = URL(fileURLWithPath: directory).appendingPathComponent(tenant.description)
            .appendingPathComponent(user.description + ".img").path
        return WorkspaceVolume(image: image, mountPoint: self.workspace(tenant: tenant, user: user))
    }

    /// Makes the user's workspace a mounted volume of `sizeGiB` (created, mounted again after a
    /// reboot, grown, files from before quotas moved in); fast when it already is. Call it before
    /// `restoreIfMissing` at every session start.
    ///
    /// Without a volumes folder configured this does nothing. When the server is not root, it
    /// logs once that workspaces have no quota and carries on without one.
    public func ensureVolume(tenant: Tenant.ID, user: User.ID, sizeGiB: Int, owner: UnixAccount?) async throws {
        guard !self.quotaUnavailable, let volume = self.volume(tenant: tenant, user: user) else { return }
        let outcome: WorkspaceVolume.Outcome
        do {
            outcome = try await self.inTurn(Lane(key: Key(tenant: tenant, user: user), isVolume: true)) {
                try await volume.ensureMounted(sizeGiB: sizeGiB, owner: owner)
            }
        } catch let error as HostError where error.code == "quota_requires_root" {
            if !self.quotaUnavailable {
                self.quotaUnavailable = true
                self.logger.warning("workspaces have no disk quota: the server does not run as root", metadata: ["error": "\(error)"])
            }
            return
        }
        var metadata: Logger.Metadata = ["user.id": "\(user)", "size": "\(outcome.sizeBytes >> 30) GiB"]
        if let from = outcome.resizedFromBytes { metadata["from"] = "\(from >> 30) GiB" }
        if outcome.created {
            self.logger.info("workspace volume created", metadata: metadata)
        } else if outcome.resizedFromBytes != nil {
            self.logger.info("workspace volume resized", metadata: metadata)
        } else if outcome.mounted {
            self.logger.debug("workspace volume mounted", metadata: metadata)
        }
        if outcome.migrated {
            self.logger.info("files from before quotas moved into the workspace volume", metadata: metadata)
        }
        if let notice = outcome.sizeNotApplied {
            metadata["wanted"] = "\(sizeGiB) GiB"
            self.logger.warning("workspace quota not changed: \(notice)", metadata: metadata)
        }
    }

    /// The space the user's workspace uses and may use, in bytes, for the portal (which warns at
    /// 90 %); `nil` when it has no quota here or is not mounted.
    public nonisolated func usage(tenant: Tenant.ID, user: User.ID) -> (usedBytes: Int, sizeBytes: Int)? {
        if let measure = self.measureUsage { return measure(tenant, user) }
        return self.volume(tenant: tenant, user: user)?.usage()
    }

    /// The caller's usage with the tenant's quota, which the portal shows while the volume is not
    /// mounted yet (the user has not started a session on this host).
    public func usage(for user: User) async throws -> WorkspaceUsage {
        let tenant = try await self.repositories.tenants.find(id: user.tenantID)
        let quotaGiB = (tenant?.effectiveLimits ?? .standard).diskGiB
        let measured = self.usage(tenant: user.tenantID, user: user.id)
        return WorkspaceUsage(usedBytes: measured?.usedBytes, quotaBytes: measured?.sizeBytes, quotaGiB: quotaGiB)
    }

    /// The workspace's volume when it is mounted: restores then stage on it and move in by rename
    /// (the staging folder of the data disk is another filesystem, and a mount point cannot be
    /// renamed over).
    nonisolated func mountedVolume(tenant: Tenant.ID, user: User.ID) -> WorkspaceVolume? {
        self.volume(tenant: tenant, user: user).flatMap { $0.isMounted ? $0 : nil }
    }

    // MARK: Before use

    /// What `prepare` did to the workspace.
    public struct Preparation: Sendable {
        /// The workspace folder on this host.
        public var path: String
        /// The snapshot put back into a missing or empty workspace.
        public var restored: Snapshot?
        /// The newer snapshot that replaced a stale copy here, and the folder the copy was kept in.
        public var replaced: (snapshot: Snapshot, keptAs: String)?
    }

    /// Makes the user's workspace ready on this host, as a session start or the files API needs
    /// it: its quota volume mounted (so what is restored counts), the newest snapshot put back
    /// when the host has no copy (a new host, a cleaned disk), and a copy that another host's newer
    /// snapshot has overtaken kept aside rather than used.
    ///
    /// - Throws: `CoreError`s a user can read: `workspace_too_large`, `workspace_unavailable`,
    ///   `workspace_restore_failed` (the backup store cannot be reached; try again).
    public func prepare(tenant: Tenant, user: User) async throws -> Preparation {
        do {
            try await self.ensureVolume(
                tenant: tenant.id, user: user.id, sizeGiB: tenant.effectiveLimits.diskGiB, owner: try await self.accountFor(user))
        } catch let error as HostError where error.code == "workspace_too_large" {
            throw CoreError(
                .conflict, code: "workspace_too_large",
                message: "Your files take more than your workspace quota of \(tenant.effectiveLimits.diskGiB) GiB; "
                    + "ask your administrator for a larger quota.")
        } catch {
            self.logger.error("could not mount a workspace volume", metadata: ["user.id": "\(user.id)", "error": "\(error)"])
            throw CoreError(
                .unavailable, code: "workspace_unavailable", message: "Your workspace could not be prepared on this host; try again.")
        }
        let zone = TimeZone(identifier: tenant.timeZone) ?? .gmt
        let path = self.workspace(tenant: tenant.id, user: user.id)
        var preparation = Preparation(path: path)
        do {
            preparation.restored = try await self.restoreIfMissing(tenant: tenant.id, user: user.id)
        } catch {
            self.logger.error("could not restore a workspace", metadata: ["user.id": "\(user.id)", "error": "\(error)"])
            throw CoreError(
                .unavailable, code: "workspace_restore_failed",
                message:
                    "Your files could not be fetched from the backup store, so they are not opened here yet; try again in a few minutes.")
        }
        if preparation.restored == nil {
            do {
                preparation.replaced = try await self.replaceIfStale(
                    tenant: tenant.id, user: user.id, owner: try await self.accountFor(user), zone: zone)
            } catch {
                self.logger.error("could not replace a stale workspace", metadata: ["user.id": "\(user.id)", "error": "\(error)"])
                throw CoreError(
                    .unavailable, code: "workspace_restore_failed",
                    message: "A newer copy of your files than the one on this host could not be fetched from the backup store; "
                        + "try again in a few minutes.")
            }
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            self.logger.error("could not create a workspace", metadata: ["path": "\(path)", "error": "\(error)"])
            throw CoreError(
                .unavailable, code: "workspace_unavailable", message: "Your workspace could not be prepared on this host; try again.")
        }
        return preparation
    }

    // MARK: Snapshots

    /// Snapshots the workspace and returns once the snapshot is verified in the repository;
    /// `nil` when the workspace is empty or missing: there is nothing to lose (and restic refuses
    /// to store an empty snapshot).
    ///
    /// Requests that arrive while one is waiting for its turn share it (a close, a lost client and
    /// the interval of one user's sessions, or a backlog after an outage): each restic run costs
    /// seconds, and the queued one starts after all of them asked, so it holds what each needs.
    public func snapshot(tenant: Tenant.ID, user: User.ID, session: Session.ID?) async throws -> BackupSummary? {
        let key = Key(tenant: tenant, user: user)
        let task: Task<(BackupSummary?, Date), any Error>
        if let queued = self.queuedSnapshots[key] {
            task = queued.task
        } else {
            let id = UUID()
            task = Task { try await self.takeSnapshot(key, session: session, queued: id) }
            self.queuedSnapshots[key] = (id, task)
        }
        let (summary, started) = try await task.value
        self.lastSnapshotStart[key] = max(started, self.lastSnapshotStart[key] ?? started)
        if let summary { await self.noteSnapshot(summary.snapshot, tenant: tenant, user: user) }
        return summary
    }

    private func snapshotStarting(_ key: Key, queued: UUID) {
        if self.queuedSnapshots[key]?.id == queued { self.queuedSnapshots[key] = nil }
    }

    private func takeSnapshot(_ key: Key, session: Session.ID?, queued: UUID) async throws -> (BackupSummary?, Date) {
        let (tenant, user) = (key.tenant, key.user)
        let path = self.workspace(tenant: tenant, user: user)
        let activity = WorkspaceActivity(kind: .backup, startedAt: self.now(), sessionID: session, path: nil, progress: nil)
        // Also when it never started (a failure before its turn): no request may join a finished one.
        defer { self.snapshotStarting(key, queued: queued) }
        return try await self.serially(key, activity) { [driver, now] progress -> (BackupSummary?, Date) in
            // From here on a new request waits for the next snapshot: this one may miss its changes.
            await self.snapshotStarting(key, queued: queued)
            let started = now()
            if WorkspaceScan.isMissingOrEmpty(path) {
                // Nothing to keep, unless it is a workspace the user emptied: that is recorded (an
                // empty snapshot), or the files deleted here would come back with the next restore.
                guard FileManager.default.fileExists(atPath: path),
                    let newest = try await driver.snapshots(tenant: tenant, user: user).first, !newest.isEmpty
                else { return (nil, started) }
            }
            return (try await driver.backup(workspace: path, tenant: tenant, user: user, session: session, progress: progress), started)
        }
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
        // The newest snapshot of an emptied workspace puts nothing back (not an older one's files).
        guard let newest = try await self.driver.snapshots(tenant: tenant, user: user).first, !newest.isEmpty else { return nil }
        let activity = WorkspaceActivity(kind: .restore, startedAt: self.now(), sessionID: nil, path: "", progress: nil)
        let volume = self.mountedVolume(tenant: tenant, user: user)
        try await self.serially(key, activity) { [driver, configuration] progress in
            guard WorkspaceScan.isMissingOrEmpty(path) else { return }
            let staging = try Self.stagingPath(in: volume?.stagingDirectory ?? configuration.restoresDirectory)
            _ = try await driver.restore(
                tenant: tenant, user: user, snapshot: newest.id, path: .root, into: staging, progress: progress)
            if let volume {
                // The workspace is the volume's mount point: its contents move in, one rename each.
                try Self.moveContents(of: staging, into: volume.home)
                return
            }
            // An empty folder left by a cleaned disk makes way; a non-empty one was never touched.
            _ = rmdir(path)
            try FileManager.default.createDirectory(
                atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            try Self.moveIntoPlace(staging, to: path)
            // Private like every workspace; the host hands it to the session's account at launch.
            _ = chmod(path, 0o700)
        }
        await self.noteSnapshot(newest, tenant: tenant, user: user)
        self.logger.info(
            "workspace restored from the newest snapshot", metadata: ["user.id": "\(user)", "snapshot": "\(newest.shortID)"])
        return newest
    }

    // MARK: Which snapshot a local copy is at

    /// A snapshot's id and time: what this host's copy of a workspace was last restored from or
    /// saved as (in a file beside the workspace, never in it), and the newest snapshot of the
    /// workspace any host made (in the shared store's settings).
    struct SnapshotMark: Codable, Equatable {
        var id: String
        var time: Date
    }

    nonisolated func markFile(tenant: Tenant.ID, user: User.ID) -> String {
        URL(fileURLWithPath: self.configuration.workspacesDirectory).appendingPathComponent(tenant.description)
            .appendingPathComponent(".\(user).snapshot").path
    }

    static func newestKey(tenant: Tenant.ID, user: User.ID) -> String { "workspace.newest-snapshot.\(tenant).\(user)" }

    /// Records that this host's copy is at `snapshot`, and that it is the newest of the workspace
    /// if no newer one is recorded. Marks only move forward: two snapshots of one workspace (two
    /// sessions of the user, or an interval snapshot and a close) may finish in either order, and
    /// an older mark written last would make the next start take this current copy for a stale one.
    func noteSnapshot(_ snapshot: Snapshot, tenant: Tenant.ID, user: User.ID) async {
        let mark = SnapshotMark(id: snapshot.id, time: snapshot.time)
        let file = self.markFile(tenant: tenant, user: user)
        // Read, compare and write with no suspension between: one actor turn.
        if let data = FileManager.default.contents(atPath: file), let noted = try? JSONDecoder().decode(SnapshotMark.self, from: data),
            noted.time >= mark.time
        {
            return
        }
        do {
            let data = try JSONEncoder().encode(mark)
            try data.write(to: URL(fileURLWithPath: file), options: .atomic)
            let key = Self.newestKey(tenant: tenant, user: user)
            let stored = try await self.repositories.settings.value(for: key).flatMap {
                try? JSONDecoder().decode(SnapshotMark.self, from: Data($0.utf8))
            }
            if stored.map({ $0.time < mark.time }) ?? true {
                try await self.repositories.settings.set(String(decoding: data, as: UTF8.self), for: key, at: self.now())
            }
        } catch {
            self.logger.warning(
                "could not note which snapshot a workspace is at", metadata: ["user.id": "\(user)", "error": "\(error)"])
        }
    }

    /// Replaces this host's copy of the workspace with the newest snapshot when another host has
    /// snapshotted it since this copy was saved or restored here: a session must not start on
    /// stale files as if they were the user's latest. This host's copy is kept, moved into a
    /// folder `Restored from this host <time>` inside the workspace. Returns the snapshot and that
    /// folder's name, or `nil` when the copy here is current (or there is no record to tell).
    public func replaceIfStale(
        tenant: Tenant.ID, user: User.ID, owner: UnixAccount?, zone: TimeZone
    ) async throws -> (snapshot: Snapshot, keptAs: String)? {
        let path = self.workspace(tenant: tenant, user: user)
        guard !WorkspaceScan.isMissingOrEmpty(path),
            let localData = FileManager.default.contents(atPath: self.markFile(tenant: tenant, user: user)),
            let local = try? JSONDecoder().decode(SnapshotMark.self, from: localData),
            let stored = try await self.repositories.settings.value(for: Self.newestKey(tenant: tenant, user: user)),
            let newest = try? JSONDecoder().decode(SnapshotMark.self, from: Data(stored.utf8)),
            newest.id != local.id, newest.time > local.time
        else { return nil }
        guard let snapshot = try await self.driver.snapshots(tenant: tenant, user: user).first, snapshot.time > local.time else {
            return nil
        }
        let key = Key(tenant: tenant, user: user)
        let activity = WorkspaceActivity(kind: .restore, startedAt: self.now(), sessionID: nil, path: "", progress: nil)
        let volume = self.mountedVolume(tenant: tenant, user: user)
        let keptAs = try await self.serially(key, activity) { [driver, configuration] progress in
            let staging = try Self.stagingPath(in: volume?.stagingDirectory ?? configuration.restoresDirectory)
            if snapshot.isEmpty {
                try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
            } else {
                _ = try await driver.restore(
                    tenant: tenant, user: user, snapshot: snapshot.id, path: .root, into: staging, progress: progress)
            }
            let home = volume?.home ?? path
            // This host's copy moves into a folder of the staging area, then everything moves in.
            let keptAs = try Self.moveAside(
                contentsOf: home, into: staging, named: "Restored from this host " + Self.folderTime(local.time, zone: zone))
            try Self.giveAway(staging + "/" + keptAs, to: owner)
            try Self.moveContents(of: staging, into: home)
            return keptAs
        }
        await self.noteSnapshot(snapshot, tenant: tenant, user: user)
        self.logger.notice(
            "a stale copy of a workspace was kept aside and the newest snapshot restored",
            metadata: ["user.id": "\(user)", "snapshot": "\(snapshot.shortID)", "kept as": "\(keptAs)"])
        return (snapshot, keptAs)
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
        let volume = self.mountedVolume(tenant: user.tenantID, user: user.id)
        return try await self.serially(key, activity) { [driver, configuration] progress in
            let staging = try Self.stagingPath(in: volume?.stagingDirectory ?? configuration.restoresDirectory)
            // The driver checks that the snapshot is the user's, and says which one it was.
            let summary = try await driver.restore(
                tenant: user.tenantID, user: user.id, snapshot: snapshot, path: path, into: staging, progress: progress)
            do {
                try Self.giveAway(staging, to: account)
                if volume == nil {
                    try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
                }
                let folderBase = "Restored " + Self.folderTime(summary.snapshot.time, zone: zone)
                // Renamed through the volume's own mount: the workspace path is another mount of it.
                let folder = try Self.moveBeside(staging, into: volume?.home ?? workspace, named: folderBase)
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
        try await self.inTurn(Lane(key: key)) {
            let entry = Running(activity: activity)
            self.running[key, default: []].append(entry)
            defer { self.running[key]?.removeAll { $0.id == entry.id } }
            return try await job { progress in
                Task { await self.update(key, entry.id, progress) }
            }
        }
    }

    /// Runs `job` after every earlier job of the lane.
    private func inTurn<Result: Sendable>(_ lane: Lane, _ job: () async throws -> Result) async throws -> Result {
        let previous = self.tails[lane]
        let (done, finished) = AsyncStream.makeStream(of: Never.self)
        let tail = Task { for await _ in done {} }
        self.tails[lane] = tail
        defer {
            finished.finish()
            if self.tails[lane] == tail { self.tails[lane] = nil }
        }
        await previous?.value
        return try await job()
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

    /// Renames every entry of `source` into `target` (same filesystem), then removes `source`.
    /// Used when `target` is a mount point, which cannot be renamed over; it is empty here
    /// (a restore only fills an empty workspace), and an entry that is there is never replaced.
    static func moveContents(of source: String, into target: String) throws {
        do {
            for entry in try FileManager.default.contentsOfDirectory(atPath: source) {
                guard renameNoReplace(source + "/" + entry, target + "/" + entry) == 0 else {
                    let reason = String(cString: strerror(errno))
                    throw CoreError(
                        .unavailable, code: "restore_failed", message: "Could not put the restored file \(entry) in place (\(reason)).")
                }
            }
        } catch {
            try? FileManager.default.removeItem(atPath: source)
            throw error
        }
        try? FileManager.default.removeItem(atPath: source)
    }

    /// Moves every entry of `workspace` into a new folder `FOLDER/NAME` (or `NAME (2)`, …), one
    /// rename each; returns the name. Nothing is ever deleted: should a rename fail, what moved
    /// stays in the folder and the error names it.
    static func moveAside(contentsOf workspace: String, into folder: String, named base: String) throws -> String {
        var name = base
        for attempt in 1...100 {
            name = attempt == 1 ? base : "\(base) (\(attempt))"
            if mkdir(folder + "/" + name, 0o700) == 0 { break }
            guard errno == EEXIST, attempt < 100 else {
                throw CoreError(
                    .unavailable, code: "workspace_unavailable",
                    message: "Could not make a folder for this host's older copy (errno \(errno)).")
            }
        }
        for entry in try FileManager.default.contentsOfDirectory(atPath: workspace) {
            guard renameNoReplace(workspace + "/" + entry, folder + "/" + name + "/" + entry) == 0 else {
                throw CoreError(
                    .unavailable, code: "workspace_unavailable",
                    message: "Could not move \(entry) aside (\(String(cString: strerror(errno)))); what moved is in \(folder)/\(name).")
            }
        }
        return name
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
    WorkspaceTree.renameNoReplace(source, target)
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
