import Foundation
import HoldfastCore
import Testing

@Suite("Audit query ranges")
struct AuditQueryTests {
    let now = Date(timeIntervalSince1970: 1_795_000_000)

    @Test func sensibleRangesPass() throws {
        _ = try AuditQuery().validated(at: self.now)
        _ = try AuditQuery(since: self.now.addingTimeInterval(-86_400), until: self.now).validated(at: self.now)
        _ = try AuditQuery(since: self.now.addingTimeInterval(-399 * 86_400)).validated(at: self.now)
    }

    @Test(arguments: [
        (
            "since after until",
            AuditQuery(since: Date(timeIntervalSince1970: 1_795_000_000), until: Date(timeIntervalSince1970: 1_794_000_000))
        ),
        ("empty range", AuditQuery(since: Date(timeIntervalSince1970: 1_794_000_000), until: Date(timeIntervalSince1970: 1_794_000_000))),
        ("before the service", AuditQuery(since: Date(timeIntervalSince1970: 0))),
        ("far future", AuditQuery(until: Date(timeIntervalSince1970: 4_000_000_000))),
        ("over 400 days", AuditQuery(since: Date(timeIntervalSince1970: 1_700_000_000), until: Date(timeIntervalSince1970: 1_795_000_000))),
        ("zero limit", AuditQuery(limit: 0)),
        ("huge limit", AuditQuery(limit: 1_000_000)),
        ("negative offset", AuditQuery(offset: -1)),
    ])
    func absurdRangesAreRefused(name: String, query: AuditQuery) {
        let error = #expect(throws: CoreError.self, "\(name)") { try query.validated(at: self.now) }
        #expect(error?.code == "invalid_range")
    }
}
