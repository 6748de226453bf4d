import Foundation
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
}
