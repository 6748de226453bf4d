import Foundation
import HoldfastCore

/// What the HTTP layer asks of the workspace backups (implemented in HoldfastApp).
///
/// Every method acts on the caller's own workspace: a user can only ever name their own
/// snapshots, so no route can reach another user's or tenant's data.
public protocol WorkspaceService: Sendable {
    /// The caller's snapshots, newest first.
    func snapshots(for user: User) async throws -> [Snapshot]
    /// The direct children of `path` in one of the caller's snapshots.
    func files(in snapshot: String, path: WorkspacePath, for user: User) async throws -> [SnapshotEntry]
    /// Restores a file or folder of a snapshot beside the live copy, in a new folder
    /// `Restored YYYY-MM-DD HH:MM` (the snapshot's time in the tenant's zone).
    func restore(snapshot: String, path: WorkspacePath, for user: User) async throws -> WorkspaceRestore
    /// Backups and restores of the caller's workspace that are running now, with their progress.
    func activity(for user: User) async -> [WorkspaceActivity]
    /// The space the caller's workspace uses against its quota on this host.
    func usage(for user: User) async throws -> WorkspaceUsage
}

/// A workspace's use of its disk quota, for the portal's warning at 90 %.
public struct WorkspaceUsage: Sendable, Hashable {
    /// The share at which the portal warns: above it, programs soon fail to save.
    public static let warningPercent = 90

    /// The bytes in use; `nil` when unknown (the volume is mounted at the user's first session
    /// start on this host, and never when workspaces have no quota here).
    public var usedBytes: Int?
    /// The bytes the user can fill; `nil` exactly when `usedBytes` is.
    public var quotaBytes: Int?
    /// The tenant's quota now; the volume grows to it at the next session start.
    public var quotaGiB: Int

    public init(usedBytes: Int?, quotaBytes: Int?, quotaGiB: Int) {
        self.usedBytes = usedBytes
        self.quotaBytes = quotaBytes
        self.quotaGiB = quotaGiB
    }

    /// The whole percent used, rounded down so that 90 shows only once 90 % is reached; `nil`
    /// when unknown.
    public var percent: Int? {
        guard let used = self.usedBytes, let quota = self.quotaBytes, quota > 0 else { return nil }
        return min(100, max(0, used) * 100 / quota)
    }

    /// Whether the user should be told to make room now.
    public var isNearlyFull: Bool { (self.percent ?? 0) >= Self.warningPercent }
}

/// Where a restore landed.
public struct WorkspaceRestore: Sendable, Hashable {
    /// Relative to the workspace, e.g. `Restored 2026-11-26 14:05/notes`.
    public var restoredTo: String
    public var summary: RestoreSummary

    public init(restoredTo: String, summary: RestoreSummary) {
        self.restoredTo = restoredTo
        self.summary = summary
    }
}

/// A backup or restore in progress.
public struct WorkspaceActivity: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case backup, restore
    }

    public var kind: Kind
    public var startedAt: Date
    public var sessionID: Session.ID?
    /// What is being restored, for a restore.
    public var path: String?
    public var progress: BackupProgress?

    public init(kind: Kind, startedAt: Date, sessionID: Session.ID?, path: String?, progress: BackupProgress?) {
        self.kind = kind
        self.startedAt = startedAt
        self.sessionID = sessionID
        self.path = path
        self.progress = progress
    }
}
