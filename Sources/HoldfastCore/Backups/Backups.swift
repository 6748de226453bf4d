import Foundation

/// A snapshot of one user's workspace in the tenant's backup repository.
public struct Snapshot: Sendable, Codable, Hashable {
    /// The repository's full snapshot id (restic: 64 hex digits).
    public var id: String
    public var time: Date
    public var userID: User.ID
    /// The session that was running when the snapshot was taken, if any.
    public var sessionID: Session.ID?
    /// The snapshot records that the workspace was empty (the user deleted everything): restoring
    /// it puts nothing back, and an older snapshot's files must not come back in its place.
    public var isEmpty: Bool

    public init(id: String, time: Date, userID: User.ID, sessionID: Session.ID?, isEmpty: Bool = false) {
        self.id = id
        self.time = time
        self.userID = userID
        self.sessionID = sessionID
        self.isEmpty = isEmpty
    }

    /// The first 8 digits, as restic prints them.
    public var shortID: String { String(self.id.prefix(8)) }

    /// Whether `text` has the shape of a snapshot id (8 to 64 lower-case hex digits), so that it
    /// is safe to hand to the backup tool as an argument.
    public static func isWellFormedID(_ text: String) -> Bool {
        (8...64).contains(text.count) && text.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
    }
}

/// What one backup run did.
public struct BackupSummary: Sendable, Codable, Hashable {
    public var snapshot: Snapshot
    public var filesNew: Int
    public var filesChanged: Int
    public var filesUnmodified: Int
    /// Bytes added to the repository (after deduplication, before compression).
    public var bytesAdded: Int64
    public var totalFiles: Int
    public var totalBytes: Int64
    /// Wall-clock seconds the backup took.
    public var duration: TimeInterval
    /// Files the backup could not read (workspace-relative), so the snapshot lacks them: such a
    /// snapshot is stored but not a verified copy of the workspace.
    public var unreadable: [String]

    public init(
        snapshot: Snapshot, filesNew: Int, filesChanged: Int, filesUnmodified: Int, bytesAdded: Int64, totalFiles: Int,
        totalBytes: Int64, duration: TimeInterval, unreadable: [String] = []
    ) {
        self.unreadable = unreadable
        self.snapshot = snapshot
        self.filesNew = filesNew
        self.filesChanged = filesChanged
        self.filesUnmodified = filesUnmodified
        self.bytesAdded = bytesAdded
        self.totalFiles = totalFiles
        self.totalBytes = totalBytes
        self.duration = duration
    }
}

/// How far a long backup or restore has got.
public struct BackupProgress: Sendable, Codable, Hashable {
    /// 0…1; an estimate while the total is still being counted.
    public var fraction: Double
    public var filesDone: Int
    public var totalFiles: Int
    public var bytesDone: Int64
    public var totalBytes: Int64

    public init(fraction: Double, filesDone: Int, totalFiles: Int, bytesDone: Int64, totalBytes: Int64) {
        self.fraction = fraction
        self.filesDone = filesDone
        self.totalFiles = totalFiles
        self.bytesDone = bytesDone
        self.totalBytes = totalBytes
    }
}

/// One entry of a snapshot's folder listing.
public struct SnapshotEntry: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, Hashable {
        case file, directory, symlink, other
    }

    /// The path inside the workspace, e.g. `notes/today.txt`.
    public var path: String
    public var name: String
    public var kind: Kind
    public var size: Int64
    public var modifiedAt: Date?

    public init(path: String, name: String, kind: Kind, size: Int64, modifiedAt: Date?) {
        self.path = path
        self.name = name
        self.kind = kind
        self.size = size
        self.modifiedAt = modifiedAt
    }
}

/// How a folder of a workspace is downloaded: one archive, produced while it is sent.
public enum WorkspaceArchiveFormat: String, Sendable, CaseIterable {
    case zip
    case tarGzip = "tar.gz"

    public var contentType: String { self == .zip ? "application/zip" : "application/gzip" }
}

/// What a restore wrote, and from which snapshot (the id given may have been a prefix).
public struct RestoreSummary: Sendable, Codable, Hashable {
    public var snapshot: Snapshot
    public var files: Int
    public var bytes: Int64
    public var duration: TimeInterval

    public init(snapshot: Snapshot, files: Int, bytes: Int64, duration: TimeInterval) {
        self.snapshot = snapshot
        self.files = files
        self.bytes = bytes
        self.duration = duration
    }
}

/// How many snapshots a tenant keeps per user; the newest snapshot is always kept.
public struct RetentionPolicy: Sendable, Codable, Hashable {
    public var keepLast: Int
    public var keepHourly: Int
    public var keepDaily: Int
    public var keepWeekly: Int

    /// Last 10, one per hour for a day, one per day for a week, one per week for a month.
    public static let standard = RetentionPolicy(keepLast: 10, keepHourly: 24, keepDaily: 7, keepWeekly: 4)

    public init(keepLast: Int, keepHourly: Int, keepDaily: Int, keepWeekly: Int) {
        self.keepLast = keepLast
        self.keepHourly = keepHourly
        self.keepDaily = keepDaily
        self.keepWeekly = keepWeekly
    }

    /// Checks untrusted input: each count 0…1000, and at least one snapshot kept.
    public func validated() throws(CoreError) -> RetentionPolicy {
        for (name, value) in [("keepLast", keepLast), ("keepHourly", keepHourly), ("keepDaily", keepDaily), ("keepWeekly", keepWeekly)]
        where !(0...1000).contains(value) {
            throw CoreError.invalidInput("invalid_retention", "\(name) must be between 0 and 1000 (it is \(value)).")
        }
        guard self.keepLast >= 1 else {
            throw CoreError.invalidInput("invalid_retention", "keepLast must be at least 1, so the newest snapshot is always kept.")
        }
        return self
    }
}

/// A path inside a workspace or snapshot, checked so that it can never leave it.
///
/// Relative (no leading `/`), `/`-separated, no `.` or `..` components, no empty components, no
/// NUL; a trailing `/` is tolerated and dropped. The empty path is the workspace itself.
public struct WorkspacePath: Sendable, Hashable, CustomStringConvertible {
    public let components: [String]

    public static let root = WorkspacePath(checked: [])

    private init(checked components: [String]) {
        self.components = components
    }

    public init(_ text: String) throws(CoreError) {
        guard text.utf8.count <= 4096 else {
            throw CoreError.invalidInput("invalid_path", "The path is longer than 4096 bytes.")
        }
        guard !text.contains("\0") else {
            throw CoreError.invalidInput("invalid_path", "The path contains a NUL character.")
        }
        guard !text.hasPrefix("/") else {
            throw CoreError.invalidInput(
                "invalid_path", "The path '\(text)' is absolute; give it relative to your workspace, like notes/today.txt.")
        }
        var trimmed = Substring(text)
        if trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        if trimmed.isEmpty {
            self.components = []
            return
        }
        let components = trimmed.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for component in components {
            switch component {
            case "": throw CoreError.invalidInput("invalid_path", "The path '\(text)' has an empty component ('//').")
            case ".", "..": throw CoreError.invalidInput("invalid_path", "The path '\(text)' may not contain '.' or '..'.")
            default: continue
            }
        }
        self.components = components
    }

    public var isRoot: Bool { self.components.isEmpty }
    public var name: String { self.components.last ?? "" }
    public var parent: WorkspacePath { WorkspacePath(checked: Array(self.components.dropLast())) }
    /// `a/b/c`; empty for the root.
    public var description: String { self.components.joined(separator: "/") }

    public func appending(_ name: String) throws(CoreError) -> WorkspacePath {
        try WorkspacePath(self.isRoot ? name : "\(self)/\(name)")
    }
}

/// The port to the backup repositories: one repository per tenant, snapshots tagged per user.
///
/// Every method may take seconds (key derivation alone costs restic ~0.5 s) and is safe to call
/// concurrently. Errors are `CoreError`s: `.unavailable` when the repository cannot be reached or
/// read (the caller retries), `.notFound` for a snapshot or path that is not there.
public protocol BackupDriver: Sendable {
    /// Snapshots `workspace` (an absolute folder) for the user, creating the tenant's repository
    /// on first use. Returns once the snapshot is stored and read back from the repository. An
    /// empty workspace is stored as a snapshot with `isEmpty` set.
    func backup(
        workspace: String, tenant: Tenant.ID, user: User.ID, session: Session.ID?,
        progress: @escaping @Sendable (BackupProgress) -> Void
    ) async throws -> BackupSummary
    /// The user's snapshots, newest first; empty when the tenant has no repository yet.
    func snapshots(tenant: Tenant.ID, user: User.ID) async throws -> [Snapshot]
    /// The direct children of `path` in the snapshot (the snapshot must belong to the user).
    func list(tenant: Tenant.ID, user: User.ID, snapshot: String, path: WorkspacePath) async throws -> [SnapshotEntry]
    /// Restores `path` of the snapshot into `target`, an absolute folder that must not exist yet;
    /// it is created and receives the restored file or folder under its own name (`target/NAME`),
    /// or the snapshot's contents when `path` is the root.
    func restore(
        tenant: Tenant.ID, user: User.ID, snapshot: String, path: WorkspacePath, into target: String,
        progress: @escaping @Sendable (BackupProgress) -> Void
    ) async throws -> RestoreSummary
    /// Applies the retention policy to the user's snapshots and prunes unreferenced data.
    func applyRetention(_ policy: RetentionPolicy, tenant: Tenant.ID, users: [User.ID]) async throws
    /// Verifies the tenant's repository structure (`restic check`).
    func check(tenant: Tenant.ID) async throws
}
