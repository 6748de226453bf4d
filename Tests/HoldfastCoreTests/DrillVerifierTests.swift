import Foundation
import HoldfastCore
import Testing

/// What a drill proves: every file of the snapshot came back, byte for byte, in time.
@Suite("Drill verification")
struct DrillVerifierTests {
    let listing: [String: FileFingerprint] = [
        "notes/today.txt": FileFingerprint(size: 12, sha256: String(repeating: "a", count: 64)),
        "src/main.swift": FileFingerprint(size: 300, sha256: String(repeating: "b", count: 64)),
        "empty": FileFingerprint(size: 0, sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ]

    @Test func anExactRestoreWithASoundRepositoryPasses() {
        let result = DrillVerifier.verify(expected: self.listing, restored: self.listing, repositoryCheckPassed: true)
        #expect(result.passed)
        #expect(result.failures.isEmpty)
        #expect(result.filesVerified == 3)
        #expect(result.bytesVerified == 312)
    }

    @Test func digestsAreComparedWithoutRegardToCase() {
        var restored = self.listing
        restored["src/main.swift"]?.sha256 = String(repeating: "B", count: 64)
        #expect(DrillVerifier.verify(expected: self.listing, restored: restored, repositoryCheckPassed: true).passed)
    }

    @Test func aMissingFileFails() {
        var restored = self.listing
        restored["notes/today.txt"] = nil
        let result = DrillVerifier.verify(expected: self.listing, restored: restored, repositoryCheckPassed: true)
        #expect(!result.passed)
        #expect(result.failures == ["missing after restore: notes/today.txt"])
        #expect(result.filesVerified == 2)
        #expect(result.bytesVerified == 300)
    }

    @Test func aSizeOrContentDifferenceFails() {
        var restored = self.listing
        restored["notes/today.txt"]?.size = 11
        restored["src/main.swift"]?.sha256 = String(repeating: "c", count: 64)
        let result = DrillVerifier.verify(expected: self.listing, restored: restored, repositoryCheckPassed: true)
        #expect(!result.passed)
        #expect(result.failures.count == 2)
        #expect(result.failures[0] == "size differs: notes/today.txt (snapshot 12 bytes, restored 11 bytes)")
        #expect(result.failures[1].hasPrefix("content differs: src/main.swift (SHA-256 in snapshot bbbbbbbbbbbb…, restored cccccccccccc…)"))
        #expect(result.filesVerified == 1)
    }

    @Test func anExtraFileFailsBecauseTheListingAndTheRestoreDisagree() {
        var restored = self.listing
        restored["stray.txt"] = FileFingerprint(size: 1, sha256: String(repeating: "d", count: 64))
        let result = DrillVerifier.verify(expected: self.listing, restored: restored, repositoryCheckPassed: true)
        #expect(!result.passed)
        #expect(result.failures.count == 1)
        #expect(result.failures[0].hasPrefix("not in the snapshot listing: stray.txt"))
        #expect(result.filesVerified == 3)
    }

    @Test func aFailedRepositoryCheckFailsEvenAPerfectRestore() {
        let result = DrillVerifier.verify(expected: self.listing, restored: self.listing, repositoryCheckPassed: false)
        #expect(!result.passed)
        #expect(result.failures.count == 1)
        #expect(result.failures[0].hasPrefix("restic check found errors"))
    }

    @Test func anEmptyListingProvesNothingAndFails() {
        let result = DrillVerifier.verify(expected: [:], restored: [:], repositoryCheckPassed: true)
        #expect(!result.passed)
        #expect(result.failures.first?.contains("nothing was verified") == true)
    }

    @Test func failuresAreCappedAtTwentyMessagesAndCounted() {
        let expected = Dictionary(
            uniqueKeysWithValues: (0..<50).map { (String(format: "file-%02d", $0), FileFingerprint(size: 1, sha256: "00")) })
        let result = DrillVerifier.verify(expected: expected, restored: [:], repositoryCheckPassed: true)
        #expect(result.failureCount == 50)
        #expect(result.failures.count == DrillVerifier.maximumFailures)
        #expect(result.failures.first == "missing after restore: file-00")
        #expect(result.failures[18] == "missing after restore: file-18")
        #expect(result.failures.last == "… and 31 more problems (50 in all)")
        let twenty = Dictionary(uniqueKeysWithValues: expected.sorted { $0.key < $1.key }.prefix(20).map { ($0.key, $0.value) })
        let exactly = DrillVerifier.verify(expected: twenty, restored: [:], repositoryCheckPassed: true)
        #expect(exactly.failures.count == 20)
        #expect(exactly.failures.last == "missing after restore: file-19")
    }

    @Test func theSameInputsGiveTheSameMessagesInPathOrder() {
        let expected = Dictionary(uniqueKeysWithValues: ["b", "c", "a"].map { ($0, FileFingerprint(size: 1, sha256: "00")) })
        let result = DrillVerifier.verify(expected: expected, restored: [:], repositoryCheckPassed: true)
        #expect(result.failures == ["missing after restore: a", "missing after restore: b", "missing after restore: c"])
    }

    @Test func aDrillRecordsItsMeasuredTimeRoundedUpAndPassesWithinTheTarget() {
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        let verification = DrillVerifier.verify(expected: self.listing, restored: self.listing, repositoryCheckPassed: true)
        let result = DrillResult.measured(
            tenantSlug: "acme", startedAt: start, finishedAt: start.addingTimeInterval(754.2), rtoTargetSeconds: 3_600,
            snapshotsRestored: 2, verification: verification)
        #expect(result.rtoSeconds == 755)
        #expect(result.passed)
        #expect(result.failures.isEmpty)
        #expect(result.filesVerified == 3)
        #expect(result.bytesVerified == 312)
        #expect(result.snapshotsRestored == 2)
    }

    @Test func aDrillSlowerThanItsTargetFailsAndSaysSoFirst() {
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        let expected = Dictionary(
            uniqueKeysWithValues: (0..<25).map { (String(format: "f%02d", $0), FileFingerprint(size: 1, sha256: "00")) })
        let perfect = DrillVerifier.verify(expected: self.listing, restored: self.listing, repositoryCheckPassed: true)
        let slow = DrillResult.measured(
            tenantSlug: "acme", startedAt: start, finishedAt: start.addingTimeInterval(3_601), rtoTargetSeconds: 3_600,
            snapshotsRestored: 1, verification: perfect)
        #expect(!slow.passed)
        #expect(slow.failures == ["the restore took 1h1s, more than the 1h target; find the slow step or raise the target"])
        let both = DrillResult.measured(
            tenantSlug: "acme", startedAt: start, finishedAt: start.addingTimeInterval(4_000), rtoTargetSeconds: 3_600,
            snapshotsRestored: 1, verification: DrillVerifier.verify(expected: expected, restored: [:], repositoryCheckPassed: true))
        #expect(both.failures.count == 20)
        #expect(both.failures.first?.hasPrefix("the restore took") == true)
        #expect(both.failures.last == "… and 7 more problems (26 in all)")
    }
}
