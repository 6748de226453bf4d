import Foundation
import HoldfastCore
import Testing

/// The rules that keep restores inside the workspace and retention sensible.
@Suite("Backup rules")
struct BackupRulesTests {
    @Test(arguments: ["", "notes", "notes/today.txt", "a b/c d.txt", "notes/", "ünïcode/файл"])
    func relativePathsInsideTheWorkspaceAreAccepted(_ text: String) throws {
        let path = try WorkspacePath(text)
        #expect(path.description == (text.hasSuffix("/") ? String(text.dropLast()) : text))
        #expect(path.isRoot == (text.isEmpty))
    }

    @Test(arguments: ["..", "../x", "a/../../b", "a/./b", ".", "/etc/passwd", "/", "a//b", "a\0b", "//x"])
    func pathsThatCouldLeaveTheWorkspaceAreRefused(_ text: String) {
        #expect(throws: CoreError.self) { try WorkspacePath(text) }
        do {
            _ = try WorkspacePath(text)
        } catch {
            #expect(error.code == "invalid_path")
            #expect(!error.message.isEmpty)
        }
    }

    @Test func aVeryLongPathIsRefused() {
        #expect(throws: CoreError.self) { try WorkspacePath(String(repeating: "a/", count: 3000) + "a") }
    }

    @Test func parentsNamesAndAppendingStayChecked() throws {
        let path = try WorkspacePath("docs/2026/plan.md")
        #expect(path.name == "plan.md")
        #expect(path.parent.description == "docs/2026")
        #expect(path.parent.parent.parent.isRoot)
        #expect(try WorkspacePath.root.appending("docs").description == "docs")
        #expect(throws: CoreError.self) { try path.parent.appending("..") }
    }

    @Test func snapshotIDsMustBeHexOfASensibleLength() {
        #expect(Snapshot.isWellFormedID("1a2b3c4d"))
        #expect(Snapshot.isWellFormedID(String(repeating: "f", count: 64)))
        #expect(!Snapshot.isWellFormedID("1a2b3c4"))
        #expect(!Snapshot.isWellFormedID(String(repeating: "f", count: 65)))
        #expect(!Snapshot.isWellFormedID("1A2B3C4D"))
        #expect(!Snapshot.isWellFormedID("--latest"))
        #expect(!Snapshot.isWellFormedID("latest"))
    }

    @Test func aRetentionPolicyKeepsAtLeastTheNewestSnapshotAndStaysBounded() throws {
        #expect(try RetentionPolicy.standard.validated() == .standard)
        #expect(throws: CoreError.self) { try RetentionPolicy(keepLast: 0, keepHourly: 24, keepDaily: 7, keepWeekly: 4).validated() }
        #expect(throws: CoreError.self) { try RetentionPolicy(keepLast: 1, keepHourly: -1, keepDaily: 7, keepWeekly: 4).validated() }
        #expect(throws: CoreError.self) { try RetentionPolicy(keepLast: 1, keepHourly: 0, keepDaily: 0, keepWeekly: 1001).validated() }
    }

    @Test func byteCountsReadLikePeopleWriteThem() {
        #expect(ByteText.format(0) == "0 B")
        #expect(ByteText.format(999) == "999 B")
        #expect(ByteText.format(4_200) == "4.2 kB")
        #expect(ByteText.format(1_300_000) == "1.3 MB")
        #expect(ByteText.format(2_000_000_000) == "2.0 GB")
    }
}
