import Foundation
import HoldfastCore
import HoldfastStore
import SQLKit
import Testing

/// The audit log's store: what is appended comes back newest first, filtered by tenant and time,
/// and nothing can change or remove it afterwards.
///
/// Serialized: a PostgreSQL store opens up to nine connections, and the test cluster takes 100 in all.
@Suite("Audit repository contract", .serialized)
struct AuditRepositoryContractTests {
    let start = Date(timeIntervalSince1970: 1_795_000_000)

    func event(_ minute: Int, tenant: Tenant.ID?, _ action: AuditAction = .tenantUpdated) -> AuditEvent {
        AuditEvent(
            at: self.start.addingTimeInterval(TimeInterval(minute * 60)), tenantID: tenant, actorID: User.ID(), actor: "op@holdfast.test",
            action: action, target: "acme", detail: "limits: standard → memoryMiB 1024", from: "203.0.113.7")
    }

    @Test(arguments: StoreKind.allCases)
    func eventsComeBackNewestFirstByTenantAndTime(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let acme = Tenant.ID()
            let globex = Tenant.ID()
            let events = [
                self.event(1, tenant: acme), self.event(2, tenant: globex), self.event(3, tenant: nil, .calendarReplaced),
                self.event(4, tenant: acme, .userCreated),
                // Two in the same millisecond keep the order they were appended in.
                self.event(5, tenant: acme, .sessionClosed), self.event(5, tenant: acme, .sessionExtended),
            ]
            for event in events { try await repositories.audit.append(event) }

            #expect(try await repositories.audit.list(AuditQuery()) == events.reversed())
            #expect(try await repositories.audit.list(AuditQuery(tenantID: acme)) == [events[5], events[4], events[3], events[0]])
            let window = AuditQuery(since: self.start.addingTimeInterval(120), until: self.start.addingTimeInterval(240))
            #expect(try await repositories.audit.list(window) == [events[2], events[1]])
            #expect(try await repositories.audit.list(AuditQuery(limit: 2, offset: 1)) == [events[4], events[3]])
        }
    }

    @Test(arguments: StoreKind.sql)
    func theDatabaseRefusesToRewriteHistory(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, database in
            let database = try #require(database)
            let kept = self.event(1, tenant: nil)
            try await repositories.audit.append(kept)
            // As an operator with a database shell would try it.
            for statement in ["UPDATE audit_events SET actor = 'nobody'", "DELETE FROM audit_events"] {
                await #expect(throws: (any Error).self, "\(statement) was allowed") {
                    try await database.withConnection { try await $0.raw(SQLQueryString(statement)).run() }
                }
            }
            #expect(try await repositories.audit.list(AuditQuery()) == [kept])
        }
    }
}
