import Foundation

/// What one recovery drill (`holdfast drill --tenant SLUG`) did and found; the plans show the latest one.
///
/// A drill restores the tenant's latest snapshots into scratch space, verifies every file against the
/// snapshot listing, and measures the wall-clock time from start to verified restore: that time is the
/// recovery time the plans promise once a drill has run.
public struct DrillResult: Sendable, Codable, Hashable {
    public typealias ID = Identifier<DrillResult>

    public var id: ID
    public var tenantSlug: String
    public var startedAt: Date
    public var finishedAt: Date
    /// Seconds from start to verified restore, rounded up: the recovery time this drill achieved.
    public var rtoSeconds: Int
    /// The recovery time objective in force when the drill ran.
    public var rtoTargetSeconds: Int
    public var snapshotsRestored: Int
    public var filesVerified: Int
    public var bytesVerified: Int64
    /// True when the data verified and the time was within the target.
    public var passed: Bool
    /// Readable problems, at most ``DrillVerifier/maximumFailures``; empty when the drill passed.
    public var failures: [String]

    public init(
        id: ID = ID(), tenantSlug: String, startedAt: Date, finishedAt: Date, rtoSeconds: Int, rtoTargetSeconds: Int,
        snapshotsRestored: Int, filesVerified: Int, bytesVerified: Int64, passed: Bool, failures: [String]
    ) {
        self.id = id
        self.tenantSlug = tenantSlug
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.rtoSeconds = rtoSeconds
        self.rtoTargetSeconds = rtoTargetSeconds
        self.snapshotsRestored = snapshotsRestored
        self.filesVerified = filesVerified
        self.bytesVerified = bytesVerified
        self.passed = passed
        self.failures = failures
    }

    /// The result of a drill that ran from `startedAt` to `finishedAt` and was verified as `verification` says.
    ///
    /// A drill slower than its target fails even when every file matched: the plan promises a recovery
    /// time, and a drill is the only evidence that the promise holds.
    public static func measured(
        id: ID = ID(), tenantSlug: String, startedAt: Date, finishedAt: Date, rtoTargetSeconds: Int, snapshotsRestored: Int,
        verification: DrillVerification
    ) -> DrillResult {
        let elapsed = max(0, finishedAt.timeIntervalSince(startedAt))
        // A clock gone wild must not crash the recorder: anything beyond Int's range is "forever".
        let rtoSeconds = elapsed < 9e18 ? Int(elapsed.rounded(.up)) : Int.max
        var log = FailureLog()
        if rtoSeconds > rtoTargetSeconds {
            log.append(
                "the restore took \(DurationText.format(seconds: rtoSeconds)), more than the "
                    + "\(DurationText.format(seconds: rtoTargetSeconds)) target; find the slow step or raise the target"
            )
        }
        log.append(contentsOf: verification.firstFailures, total: verification.failureCount)
        return DrillResult(
            id: id, tenantSlug: tenantSlug, startedAt: startedAt, finishedAt: finishedAt, rtoSeconds: rtoSeconds,
            rtoTargetSeconds: rtoTargetSeconds, snapshotsRestored: snapshotsRestored, filesVerified: verification.filesVerified,
            bytesVerified: verification.bytesVerified, passed: log.total == 0, failures: log.messages
        )
    }
}

/// The size and SHA-256 digest of one file, from a snapshot listing or from the restored copy.
public struct FileFingerprint: Sendable, Codable, Hashable {
    public var size: Int64
    /// 64 hex digits, compared without regard to case; `nil` when the side has no digest (restic's
    /// listing gives sizes only, and restic checks restored contents itself with `restore --verify`).
    public var sha256: String?

    public init(size: Int64, sha256: String?) {
        self.size = size
        self.sha256 = sha256
    }
}

/// What comparing a restore with its snapshot found.
public struct DrillVerification: Sendable, Codable, Hashable {
    /// Files whose restored size and digest match the snapshot.
    public var filesVerified: Int
    public var bytesVerified: Int64
    /// Every problem found, including those not kept in ``firstFailures``.
    public var failureCount: Int
    /// The first problems found, in the order they were found, at most ``DrillVerifier/maximumFailures``.
    public var firstFailures: [String]

    public init(filesVerified: Int, bytesVerified: Int64, failureCount: Int, firstFailures: [String]) {
        self.filesVerified = filesVerified
        self.bytesVerified = bytesVerified
        self.failureCount = failureCount
        self.firstFailures = firstFailures
    }

    public var passed: Bool { self.failureCount == 0 }

    /// The problems as a person reads them: at most ``DrillVerifier/maximumFailures`` lines, the last one
    /// saying how many more there were.
    public var failures: [String] {
        var log = FailureLog()
        log.append(contentsOf: self.firstFailures, total: self.failureCount)
        return log.messages
    }
}

/// Compares what a drill restored with what the snapshot listing says should be there.
///
/// Rules, each a failure:
/// - `restic check` reported errors: the repository itself is damaged, whatever the files look like.
/// - The listing is empty: nothing was verified, so nothing was proven (restic never stores an empty
///   workspace, so a real snapshot always lists at least one file).
/// - A listed file is missing from the restore, or its size or SHA-256 digest differs.
/// - A restored file is not in the listing. The restore goes into empty scratch space, so an extra file
///   means the listing and the restore came from different snapshots (the drill must restore by snapshot
///   id, never by `latest`, which can move in between); the drill would then vouch for files it never checked.
///
/// Files are visited in path order, so the same inputs always give the same messages.
public enum DrillVerifier {
    /// How many problems a result keeps; after a few, more of the same tell the operator nothing new.
    public static let maximumFailures = 20

    public static func verify(
        expected: [String: FileFingerprint], restored: [String: FileFingerprint], repositoryCheckPassed: Bool
    ) -> DrillVerification {
        var log = FailureLog()
        if !repositoryCheckPassed {
            log.append("restic check found errors in the repository; read its output and repair the repository before relying on it")
        }
        if expected.isEmpty {
            log.append("the snapshot listing is empty, so nothing was verified; run the drill again after the tenant's first backup")
        }
        var filesVerified = 0
        var bytesVerified: Int64 = 0
        for path in expected.keys.sorted() {
            let want = expected[path]!
            guard let got = restored[path] else {
                log.append("missing after restore: \(path)")
                continue
            }
            if got.size != want.size {
                log.append("size differs: \(path) (snapshot \(want.size) bytes, restored \(got.size) bytes)")
            } else if let wanted = want.sha256?.lowercased(), let found = got.sha256?.lowercased(), wanted != found {
                log.append("content differs: \(path) (SHA-256 in snapshot \(wanted.prefix(12))…, restored \(found.prefix(12))…)")
            } else {
                filesVerified += 1
                bytesVerified += want.size
            }
        }
        for path in restored.keys.sorted() where expected[path] == nil {
            log.append("not in the snapshot listing: \(path) (the restore and the listing come from different snapshots)")
        }
        return DrillVerification(
            filesVerified: filesVerified, bytesVerified: bytesVerified, failureCount: log.total, firstFailures: log.kept
        )
    }
}

/// Problems in the order found, keeping only the first few while counting them all, so a restore with a
/// million bad files costs no more memory than one with twenty.
struct FailureLog {
    private(set) var kept: [String] = []
    private(set) var total = 0

    mutating func append(_ message: String) {
        self.total += 1
        if self.kept.count < DrillVerifier.maximumFailures { self.kept.append(message) }
    }

    /// Appends `messages`, the first of `total` problems found elsewhere.
    mutating func append(contentsOf messages: [String], total: Int) {
        for message in messages { self.append(message) }
        self.total += max(0, total - messages.count)
    }

    /// At most ``DrillVerifier/maximumFailures`` lines; when some were left out, the last line counts them.
    var messages: [String] {
        let limit = DrillVerifier.maximumFailures
        guard self.total > limit else { return self.kept }
        let shown = limit - 1
        return Array(self.kept.prefix(shown)) + ["… and \(self.total - shown) more problems (\(self.total) in all)"]
    }
}
