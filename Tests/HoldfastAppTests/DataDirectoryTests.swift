import Foundation
import Testing

@testable import HoldfastApp

/// The data directory holds every user's files and the service's secrets: only its owner gets in.
@Suite("Data directory")
struct DataDirectoryTests {
    @Test func aNewDirectoryIsOwnerOnlyAndAnExistingOpenOneIsClosed() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("data-dir-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let fresh = parent + "/new"
        try DataDirectory.prepare(fresh)
        #expect(try mode(fresh) == 0o700)

        let open = parent + "/open"
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        #expect(try mode(open) == 0o755)
        try DataDirectory.prepare(open)
        #expect(try mode(open) == 0o700)
        // What is already tighter stays as it is.
        try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: open)
        try DataDirectory.prepare(open)
        #expect(try mode(open) == 0o500)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: open)
    }

    private func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }
}
