import HoldfastBackup
import HoldfastCore
import Testing

/// The repository location is parsed from the command line and must reject anything restic would misread.
@Suite("Repository location")
struct RepositoryLocationTests {
    @Test func localAndS3LocationsParse() throws {
        #expect(try RepositoryLocation.parse("local:/var/lib/holdfast/backups/") == .local(directory: "/var/lib/holdfast/backups"))
        #expect(
            try RepositoryLocation.parse("s3:http://127.0.0.1:9000/bucket/prefix") == .s3(url: "s3:http://127.0.0.1:9000/bucket/prefix"))
        #expect(try RepositoryLocation.parse("s3:https://s3.example.com/bucket") == .s3(url: "s3:https://s3.example.com/bucket"))
    }

    @Test(arguments: [
        "", "/var/backups", "local:", "local:relative/dir", "local:/a/../b", "local:/", "sftp:host:/dir", "s3:", "s3:bucket/prefix",
        "s3:http://", "s3:http://host:9000", "s3:http://host:9000/", "s3:http://user:secret@host/bucket", "s3:http://host/bucket?x=1",
        "s3:http://host/bucket//prefix", "local:/with space",
    ])
    func malformedLocationsAreRejectedWithAHint(_ text: String) {
        let error = #expect(throws: CoreError.self) { try RepositoryLocation.parse(text) }
        #expect(error?.kind == .invalidInput)
        #expect(error?.code == "invalid_backup_repository")
        #expect(error?.message.contains("local:/ABSOLUTE/DIR") == true)
    }
}
