import Foundation
import HoldfastCore
import Hummingbird

/// `/workspace…`: the caller's snapshots, their files, restores beside the live copy, progress,
/// and the space used against the quota.
struct WorkspaceRoutes {
    let workspaces: any WorkspaceService
    let audit: AuditRecorder

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("workspace/snapshots", use: self.snapshots)
        group.get("workspace/snapshots/:id/files", use: self.files)
        group.post("workspace/restore", use: self.restore)
        group.get("workspace/activity", use: self.activity)
        group.get("workspace/usage", use: self.usage)
    }

    @Sendable func snapshots(_ request: Request, context: AppRequestContext) async throws -> ListDTO<SnapshotDTO> {
        let user = try context.requireUser()
        return ListDTO(items: try await self.workspaces.snapshots(for: user).map(SnapshotDTO.init))
    }

    @Sendable func files(_ request: Request, context: AppRequestContext) async throws -> ListDTO<SnapshotEntryDTO> {
        let user = try context.requireUser()
        let snapshot = try Self.snapshotID(context.parameters.get("id") ?? "")
        let path = try WorkspacePath(request.uri.formParameters["path"] ?? "")
        return ListDTO(items: try await self.workspaces.files(in: snapshot, path: path, for: user).map(SnapshotEntryDTO.init))
    }

    struct RestoreRequest: Decodable {
        var snapshot: String
        var path: String
    }

    @Sendable func restore(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<RestoreDTO> {
        let user = try context.requireUser()
        let body = try await request.decodeJSON(as: RestoreRequest.self, context: context)
        let snapshot = try Self.snapshotID(body.snapshot)
        let path = try WorkspacePath(body.path)
        let restore = try await self.workspaces.restore(snapshot: snapshot, path: path, for: user)
        await self.audit.record(
            .workspaceRestored, by: user, tenant: user.tenantID, target: "workspace of \(user.email)",
            detail: "snapshot \(snapshot), path \(body.path)", context: context)
        return EditedResponse(status: .created, response: RestoreDTO(restore))
    }

    @Sendable func activity(_ request: Request, context: AppRequestContext) async throws -> ListDTO<ActivityDTO> {
        let user = try context.requireUser()
        return ListDTO(items: await self.workspaces.activity(for: user).map(ActivityDTO.init))
    }

    @Sendable func usage(_ request: Request, context: AppRequestContext) async throws -> UsageDTO {
        let user = try context.requireUser()
        return UsageDTO(try await self.workspaces.usage(for: user))
    }

    /// A snapshot id as the client sent it, checked before it goes anywhere near the backup tool.
    static func snapshotID(_ text: String) throws -> String {
        guard Snapshot.isWellFormedID(text) else {
            throw CoreError.invalidInput(
                "invalid_snapshot_id", "'\(text.prefix(80))' is not a snapshot id; use the id from GET /api/v1/workspace/snapshots.")
        }
        return text
    }
}

struct SnapshotDTO: ResponseEncodable {
    var id: String
    var shortId: String
    var time: Date
    var sessionId: String?
    /// The snapshot records an emptied workspace.
    var empty: Bool

    init(_ snapshot: Snapshot) {
        self.id = snapshot.id
        self.shortId = snapshot.shortID
        self.time = snapshot.time
        self.sessionId = snapshot.sessionID?.description
        self.empty = snapshot.isEmpty
    }
}

struct SnapshotEntryDTO: ResponseEncodable {
    var path: String
    var name: String
    var kind: String
    var size: Int64
    var modifiedAt: Date?

    init(_ entry: SnapshotEntry) {
        self.path = entry.path
        self.name = entry.name
        self.kind = entry.kind.rawValue
        self.size = entry.size
        self.modifiedAt = entry.modifiedAt
    }
}

struct RestoreDTO: ResponseEncodable {
    var restoredTo: String
    var files: Int
    var bytes: Int64

    init(_ restore: WorkspaceRestore) {
        self.restoredTo = restore.restoredTo
        self.files = restore.summary.files
        self.bytes = restore.summary.bytes
    }
}

struct ActivityDTO: ResponseEncodable {
    var kind: String
    var startedAt: Date
    var sessionId: String?
    var path: String?
    var progress: BackupProgress?

    init(_ activity: WorkspaceActivity) {
        self.kind = activity.kind.rawValue
        self.startedAt = activity.startedAt
        self.sessionId = activity.sessionID?.description
        self.path = activity.path
        self.progress = activity.progress
    }
}

/// The workspace's use of its quota; `usedBytes`, `quotaBytes` and `percent` are explicit nulls
/// when unknown, so that a client reads "not known yet" rather than "missing from this version".
struct UsageDTO: ResponseEncodable {
    var usedBytes: Int?
    var quotaBytes: Int?
    var percent: Int?
    var quotaGiB: Int

    init(_ usage: WorkspaceUsage) {
        self.usedBytes = usage.usedBytes
        self.quotaBytes = usage.quotaBytes
        self.percent = usage.percent
        self.quotaGiB = usage.quotaGiB
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.usedBytes, forKey: .usedBytes)
        try container.encode(self.quotaBytes, forKey: .quotaBytes)
        try container.encode(self.percent, forKey: .percent)
        try container.encode(self.quotaGiB, forKey: .quotaGiB)
    }

    enum CodingKeys: String, CodingKey {
        case usedBytes, quotaBytes, percent, quotaGiB
    }
}
