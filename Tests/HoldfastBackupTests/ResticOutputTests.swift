import Foundation
import Testing

@testable import HoldfastBackup

@Suite("restic's output")
struct ResticOutputTests {
    /// Standard error of `restic backup --json` (0.14) run as a user who may not read
    /// `sub/secret.txt`: it exited 3 and stored the snapshot without the file.
    static let exitThreeErrors = """
        {"message_type":"error","error":{"Op":"open","Path":"sub/secret.txt","Err":13},"during":"archival","item":"/tmp/rt2/ws/sub/secret.txt"}
        Warning: at least one source file could not be read
        """

    @Test func theFilesABackupCouldNotReadAreNamedRelativeToTheWorkspace() {
        #expect(ResticOutput.unreadableItems(in: Self.exitThreeErrors, workspace: "/tmp/rt2/ws") == ["sub/secret.txt"])
        #expect(ResticOutput.unreadableItems(in: Self.exitThreeErrors, workspace: "/tmp/rt2/ws/") == ["sub/secret.txt"])
        // Other lines (progress, warnings, garbage) name nothing.
        #expect(ResticOutput.unreadableItems(in: "Fatal: wrong password\n{\"message_type\":\"status\"}\n{oops", workspace: "/w").isEmpty)
    }
}
