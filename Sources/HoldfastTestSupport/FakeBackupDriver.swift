import Foundation
import HoldfastCore
import Synchronization

/// A backup repository in memory: a snapshot is a copy of the workspace's regular files.
/// It can be made unreachable, to exercise the paths where the object store is down.
public final class FakeBackupDriver: BackupDriver {
    struct Stored {
        var snapshot: Snapshot
        var tenant: Tenant.ID
        /// Workspace-relative path → contents; folders are implied by the paths.
        var files: [String: Data]
    }

    struct State {
        var stored: [Stored] = []
        var unreachable = false
        var backups = 0
        var held = false
        var waiting: [CheckedContinuation<Void, Never>] = []
        /// Workspace-relative paths a backup cannot read (left out and reported, as restic's exit 3).
        var unreadable: Set<String> = []
    }

    private let state = Mutex(State())
    private let now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    /// While set, every call fails as an unreachable object store would.
    public func setUnreachable(_ unreachable: Bool) {
        self.state.withLock { $0.unreachable = unreachable }
    }

    /// While held, backups wait (after reporting half their progress) until `release()`:
    /// lets a test look at a backup while it runs.
    public func hold() {
        self.state.withLock { $0.held = true }
    }

    public func release() {
        let waiting = self.state.withLock { state in
            state.held = false
            defer { state.waiting = [] }
            return state.waiting
        }
        waiting.forEach { $0.resume() }
    }

    /// Makes backups fail to read these workspace-relative files: they are left out of the snapshot
    /// and named in its summary, as restic does when it exits with 3.
    public func setUnreadable(_ paths: Set<String>) {
        self.state.withLock { $0.unreadable = paths }
    }

    /// How many backups succeeded so far.
    public var backupCount: Int { self.state.withLock { $0.backups } }

    /// The files of a snapshot, for assertions.
    public func files(of snapshotID: String) -> [String: Data] {
        self.state.withLock { state in state.stored.first { $0.snapshot.id == snapshotID }?.files ?? [:] }
    }

    private func checkReachable() throws {
        if self.state.withLock({ $0.unreachable }) {
            throw CoreError(
                .unavailable, code: "backup_repository_unavailable", message: "The backup repository cannot be reached (fake).")
        }
    }

    public func backup(
        workspace: String, tenant: Tenant.ID, user: User.ID, session: Session.ID?,
        progress: @escaping @Sendable (BackupProgress) -> Void
    ) async throws -> BackupSummary {
        try self.checkReachable()
        if self.state.withLock({ $0.held }) {
            progress(BackupProgress(fraction: 0.5, filesDone: 1, totalFiles: 2, bytesDone: 10, totalBytes: 20))
            await withCheckedContinuation { continuation in
                let resumeNow = self.state.withLock { state in
                    guard state.held else { return true }
                    state.waiting.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
        var files: [String: Data] = [:]
        let unreadable = self.state.withLock { $0.unreadable }
        var missed: [String] = []
        if let walker = FileManager.default.enumerator(atPath: workspace) {
            for case let relative as String in walker {
                var isDirectory: ObjCBool = false
                let path = workspace + "/" + relative
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                    let data = FileManager.default.contents(atPath: path)
                {
                    if unreadable.contains(relative) {
                        missed.append(relative)
                    } else {
                        files[relative] = data
                    }
                }
            }
        }
        let id = (UUID().uuidString + UUID().uuidString).lowercased().filter(\.isHexDigit).prefix(64)
        let isEmpty = (try? FileManager.default.contentsOfDirectory(atPath: workspace))?.isEmpty == true
        let snapshot = Snapshot(id: String(id), time: self.now(), userID: user, sessionID: session, isEmpty: isEmpty)
        let previous = try await self.snapshots(tenant: tenant, user: user).first.map { self.files(of: $0.id) } ?? [:]
        let changed = files.filter { previous[$0.key] != nil && previous[$0.key] != $0.value }.count
        let new = files.filter { previous[$0.key] == nil }.count
        self.state.withLock {
            $0.stored.append(Stored(snapshot: snapshot, tenant: tenant, files: files))
            $0.backups += 1
        }
        let bytes = Int64(files.values.reduce(0) { $0 + $1.count })
        progress(BackupProgress(fraction: 1, filesDone: files.count, totalFiles: files.count, bytesDone: bytes, totalBytes: bytes))
        return BackupSummary(
            snapshot: snapshot, filesNew: new, filesChanged: changed, filesUnmodified: files.count - new - changed, bytesAdded: bytes,
            totalFiles: files.count, totalBytes: bytes, duration: 0, unreadable: missed.sorted())
    }

    public func snapshots(tenant: Tenant.ID, user: User.ID) async throws -> [Snapshot] {
        try self.checkReachable()
        return self.state.withLock { state in
            state.stored.filter { $0.tenant == tenant && $0.snapshot.userID == user }.map(\.snapshot).reversed()
        }
    }

    private func owned(_ tenant: Tenant.ID, _ user: User.ID, _ id: String) throws -> Stored {
        try self.checkReachable()
        guard
            let stored = self.state.withLock({ state in
                state.stored.first { $0.tenant == tenant && $0.snapshot.userID == user && $0.snapshot.id.hasPrefix(id) }
            })
        else { throw CoreError.notFound("There is no snapshot \(id) of yours; list your snapshots to see which exist.") }
        return stored
    }

    public func list(tenant: Tenant.ID, user: User.ID, snapshot: String, path: WorkspacePath) async throws -> [SnapshotEntry] {
        let stored = try self.owned(tenant, user, snapshot)
        let prefix = path.isRoot ? "" : "\(path)/"
        var entries: [String: SnapshotEntry] = [:]
        for (file, data) in stored.files where file.hasPrefix(prefix) {
            let rest = file.dropFirst(prefix.count)
            let name = String(rest.split(separator: "/").first ?? "")
            let isFile = !rest.contains("/")
            entries[name] = SnapshotEntry(
                path: prefix + name, name: name, kind: isFile ? .file : .directory, size: isFile ? Int64(data.count) : 0,
                modifiedAt: stored.snapshot.time)
        }
        guard !entries.isEmpty || path.isRoot else { throw CoreError.notFound("There is no folder \(path) in the snapshot.") }
        return entries.values.sorted { $0.name < $1.name }
    }

    public func restore(
        tenant: Tenant.ID, user: User.ID, snapshot: String, path: WorkspacePath, into target: String,
        progress: @escaping @Sendable (BackupProgress) -> Void
    ) async throws -> RestoreSummary {
        let stored = try self.owned(tenant, user, snapshot)
        guard !FileManager.default.fileExists(atPath: target) else {
            throw CoreError.conflict("restore_target_exists", "\(target) already exists.")
        }
        let base = path.isRoot ? "" : path.parent.description
        let selected = stored.files.filter { path.isRoot || $0.key == path.description || $0.key.hasPrefix("\(path)/") }
        guard !selected.isEmpty else { throw CoreError.notFound("There is no \(path) in the snapshot.") }
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for (file, data) in selected {
            let relative = base.isEmpty ? file : String(file.dropFirst(base.count + 1))
            let destination = URL(fileURLWithPath: target).appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: destination)
        }
        return RestoreSummary(
            snapshot: stored.snapshot, files: selected.count, bytes: Int64(selected.values.reduce(0) { $0 + $1.count }), duration: 0)
    }

    public func applyRetention(_ policy: RetentionPolicy, tenant: Tenant.ID, users: [User.ID]) async throws {
        try self.checkReachable()
        self.state.withLock { state in
            for user in users {
                let mine = state.stored.enumerated().filter { $0.element.tenant == tenant && $0.element.snapshot.userID == user }
                let drop = Set(mine.dropLast(policy.keepLast).map(\.offset))
                state.stored = state.stored.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
            }
        }
    }

    public func check(tenant: Tenant.ID) async throws {
        try self.checkReachable()
    }
}
