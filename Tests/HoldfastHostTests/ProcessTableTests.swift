import Foundation
import Glibc
import Testing

@testable import HoldfastHost

@Suite("Process table")
struct ProcessTableTests {
    /// `/proc` files claim a size of 0 or one page; a reader that trusts it loses the rest (a
    /// mount table past 4 KiB once hid the workspace volumes mounted last).
    @Test func procFilesAreReadToTheirEnd() throws {
        let maps = try #require(ProcessTable.text(of: "/proc/self/maps"))
        try #require(maps.utf8.count > 8_192, "this test needs a process whose maps are longer than two pages")
        // The stack and vsyscall lines come last in the file.
        #expect(maps.contains("[stack]"))
        #expect(maps.hasSuffix("\n"))
        #expect(ProcessTable.text(of: "/proc/self/nonexistent") == nil)
    }

    /// Entry names are read up to their NUL, whatever their length (the kernel's records are as
    /// long as the name, and copying the whole `d_name` array read past the last one).
    @Test func directoryEntryNamesAreReadExactly() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hf-names-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let names = Set([1, 2, 7, 8, 9, 100, 254, 255].map { String(repeating: "n", count: $0 - 1) + "\($0 % 10)" })
        for name in names { #expect(FileManager.default.createFile(atPath: folder + "/" + name, contents: nil)) }
        let directory = try #require(opendir(folder))
        defer { closedir(directory) }
        var found: Set<String> = []
        while let entry = readdir(directory) { found.insert(ProcessTable.name(of: entry)) }
        #expect(found == names.union([".", ".."]))
        let pids = ProcessTable.processIDs()
        #expect(pids.contains(getpid()) && pids.contains(1))
    }
}
