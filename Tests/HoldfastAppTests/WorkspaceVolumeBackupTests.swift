import Foundation
import Glibc
import HoldfastCore
import HoldfastHTTP
import HoldfastHost
import HoldfastTestSupport
import Logging
import Testing

@testable import HoldfastApp

/// Workspaces that are quota volumes: restores land in them by rename, usage is reported (needs root).
@Suite("Workspace volume backups", .serialized)
struct WorkspaceVolumeBackupTests {
    @Test func aWorkspaceVolumeIsRestoredIntoAndRestoresLandBesideTheLiveCopy() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hf-vol-\(UUID().uuidString)").path
        let store = InMemoryStore()
        let driver = FakeBackupDriver(now: { Date() })
        let backups = WorkspaceBackups(
            configuration: .init(
                workspacesDirectory: root + "/workspaces", restoresDirectory: root + "/restores", volumesDirectory: root + "/volumes"),
            driver: driver, repositories: store.repositories, accountFor: { _ in UnixAccount(uid: 200_001, gid: 200_001) },
            now: { Date() }, logger: Logger(label: "test"))
        let tenant = Tenant(name: "Acme", slug: "acme", graceSeconds: 600, createdAt: Date())
        try await store.repositories.tenants.create(tenant)
        let user = User(tenantID: tenant.id, email: "ann@acme.test", name: "Ann", role: .member, createdAt: Date())
        try await store.repositories.users.create(user, passwordHash: "h")
        let workspace = backups.workspace(tenant: tenant.id, user: user.id)
        let volume = try #require(backups.volume(tenant: tenant.id, user: user.id))
        defer {
            Task { try? await volume.unmount() }
        }

        // A snapshot from another host, then a fresh host: the volume is made, then filled from the backup.
        try FileManager.default.createDirectory(atPath: workspace + "/docs", withIntermediateDirectories: true)
        try Data("v1".utf8).write(to: URL(fileURLWithPath: workspace + "/docs/plan.md"))
        let summary = try #require(try await backups.snapshot(tenant: tenant.id, user: user.id, session: nil))
        try FileManager.default.removeItem(atPath: workspace)

        try await backups.ensureVolume(tenant: tenant.id, user: user.id, sizeGiB: 1, owner: UnixAccount(uid: 200_001, gid: 200_001))
        #expect(volume.isMounted)
        let restored = try await backups.restoreIfMissing(tenant: tenant.id, user: user.id)
        #expect(restored?.id == summary.snapshot.id)
        #expect(volume.isMounted)
        #expect(FileManager.default.contents(atPath: workspace + "/docs/plan.md") == Data("v1".utf8))
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: workspace)) == ["docs"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: volume.stagingDirectory).isEmpty)

        try Data("v2".utf8).write(to: URL(fileURLWithPath: workspace + "/docs/plan.md"))
        let beside = try await backups.restore(snapshot: summary.snapshot.shortID, path: try WorkspacePath("docs"), for: user)
        #expect(FileManager.default.contents(atPath: workspace + "/" + beside.restoredTo + "/plan.md") == Data("v1".utf8))
        #expect(FileManager.default.contents(atPath: workspace + "/docs/plan.md") == Data("v2".utf8))

        let usage = try #require(backups.usage(tenant: tenant.id, user: user.id))
        #expect(usage.usedBytes > 0 && usage.sizeBytes <= 1 << 30)
        // Twice is a no-op.
        try await backups.ensureVolume(tenant: tenant.id, user: user.id, sizeGiB: 1, owner: UnixAccount(uid: 200_001, gid: 200_001))
        #expect(MountTableCount.at(workspace) == 1)
        try await volume.unmount()
        try FileManager.default.removeItem(atPath: root)
    }
}

enum MountTableCount {
    static func at(_ path: String) -> Int {
        // Read to the end: String(contentsOfFile:) stops at 4 KiB of a /proc file.
        let data = FileHandle(forReadingAtPath: "/proc/self/mountinfo")?.readDataToEndOfFile() ?? Data()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        return lines.filter { $0.split(separator: " ").count > 4 && $0.split(separator: " ")[4] == path }.count
    }
}
