import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

/// The session API over a fake host: who may do what, and what the timeline records.
@Suite("Session API")
struct SessionAPITests {
    @Test func aMemberStartsListsAndClosesTheirSession() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let started = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "terminal"])
            #expect(started.status == .created, "\(String(buffer: started.body))")
            let id = try #require(JSON(started.body)["id"].string)
            #expect(JSON(started.body)["state"].string == "starting")
            #expect(JSON(started.body)["expiresAt"].string != nil)
            #expect(server.host.launches.count == 1)
            #expect(server.host.launches.first?.workspace.hasPrefix(server.dataDirectory.path) == true)

            let listed = try await client.send(.get, "/api/v1/sessions", token: tenants.acmeMember)
            #expect(JSON(listed.body)["items"].array.compactMap { $0["id"].string } == [id])

            let closed = try await client.closeSession(id, token: tenants.acmeMember)
            #expect(closed["state"].string == "closed")
            #expect(closed["closeReason"].string == "user")
            #expect(try await server.host.runningSessions().isEmpty)

            let events = try await client.send(.get, "/api/v1/sessions/\(id)/events", token: tenants.acmeMember)
            // An empty workspace: nothing to back up, so no snapshot before `closed`.
            #expect(JSON(events.body).array.compactMap { $0["type"].string } == ["started", "closing", "closed"])
            let live = try await client.send(.get, "/api/v1/sessions", token: tenants.acmeMember)
            #expect(JSON(live.body)["items"].array.isEmpty)
        }
    }

    @Test func othersCannotSeeOrAttachButTheTenantAdminCanClose() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let started = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "terminal"])
            let id = try #require(JSON(started.body)["id"].string)

            expectError(try await client.send(.get, "/api/v1/sessions/\(id)", token: tenants.globexAdmin), .notFound)
            expectError(try await client.send(.post, "/api/v1/sessions/\(id)/tickets", token: tenants.globexAdmin), .notFound)
            expectError(try await client.send(.post, "/api/v1/sessions/\(id)/tickets", token: tenants.acmeAdmin), .forbidden)
            #expect(try await client.send(.get, "/api/v1/sessions/\(id)", token: tenants.acmeAdmin).status == .ok)

            let closed = try await client.closeSession(id, token: tenants.acmeAdmin)
            #expect(closed["closeReason"].string == "admin")
        }
    }

    @Test func aDesktopIsLaunchedAsADesktop() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let started = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "desktop"])
            #expect(started.status == .created)
            #expect(JSON(started.body)["kind"].string == "desktop")
            let id = try #require(JSON(started.body)["id"].string)
            #expect(server.host.launches.map { "\($0.sessionID)" } == [id])
            #expect(server.host.launches.map(\.kind) == [.desktop])
        }
    }

    @Test func badSessionRequestsAreRefused() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            expectError(
                try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "spaceship"]),
                .unprocessableContent, code: "invalid_kind"
            )
            expectError(try await client.send(.get, "/api/v1/sessions/not-a-uuid", token: tenants.acmeMember), .notFound)
            expectError(try await client.send(.get, "/api/v1/sessions/\(UUID())", token: tenants.acmeMember), .notFound)
            expectError(try await client.send(.get, "/api/v1/sessions"), .unauthorized)
            server.host.setFailures(launch: true)
            let failed = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "terminal"])
            expectError(failed, .serviceUnavailable, code: "session_start_failed")
        }
    }
}

@Suite("Session administration")
struct SessionAdministrationTests {
    @Test func tenantAdminsSeeTheirTenantsSessionsAndExtendHeldOnes() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let started = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "terminal"])
            let id = try #require(JSON(started.body)["id"].string)

            let listed = try await client.send(.get, "/api/v1/tenants/acme/sessions", token: tenants.acmeAdmin)
            #expect(JSON(listed.body)["items"][0]["id"].string == id)
            #expect(JSON(listed.body)["items"][0]["userEmail"].string == "member@acme.test")
            expectError(try await client.send(.get, "/api/v1/tenants/acme/sessions", token: tenants.globexAdmin), .notFound)
            expectError(try await client.send(.get, "/api/v1/tenants/acme/sessions", token: tenants.acmeMember), .forbidden)

            // Not held yet (nobody attached): there is no grace deadline to extend.
            let early = try await client.send(.post, "/api/v1/sessions/\(id)/extend", token: tenants.acmeAdmin, json: ["minutes": 30])
            expectError(early, .conflict, code: "session_not_held")
            expectError(
                try await client.send(.post, "/api/v1/sessions/\(id)/extend", token: tenants.acmeMember, json: ["minutes": 30]), .forbidden
            )
            expectError(
                try await client.send(.post, "/api/v1/sessions/\(id)/extend", token: tenants.acmeAdmin, json: ["minutes": 0]),
                .unprocessableContent, code: "invalid_minutes"
            )
        }
    }

    @Test func operatorsSetATenantsGraceForNewSessions() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            expectError(
                try await client.send(.patch, "/api/v1/tenants/acme", token: tenants.acmeAdmin, json: ["graceSeconds": 3600]), .forbidden
            )
            expectError(
                try await client.send(.patch, "/api/v1/tenants/acme", token: tenants.operatorToken, json: ["graceSeconds": 5]),
                .unprocessableContent, code: "invalid_grace"
            )
            let changed = try await client.send(.patch, "/api/v1/tenants/acme", token: tenants.operatorToken, json: ["graceSeconds": 3600])
            #expect(changed.status == .ok)
            let started = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "terminal"])
            #expect(JSON(started.body)["graceSeconds"].value as? Int == 3600)

            let reset = try await client.send(.patch, "/api/v1/tenants/acme", token: tenants.operatorToken, raw: #"{"graceSeconds": null}"#)
            #expect(reset.status == .ok)
            #expect(JSON(reset.body)["graceSeconds"].value == nil || JSON(reset.body)["graceSeconds"].value is NSNull)
            let again = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "terminal"])
            #expect(JSON(again.body)["graceSeconds"].value as? Int == 1800)
        }
    }
}
