import Foundation
import HoldfastApp
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

/// Two tenants, each with an admin and a member, created through the API by the operator.
struct TwoTenants {
    let operatorToken: String
    let acmeAdmin: String
    let acmeMember: String
    let globexAdmin: String

    static func make(_ server: TestServer, _ client: any TestClientProtocol) async throws -> TwoTenants {
        let op = try await client.signIn(server.firstOperator.email, server.firstOperator.password)
        for slug in ["acme", "globex"] {
            let created = try await client.send(.post, "/api/v1/tenants", token: op, json: ["name": slug.capitalized, "slug": slug])
            #expect(created.status == .created)
        }
        let users: [(String, String, String)] = [
            ("acme", "admin@acme.test", "tenant-admin"), ("acme", "member@acme.test", "member"),
            ("globex", "admin@globex.test", "tenant-admin"),
        ]
        for (slug, email, role) in users {
            let created = try await client.send(
                .post, "/api/v1/tenants/\(slug)/users", token: op, json: ["email": email, "password": "correct horse", "role": role]
            )
            #expect(created.status == .created, "\(String(buffer: created.body))")
        }
        return TwoTenants(
            operatorToken: op,
            acmeAdmin: try await client.signIn("admin@acme.test", "correct horse"),
            acmeMember: try await client.signIn("member@acme.test", "correct horse"),
            globexAdmin: try await client.signIn("admin@globex.test", "correct horse")
        )
    }
}

@Suite("Tenants, users and roles")
struct TenantIsolationTests {
    @Test func aTenantAdminManagesOwnUsersOnly() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)

            let own = try await client.send(.get, "/api/v1/tenants/acme/users", token: tenants.acmeAdmin)
            #expect(own.status == .ok)
            #expect(JSON(own.body)["items"].array.compactMap { $0["email"].string } == ["admin@acme.test", "member@acme.test"])

            let added = try await client.send(
                .post, "/api/v1/tenants/acme/users", token: tenants.acmeAdmin,
                json: ["email": "New@Acme.test ", "password": "long enough pw", "role": "member"]
            )
            #expect(added.status == .created)
            #expect(JSON(added.body)["email"].string == "new@acme.test")
            _ = try await client.signIn("new@acme.test", "long enough pw")
        }
    }

    @Test func anotherTenantIsInvisibleToATenantAdmin() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)

            expectError(try await client.send(.get, "/api/v1/tenants/globex/users", token: tenants.acmeAdmin), .notFound, code: "not_found")
            expectError(try await client.send(.get, "/api/v1/tenants/globex", token: tenants.acmeAdmin), .notFound)
            expectError(
                try await client.send(
                    .post, "/api/v1/tenants/globex/users", token: tenants.acmeAdmin,
                    json: ["email": "spy@acme.test", "password": "long enough pw", "role": "tenant-admin"]
                ),
                .notFound
            )
            let listed = try await client.send(.get, "/api/v1/tenants", token: tenants.acmeAdmin)
            #expect(JSON(listed.body)["items"].array.compactMap { $0["slug"].string } == ["acme"])

            let globexUsers = try await client.send(.get, "/api/v1/tenants/globex/users", token: tenants.globexAdmin)
            #expect(JSON(globexUsers.body)["items"].array.compactMap { $0["email"].string } == ["admin@globex.test"])
        }
    }

    @Test func membersAndTenantAdminsCannotReachBeyondTheirRole() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)

            expectError(try await client.send(.get, "/api/v1/tenants/acme/users", token: tenants.acmeMember), .forbidden, code: "forbidden")
            expectError(
                try await client.send(.post, "/api/v1/tenants", token: tenants.acmeAdmin, json: ["name": "Mine", "slug": "mine"]),
                .forbidden
            )
            expectError(
                try await client.send(
                    .post, "/api/v1/tenants/acme/users", token: tenants.acmeAdmin,
                    json: ["email": "boss@acme.test", "password": "long enough pw", "role": "operator"]
                ),
                .forbidden
            )
            let users = try await client.send(.get, "/api/v1/tenants/acme/users", token: tenants.operatorToken)
            #expect(JSON(users.body)["items"].array.count == 2)
        }
    }

    @Test func theOperatorSeesEveryTenant() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let listed = try await client.send(.get, "/api/v1/tenants", token: tenants.operatorToken)
            #expect(JSON(listed.body)["items"].array.compactMap { $0["slug"].string } == ["acme", "globex", "operations"])
        }
    }
}
