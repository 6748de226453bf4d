import Foundation
import Glibc
import HoldfastCore
import Logging

extension ResticBackupDriver {
    /// Restores through a staging folder beside `target`, renamed into place only when restic
    /// succeeded, so a failed or interrupted restore never leaves a half-written `target`.
    ///
    /// restic 0.14 restores a sub-path with `--include` and recreates its parent folders, so the
    /// item is moved out of them to `target/NAME`. Running as root, restic restores the owners
    /// recorded in the snapshot; `target` itself belongs to the server's user, mode 0755.
    /// Progress is estimated from the bytes in the staging folder against the size `ls` reports,
    /// because restic 0.14's restore prints nothing machine-readable.
    public func restore(
        tenant: Tenant.ID, user: User.ID, snapshot: String, path: WorkspacePath, into target: String,
        progress: @escaping @Sendable (BackupProgress) -> Void
    ) async throws -> RestoreSummary {
        let started = ContinuousClock.now
        try Self.checkRestoreTarget(target)
        let (repository, found) = try await self.resolve(snapshot, tenant: tenant, user: user)
        guard !found.isEmpty else {
            throw CoreError.invalidInput(
                "empty_snapshot", "Snapshot \(found.shortID) records an empty workspace; there is nothing in it to restore.")
        }
        let nodes = try await repository.nodes(in: found.id, at: path, recursive: true)
        _ = try Self.item(at: path, in: nodes, snapshot: found)
        let files = nodes.filter { $0.type == "file" }
        let total = (files: files.count, bytes: files.reduce(Int64(0)) { $0 + ($1.size ?? 0) })

        let staging = try RestoreStaging(target: target)
        do {
            let include = path.isRoot ? [] : ["--include", Self.includePattern(path)]
            let arguments = [found.id, "--target", staging.folder] + include
            let outcome = await Self.whileReporting(progress, of: staging.folder, total: total) { () async throws(CoreError) in
                try await repository.run("restore", arguments)
            }
            let finished = try outcome.get()
            guard finished.succeeded else { throw repository.failure(finished, while: "restoring snapshot \(found.shortID)") }
            try staging.complete(restoring: path)
        } catch {
            staging.discard()
            throw error
        }
        progress(
            BackupProgress(fraction: 1, filesDone: total.files, totalFiles: total.files, bytesDone: total.bytes, totalBytes: total.bytes))
        self.logger.debug(
            "Restore finished", metadata: ["tenant.id": "\(tenant)", "user.id": "\(user)", "snapshot.id": "\(found.shortID)"])
        return RestoreSummary(
            snapshot: found, files: total.files, bytes: total.bytes, duration: (ContinuousClock.now - started).timeInterval)
    }

    /// A restic `--include` pattern matching exactly `path`: restic patterns are globs, so every
    /// glob character in a name is escaped.
    static func includePattern(_ path: WorkspacePath) -> String {
        var pattern = ""
        for character in "/\(path)" {
            if "\\*?[]".contains(character) { pattern.append("\\") }
            pattern.append(character)
        }
        return pattern
    }

    /// Runs `work` while reporting, every half second or less often, the bytes found under `folder`.
    static func whileReporting(
        _ progress: @escaping @Sendable (BackupProgress) -> Void, of folder: String, total: (files: Int, bytes: Int64),
        _ work: @escaping @Sendable () async throws(CoreError) -> ResticOutcome
    ) async -> Result<ResticOutcome, CoreError> {
        await withTaskGroup(of: Result<ResticOutcome, CoreError>?.self) { group in
            group.addTask {
                do throws(CoreError) { return .success(try await work()) } catch { return .failure(error) }
            }
            group.addTask {
                // Walking the folder is not free (10,000 files take a good part of a second
                // here): wait ten times as long as the last walk took, so the progress bar costs
                // at most a tenth of a core, and never poll more than twice a second.
                var interval = Duration.milliseconds(500)
                while (try? await Task.sleep(for: interval)) != nil {
                    let clock = ContinuousClock()
                    let walkStarted = clock.now
                    let (files, bytes) = Self.measure(folder)
                    interval = max(.milliseconds(500), (clock.now - walkStarted) * 10)
                    let fraction = total.bytes > 0 ? Double(bytes) / Double(total.bytes) : 0
                    progress(
                        BackupProgress(
                            fraction: min(fraction, 0.99), filesDone: min(files, total.files), totalFiles: total.files,
                            bytesDone: min(bytes, total.bytes), totalBytes: total.bytes))
                }
                return nil
            }
            var outcome: Result<ResticOutcome, CoreError> = .failure(.unreadableOutput("restore", "it did not run"))
            if let first = await group.next(), let first { outcome = first }
            group.cancelAll()
            return outcome
        }
    }

    /// The regular files and their bytes below `folder`, not following links.
    static func measure(_ folder: String) -> (files: Int, bytes: Int64) {
        var files = 0
        var bytes: Int64 = 0
        var pending = [folder]
        while let directory = pending.popLast() {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            for name in names {
                let path = directory + "/" + name
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: pending.append(path)
                case S_IFREG:
                    files += 1
                    bytes += Int64(info.st_size)
                default: continue
                }
            }
        }
        return (files, bytes)
    }

    private static func checkRestoreTarget(_ target: String) throws(CoreError) {
        guard target.hasPrefix("/"), !target.hasSuffix("/") else {
            throw CoreError.invalidInput(
                "invalid_restore_target", "The restore target \(target) must be an absolute path without a trailing '/'.")
        }
        var info = stat()
        if lstat(target, &info) == 0 {
            throw CoreError.conflict(
                "restore_target_exists", "\(target) already exists; restore into a new folder, or move the existing one away first.")
        }
        let parent = ResticBackupDriver.parent(of: target)
        guard stat(parent, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw CoreError.invalidInput(
                "restore_target_parent_missing", "The folder \(parent) that should hold the restore does not exist; create it first.")
        }
    }
}

/// The staging folders of one restore, beside the target: `TARGET.partial-<random>` (mode 0700,
/// so nobody reads files before their owners and modes are restored) and, for a sub-path, a
/// second one that receives just the restored item before it is renamed to the target.
struct RestoreStaging {
    let target: String
    let folder: String
    private let box: String

    init(target: String) throws(CoreError) {
        let suffix = randomHex(bytes: 6)
        self.target = target
        self.folder = "\(target).partial-\(suffix)"
        self.box = "\(target).partial-\(suffix)-item"
        guard mkdir(self.folder, 0o700) == 0 else { throw .fileSystem("create the restore staging folder", self.folder, errno: errno) }
    }

    /// Moves what restic restored into place at `target`.
    func complete(restoring path: WorkspacePath) throws(CoreError) {
        var source = self.folder
        if !path.isRoot {
            let restored = "\(self.folder)/\(path)"
            var info = stat()
            guard lstat(restored, &info) == 0 else {
                throw CoreError.repositoryUnavailable(self.target, "restic restored nothing for '\(path)'")
            }
            guard mkdir(self.box, 0o700) == 0 else { throw .fileSystem("create the restore staging folder", self.box, errno: errno) }
            guard rename(restored, "\(self.box)/\(path.name)") == 0 else {
                throw .fileSystem("move the restored item out of", self.folder, errno: errno)
            }
            source = self.box
        }
        guard chmod(source, 0o755) == 0 else { throw .fileSystem("set the permissions of", source, errno: errno) }
        let result = SystemCalls.renameWithoutReplacing(source, self.target)
        if result == EEXIST || result == ENOTEMPTY {
            throw CoreError.conflict(
                "restore_target_exists", "\(self.target) appeared while restoring; restore into a new folder, or move it away first.")
        }
        guard result == 0 else { throw .fileSystem("move the restore into place at", self.target, errno: result) }
        if !path.isRoot { self.remove(self.folder) }
    }

    /// Removes whatever the restore left behind; the target is untouched.
    func discard() {
        self.remove(self.folder)
        self.remove(self.box)
    }

    private func remove(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        try? FileManager.default.removeItem(atPath: path)
    }
}
