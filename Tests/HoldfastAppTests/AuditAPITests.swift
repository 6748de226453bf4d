import Foundation
import HoldfastApp
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Audit log")
struct AuditAPITests {
    @Test func privilegedActionsAreRecordedOnceWithWhoWhatAndWhere() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let limited = try await client.send(
                .patch, "/api/v1/tenants/acme", token: tenants.acmeAdmin, json: ["limits": ["sessionsPerUser": 2]])
            #expect(limited.status == .ok, "\(String(buffer: limited.body))")
            // A refused change is no action: nothing is recorded for it.
            let refused = try await client.send(
                .patch, "/api/v1/tenants/acme", token: tenants.acmeAdmin, json: ["limits": ["sessionsPerUser": 50]])
            #expect(refused.status.code >= 400)

            let all = try await client.send(.get, "/api/v1/audit", token: tenants.operatorToken)
            #expect(all.status == .ok)
            let items = JSON(all.body)["items"].array
            let actions = items.compactMap { $0["action"].string }
            // Newest first: the limit change, three users, two tenants, and the first operator made at first start.
            #expect(
                actions == ["tenant.updated"] + Array(repeating: "user.created", count: 3) + [
                    "tenant.created", "tenant.created", "user.created",
                ])
            #expect(items.last?["actor"].string == "service" && items.last?["target"].string == server.firstOperator.email)
            let change = try #require(items.first)
            #expect(change["actor"].string == "admin@acme.test" && change["target"].string == "acme" && change["tenant"].string == "acme")
            #expect(change["detail"].string?.contains("limits") == true)
            #expect(change["from"].string == "local")
            #expect(items.contains { $0["target"].string == "member@acme.test" && $0["detail"].string == "role: member" })
        }
    }

    @Test func aTenantsAdminsSeeTheirTenantOnlyAndMembersNothing() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let own = try await client.send(.get, "/api/v1/audit", token: tenants.acmeAdmin)
            #expect(own.status == .ok)
            let tenantsSeen = Set(JSON(own.body)["items"].array.compactMap { $0["tenant"].string })
            #expect(tenantsSeen == ["acme"])
            expectError(
                try await client.send(.get, "/api/v1/audit?tenant=globex", token: tenants.acmeAdmin), .notFound, code: "not_found")
            expectError(try await client.send(.get, "/api/v1/audit", token: tenants.acmeMember), .forbidden, code: "forbidden")
        }
    }

    @Test func jsonLinesAndAbsurdRanges() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let lines = try await client.send(
                .get, "/api/v1/audit?tenant=acme", token: tenants.operatorToken, headers: [.accept: "application/x-ndjson"])
            #expect(lines.headers[.contentType]?.hasPrefix("application/x-ndjson") == true)
            let text = String(buffer: lines.body)
            #expect(text.hasSuffix("\n"))
            let objects = try text.split(separator: "\n").map { line in
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            }
            #expect(objects.count == 3)  // acme created, its admin and its member
            #expect(objects.allSatisfy { Set(($0 ?? [:]).keys) == ["at", "actor", "action", "target", "detail", "from", "tenant"] })
            for query in [
                "since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", "since=1970-01-01T00:00:00Z", "since=yesterday", "limit=0",
                "limit=many",
            ] {
                expectError(
                    try await client.send(.get, "/api/v1/audit?\(query)", token: tenants.operatorToken), .unprocessableContent,
                    code: "invalid_range")
            }
        }
    }
}
