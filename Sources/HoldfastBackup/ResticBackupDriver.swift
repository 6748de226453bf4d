import Foundation
import Glibc
import HoldfastCore
import Logging
import Synchronization

/// The backup port implemented with restic 0.14: one repository per tenant, snapshots tagged per user.
///
/// Each snapshot carries the tags `holdfast`, `user=<user id>` and, when known,
/// `session=<session id>`; a user only ever sees and restores snapshots with their own tag.
/// Workspaces are backed up as `cd WORKSPACE && restic backup .`, so a snapshot's tree is
/// relative to the workspace (`/notes/today.txt`), whatever the workspace's absolute path.
///
/// restic 0.14 chooses a backup's parent (whose unchanged files it skips re-reading) by host and
/// absolute path alone, so two users whose workspaces share a path would use each other's
/// snapshots; the driver therefore always names the user's newest snapshot with `--parent`.
/// It remembers each user's newest snapshot after a backup, which saves a restic start on every
/// later backup by this server.
public struct ResticBackupDriver: BackupDriver {
    /// Where repositories live, where their passwords are kept, and how restic is run.
    public struct Configuration: Sendable {
        /// The place of the tenants' repositories; each tenant gets `<location>/<tenant id>`.
        public var repository: RepositoryLocation
        /// One password file per tenant (0600) in a folder of mode 0700; keep it in the server's backup.
        public var secretsDirectory: String
        /// restic's cache (`--cache-dir`), under the server's data folder; safe to delete.
        public var cacheDirectory: String
        /// The restic program.
        public var resticPath: String
        /// How long one restic command may run before it is interrupted: a store that is down
        /// makes restic retry for many minutes.
        public var commandTimeout: Duration
        /// How long an interrupted restic may take to remove its lock before it is killed.
        public var interruptGrace: Duration
        /// How many restic processes may run at once; the rest wait their turn. Each takes 50 MB or
        /// more and a share of the CPU, and a churn soak with 54 listings at once on 2 cores made every
        /// one of them (and the session starts waiting for them) take minutes.
        public var maximumProcesses: Int
        /// Extra environment for restic, such as `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
        /// `AWS_DEFAULT_REGION`. Nothing else of the server's environment reaches restic.
        public var environment: [String: String]
        /// The `cgroup.procs` file of a CPU-throttled group (HoldfastHost's `ThrottledGroup`) that
        /// `restic init` runs in, or `nil`. restic sizes a new repository's key derivation to half a
        /// second of the machine running init, and every command pays it; calibrated while throttled,
        /// it picks parameters that take milliseconds. Existing repositories keep their keys.
        public var initialisationGroup: String?

        /// - Parameter environment: by default the S3 credentials and region of the server's own
        ///   environment (see `s3Environment(from:)`).
        public init(
            repository: RepositoryLocation,
            secretsDirectory: String,
            cacheDirectory: String,
            resticPath: String = "/usr/bin/restic",
            commandTimeout: Duration = .seconds(600),
            interruptGrace: Duration = .seconds(5),
            maximumProcesses: Int = max(4, 2 * ProcessInfo.processInfo.activeProcessorCount),
            environment: [String: String] = Configuration.s3Environment(from: ProcessInfo.processInfo.environment),
            initialisationGroup: String? = nil
        ) {
            self.repository = repository
            self.secretsDirectory = secretsDirectory
            self.cacheDirectory = cacheDirectory
            self.resticPath = resticPath
            self.commandTimeout = commandTimeout
            self.interruptGrace = interruptGrace
            self.maximumProcesses = maximumProcesses
            self.environment = environment
            self.initialisationGroup = initialisationGroup
        }

        /// The variables restic's S3 backend reads, picked out of `environment`.
        public static func s3Environment(from environment: [String: String]) -> [String: String] {
            environment.filter { ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"].contains($0.key) }
        }
    }

    public let configuration: Configuration
    let logger: Logger
    private let passwords: PasswordStore
    private let runner: ResticRunner
    private let parents = ParentCache()
    private let listings = SharedListings()

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.passwords = PasswordStore(directory: configuration.secretsDirectory)
        // restic must never take a password or repository from anywhere but its arguments.
        let ignored: Set<String> = [
            "RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND", "RESTIC_REPOSITORY", "RESTIC_REPOSITORY_FILE",
        ]
        var environment = configuration.environment.filter { !ignored.contains($0.key) }
        environment["PATH"] = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        // Two status lines a second are plenty for a progress bar (the default is 60).
        environment["RESTIC_PROGRESS_FPS"] = "2"
        self.runner = ResticRunner(
            executable: configuration.resticPath, environment: environment, timeout: configuration.commandTimeout,
            interruptGrace: configuration.interruptGrace, gate: ProcessGate(limit: configuration.maximumProcesses), logger: logger)
    }

    // MARK: - BackupDriver

    public func backup(
        workspace: String, tenant: Tenant.ID, user: User.ID, session: Session.ID?,
        progress: @escaping @Sendable (BackupProgress) -> Void
    ) async throws -> BackupSummary {
        let started = ContinuousClock.now
        try Self.checkWorkspace(workspace)
        // An empty workspace is stored as a marker folder tagged `empty`: restic will not store an
        // empty snapshot, and without one the files the user deleted would come back elsewhere.
        var workspace = workspace
        var tags: [String] = []
        if (try? FileManager.default.contentsOfDirectory(atPath: workspace))?.isEmpty == true {
            workspace = try self.emptyMarkerFolder()
            tags = [ResticTags.empty]
        }
        let repository = self.repository(tenant, passwordFile: try self.passwords.file(for: tenant))
        if let parent = self.parents.newest(tenant: tenant, user: user) {
            do {
                return try await self.backup(
                    workspace, repository: repository, tenant: tenant, user: user, session: session, tags: tags, parent: parent,
                    started: started, progress: progress)
            } catch let error as CoreError where error.code == CoreError.parentMissingCode {
                // Retention or another server forgot the remembered parent: look the newest one up.
                self.parents.forget(tenant: tenant, user: user)
                self.logger.debug("The remembered parent snapshot is gone; looking the newest one up", metadata: ["tenant.id": "\(tenant)"])
            }
        }
        let parent: Snapshot?
        if let existing = try await repository.snapshots(of: user) {
            parent = existing.first
        } else {
            // Two first backups of one tenant (two users at once) must not both run `restic init`:
            // each would write its own master key, and the repository would hold data that half
            // of the keys cannot decrypt. One initialises under the tenant's lock; the others
            // wait, then find the repository there.
            parent = try await InitialisationLock.holding(self.configuration.secretsDirectory + "/\(tenant).init.lock") {
                () async throws(CoreError) -> Snapshot? in
                if let existing = try await repository.snapshots(of: user) { return existing.first }
                self.logger.debug("Creating the tenant's backup repository", metadata: ["tenant.id": "\(tenant)"])
                try await repository.initialise()
                return nil
            }
        }
        return try await self.backup(
            workspace, repository: repository, tenant: tenant, user: user, session: session, tags: tags, parent: parent,
            started: started, progress: progress)
    }

    /// One `restic backup` with a known parent, then the read-back that verifies the snapshot.
    private func backup(
        _ workspace: String, repository: TenantRepository, tenant: Tenant.ID, user: User.ID, session: Session.ID?,
        tags: [String], parent: Snapshot?, started: ContinuousClock.Instant, progress: @escaping @Sendable (BackupProgress) -> Void
    ) async throws -> BackupSummary {
        var arguments = ["--json", "--host", TenantRepository.host, "--tag", ResticTags.holdfast, "--tag", ResticTags.user(user)]
        if let session { arguments += ["--tag", ResticTags.session(session)] }
        for tag in tags { arguments += ["--tag", tag] }
        if let parent { arguments += ["--parent", parent.id] }
        let collector = BackupLineCollector(progress: progress)
        let outcome = try await repository.run("backup", arguments + ["."], in: workspace, onLine: collector.consume)
        // Exit 3: the snapshot was stored but some files could not be read (they changed or vanished).
        guard outcome.exitCode == 0 || outcome.exitCode == 3 else {
            if parent != nil, outcome.errorTail.contains("no matching ID found") {
                throw CoreError(.unavailable, code: CoreError.parentMissingCode, message: "The parent snapshot is gone.")
            }
            throw repository.failure(outcome, while: "backing up \(workspace)")
        }
        let summary = try collector.summary()
        var unreadable: [String] = []
        if outcome.exitCode == 3 {
            unreadable = ResticOutput.unreadableItems(in: outcome.errorTail, workspace: workspace)
            if unreadable.isEmpty { unreadable = ["(files restic did not name)"] }
            self.logger.warning(
                "Backup stored without some files it could not read",
                metadata: ["tenant.id": "\(tenant)", "user.id": "\(user)", "files": "\(unreadable)"])
        }
        guard let shortID = summary.snapshotId, Snapshot.isWellFormedID(shortID) else {
            throw CoreError.unreadableOutput("backup", "the summary names no snapshot id")
        }
        guard let snapshot = try await repository.snapshots(of: user, ids: [shortID])?.first(where: { $0.id.hasPrefix(shortID) })
        else {
            throw CoreError.repositoryUnavailable(
                repository.location, "the new snapshot \(shortID) could not be read back from the repository")
        }
        self.parents.remember(snapshot, tenant: tenant, user: user)
        await self.listings.changed("\(tenant)/\(user)")
        let totalFiles = summary.totalFilesProcessed ?? 0
        let totalBytes = summary.totalBytesProcessed ?? 0
        progress(BackupProgress(fraction: 1, filesDone: totalFiles, totalFiles: totalFiles, bytesDone: totalBytes, totalBytes: totalBytes))
        self.logger.debug(
            "Backup stored",
            metadata: [
                "tenant.id": "\(tenant)", "user.id": "\(user)", "snapshot.id": "\(snapshot.shortID)",
                "parent.id": "\(parent?.shortID ?? "none")",
            ])
        return BackupSummary(
            snapshot: snapshot, filesNew: summary.filesNew ?? 0, filesChanged: summary.filesChanged ?? 0,
            filesUnmodified: summary.filesUnmodified ?? 0, bytesAdded: summary.dataAdded ?? 0, totalFiles: totalFiles,
            totalBytes: totalBytes, duration: (ContinuousClock.now - started).timeInterval, unreadable: unreadable)
    }

    /// A folder holding only the empty-workspace marker, made once beside the cache directory
    /// (not in it: restic leaves its own cache out of every backup).
    private func emptyMarkerFolder() throws(CoreError) -> String {
        let folder = self.configuration.cacheDirectory + "-empty-workspace"
        let marker = folder + "/" + ResticTags.emptyMarker
        do {
            try FileManager.default.createDirectory(
                atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            if !FileManager.default.fileExists(atPath: marker) {
                try Data("This workspace was empty when this snapshot was taken.\n".utf8).write(to: URL(fileURLWithPath: marker))
            }
        } catch {
            throw CoreError(
                .unavailable, code: "backup_failed", message: "could not prepare \(folder) for an empty workspace's snapshot: \(error)")
        }
        return folder
    }

    /// The user's snapshots, newest first. Callers asking at the same time share one `restic
    /// snapshots` (several starts of one user, a start and the portal), unless a backup or
    /// retention changed the user's snapshots since that one began.
    public func snapshots(tenant: Tenant.ID, user: User.ID) async throws -> [Snapshot] {
        guard let repository = try self.existingRepository(tenant) else { return [] }
        return try await self.listings.list("\(tenant)/\(user)") { try await repository.snapshots(of: user) ?? [] }
    }

    public func list(tenant: Tenant.ID, user: User.ID, snapshot: String, path: WorkspacePath) async throws -> [SnapshotEntry] {
        let (repository, found) = try await self.resolve(snapshot, tenant: tenant, user: user)
        // An empty workspace's snapshot holds only the marker, which is none of the user's files.
        if found.isEmpty && path.isRoot { return [] }
        if found.isEmpty { throw CoreError.notFound("There is no \(path) in snapshot \(found.shortID): the workspace was empty then.") }
        let nodes = try await repository.nodes(in: found.id, at: path, recursive: false)
        let item = try Self.item(at: path, in: nodes, snapshot: found)
        if item?.type == "file", let item { return [ResticOutput.entry(item)] }
        let folder = "/\(path)"
        return nodes.filter { Self.parent(of: $0.path) == folder && $0.path != folder }.map(ResticOutput.entry)
            .sorted { $0.name < $1.name }
    }

    public func applyRetention(_ policy: RetentionPolicy, tenant: Tenant.ID, users: [User.ID]) async throws {
        let policy = try policy.validated()
        guard let repository = try self.existingRepository(tenant), try await repository.unlock() else { return }
        // `--group-by ''` (0.14) puts all of a user's snapshots in one group: the default groups by
        // host and paths, and a user's workspace path may differ between sessions.
        var keep = ["--group-by", "", "--keep-last", "\(policy.keepLast)"]
        for (flag, count) in [
            ("--keep-hourly", policy.keepHourly), ("--keep-daily", policy.keepDaily), ("--keep-weekly", policy.keepWeekly),
        ]
        where count > 0 {
            keep += [flag, "\(count)"]
        }
        for user in users {
            let outcome = try await repository.run("forget", ["--tag", ResticTags.user(user)] + keep)
            await self.listings.changed("\(tenant)/\(user)")
            guard outcome.succeeded else { throw repository.failure(outcome, while: "forgetting old snapshots") }
        }
        // One prune for the whole tenant: it rewrites packs shared by every user's snapshots, so
        // pruning once after all `forget`s costs a single pass instead of one per user.
        let outcome = try await repository.run("prune", [])
        guard outcome.succeeded else { throw repository.failure(outcome, while: "pruning unreferenced data") }
        self.logger.debug("Retention applied", metadata: ["tenant.id": "\(tenant)", "users": "\(users.count)"])
    }

    public func check(tenant: Tenant.ID) async throws {
        guard let repository = try self.existingRepository(tenant) else { throw Self.noRepository(tenant) }
        let outcome = try await repository.run("check", [])
        if outcome.succeeded { return }
        if try repository.isMissing(outcome) { throw Self.noRepository(tenant) }
        // check prints what it found wrong on standard output and its verdict on standard error.
        var failed = outcome
        failed.errorTail = (outcome.lines.suffix(10) + [outcome.errorTail]).joined(separator: "\n")
        throw repository.failure(failed, while: "checking the repository")
    }

    // MARK: - Shared steps

    /// The tenant's repository with its password file.
    func repository(_ tenant: Tenant.ID, passwordFile: String) -> TenantRepository {
        let localDirectory: String?
        if case .local = self.configuration.repository {
            localDirectory = self.configuration.repository.repository(for: tenant)
        } else {
            localDirectory = nil
        }
        return TenantRepository(
            location: self.configuration.repository.repository(for: tenant), localDirectory: localDirectory,
            passwordFile: passwordFile, cacheDirectory: self.configuration.cacheDirectory,
            initialisationGroup: self.configuration.initialisationGroup, runner: self.runner)
    }

    /// The tenant's repository when it has a password, that is when a backup has ever started;
    /// `nil` before. A local repository without a password file is an error: its data cannot be read.
    func existingRepository(_ tenant: Tenant.ID) throws(CoreError) -> TenantRepository? {
        if let passwordFile = try self.passwords.existingFile(for: tenant) {
            return self.repository(tenant, passwordFile: passwordFile)
        }
        if case .local = self.configuration.repository {
            let directory = self.configuration.repository.repository(for: tenant)
            if let entries = try? FileManager.default.contentsOfDirectory(atPath: directory), !entries.isEmpty {
                throw CoreError.repositoryUnavailable(
                    directory, "its password file is missing from \(self.configuration.secretsDirectory)",
                    advice: "Restore the secrets folder from the server's backup; without it the snapshots cannot be read.")
            }
        }
        return nil
    }

    /// Finds the user's snapshot whose id is or starts with `id`.
    func resolve(_ id: String, tenant: Tenant.ID, user: User.ID) async throws(CoreError) -> (TenantRepository, Snapshot) {
        guard Snapshot.isWellFormedID(id) else {
            throw CoreError.invalidInput("invalid_snapshot_id", "'\(id.prefix(80))' is not a snapshot id: use 8 to 64 hex digits.")
        }
        guard let repository = try self.existingRepository(tenant) else { throw CoreError.snapshotNotFound(id) }
        let candidates = (try await repository.snapshots(of: user) ?? []).filter { $0.id.hasPrefix(id) }
        guard let found = candidates.first else { throw CoreError.snapshotNotFound(id) }
        guard candidates.count == 1 else {
            throw CoreError.invalidInput("ambiguous_snapshot_id", "Several of your snapshots start with \(id); give more digits.")
        }
        return (repository, found)
    }

    /// The node at `path` (`nil` for the root), which must be a file or a folder.
    static func item(at path: WorkspacePath, in nodes: [ResticOutput.Node], snapshot: Snapshot) throws(CoreError) -> ResticOutput.Node? {
        if path.isRoot { return nil }
        guard let node = nodes.first(where: { $0.path == "/\(path)" }), node.type == "file" || node.type == "dir" else {
            throw CoreError.notFound("There is no file or folder '\(path)' in snapshot \(snapshot.shortID).")
        }
        return node
    }

    /// The folder that holds a snapshot path (`/a/b` → `/a`, `/a` → `/`).
    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    private static func checkWorkspace(_ workspace: String) throws(CoreError) {
        var info = stat()
        guard workspace.hasPrefix("/"), stat(workspace, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw CoreError.invalidInput(
                "workspace_missing", "The workspace \(workspace) is not an existing folder (an absolute path); nothing was backed up.")
        }
    }

    private static func noRepository(_ tenant: Tenant.ID) -> CoreError {
        CoreError(
            .notFound, code: "backup_repository_missing",
            message: "Tenant \(tenant) has no backup repository yet; the first backup creates it.")
    }
}

/// Concurrent listings of one user's snapshots share a single restic run, started after the
/// last change of those snapshots that this server made (a backup, a `forget`).
private actor SharedListings {
    private var running: [String: (generation: Int, task: Task<[Snapshot], any Error>)] = [:]
    private var generations: [String: Int] = [:]

    func changed(_ key: String) {
        self.generations[key, default: 0] += 1
    }

    func list(_ key: String, _ body: @escaping @Sendable () async throws -> [Snapshot]) async throws -> [Snapshot] {
        let generation = self.generations[key, default: 0]
        if let shared = self.running[key], shared.generation == generation {
            return try await shared.task.value
        }
        let task = Task { try await body() }
        self.running[key] = (generation, task)
        defer { if self.running[key]?.task == task { self.running[key] = nil } }
        return try await task.value
    }
}

/// Each user's newest snapshot as this server last stored it: the parent of their next backup.
private final class ParentCache: Sendable {
    private let newestByUser = Mutex<[String: Snapshot]>([:])

    func newest(tenant: Tenant.ID, user: User.ID) -> Snapshot? {
        self.newestByUser.withLock { $0["\(tenant)/\(user)"] }
    }

    func remember(_ snapshot: Snapshot, tenant: Tenant.ID, user: User.ID) {
        self.newestByUser.withLock { $0["\(tenant)/\(user)"] = snapshot }
    }

    func forget(tenant: Tenant.ID, user: User.ID) {
        self.newestByUser.withLock { _ = $0.removeValue(forKey: "\(tenant)/\(user)") }
    }
}

/// Turns `restic backup --json` lines into progress callbacks and keeps the summary.
private final class BackupLineCollector: Sendable {
    private struct State {
        var summary: ResticOutput.BackupMessage?
        var error: CoreError?
    }

    private let progress: @Sendable (BackupProgress) -> Void
    private let state = Mutex(State())

    init(progress: @escaping @Sendable (BackupProgress) -> Void) {
        self.progress = progress
    }

    func consume(_ line: String) {
        guard !line.isEmpty else { return }
        let message: ResticOutput.BackupMessage
        do {
            message = try ResticOutput.decode(ResticOutput.BackupMessage.self, from: line, command: "backup")
        } catch {
            self.state.withLock { if $0.error == nil { $0.error = error } }
            return
        }
        switch message.messageType {
        case "status":
            self.progress(
                BackupProgress(
                    fraction: min(max(message.percentDone ?? 0, 0), 1), filesDone: message.filesDone ?? 0,
                    totalFiles: message.totalFiles ?? 0, bytesDone: message.bytesDone ?? 0, totalBytes: message.totalBytes ?? 0))
        case "summary":
            self.state.withLock { $0.summary = message }
        default:
            break
        }
    }

    /// The summary line, or the first unreadable line.
    func summary() throws(CoreError) -> ResticOutput.BackupMessage {
        let state = self.state.withLock { $0 }
        if let error = state.error { throw error }
        guard let summary = state.summary else { throw CoreError.unreadableOutput("backup", "it printed no summary") }
        return summary
    }
}
