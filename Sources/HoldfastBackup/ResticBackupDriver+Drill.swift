import Foundation
import HoldfastCore
import Logging

/// What a recovery drill restored for one user, with what the snapshot says should be there.
public struct DrillRestore: Sendable {
    public var snapshot: Snapshot
    /// Regular files of the snapshot's listing, by workspace path, with their sizes.
    public var expected: [String: FileFingerprint]
    /// Regular files found under the scratch folder after the restore.
    public var restored: [String: FileFingerprint]
}

extension ResticBackupDriver {
    /// Restores the user's newest snapshot, by id, into `scratch` (which must not exist) with
    /// `restic restore --verify`, so restic reads every restored file back and checks its
    /// contents against the snapshot's SHA-256 blob ids; then lists what the snapshot holds and
    /// what landed on disk. `nil` when the user has no snapshot.
    public func drillRestore(tenant: Tenant.ID, user: User.ID, into scratch: String) async throws -> DrillRestore? {
        guard let repository = try self.existingRepository(tenant),
            let snapshot = try await repository.snapshots(of: user)?.first
        else { return nil }
        let nodes = try await repository.nodes(in: snapshot.id, at: .root, recursive: true)
        var expected: [String: FileFingerprint] = [:]
        for node in nodes where node.type == "file" {
            expected[String(node.path.drop { $0 == "/" })] = FileFingerprint(size: node.size ?? 0, sha256: nil)
        }
        guard !FileManager.default.fileExists(atPath: scratch) else {
            throw CoreError.conflict("drill_scratch_exists", "The drill's scratch folder \(scratch) exists already; remove it first.")
        }
        let outcome = try await repository.run("restore", [snapshot.id, "--target", scratch, "--verify"])
        guard outcome.succeeded else { throw repository.failure(outcome, while: "restoring snapshot \(snapshot.shortID) for a drill") }
        return DrillRestore(snapshot: snapshot, expected: expected, restored: try Self.regularFiles(under: scratch))
    }

    /// Every regular file under `root` with its size, by path relative to `root`.
    static func regularFiles(under root: String) throws -> [String: FileFingerprint] {
        var files: [String: FileFingerprint] = [:]
        guard let walker = FileManager.default.enumerator(atPath: root) else { return files }
        for case let relative as String in walker {
            let attributes = try FileManager.default.attributesOfItem(atPath: root + "/" + relative)
            guard attributes[.type] as? FileAttributeType == .typeRegular else { continue }
            files[relative] = FileFingerprint(size: (attributes[.size] as? NSNumber)?.int64Value ?? 0, sha256: nil)
        }
        return files
    }
}
