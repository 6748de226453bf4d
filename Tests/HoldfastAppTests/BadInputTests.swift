import Foundation
import HoldfastApp
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

/// Bad input gets a clear 4xx in the error shape and changes nothing.
@Suite("Bad input")
struct BadInputTests {
    @Test func malformedAndIncompleteBodiesAreRefusedWithoutEffect() async throws {
        try await TestServer.run { server, client in
            let op = try await client.signIn(server.firstOperator.email, server.firstOperator.password)

            expectError(
                try await client.send(.post, "/api/v1/tenants", token: op, raw: "{\"name\": \"Acme\", "), .badRequest, code: "invalid_json")
            let missing = try await client.send(.post, "/api/v1/tenants", token: op, json: ["name": "Acme"])
            expectError(missing, .badRequest, code: "invalid_json")
            #expect(JSON(missing.body)["error"]["message"].string?.contains("slug") == true)
            expectError(try await client.send(.post, "/api/v1/tenants", token: op, json: ["name": 42, "slug": "acme"]), .badRequest)
            expectError(
                try await client.send(
                    .post, "/api/v1/tenants", token: op, raw: "name=Acme&slug=acme", contentType: "application/x-www-form-urlencoded"),
                .unsupportedMediaType
            )
            expectError(
                try await client.send(.post, "/api/v1/tenants", token: op, json: ["name": "Acme", "slug": "Not A Slug"]),
                .unprocessableContent, code: "invalid_slug")
            expectError(
                try await client.send(
                    .post, "/api/v1/tenants", token: op, json: ["name": "Acme", "slug": "acme", "timeZone": "Mars/Olympus"]),
                .unprocessableContent, code: "invalid_time_zone"
            )
            let huge = String(repeating: "x", count: 70 * 1024)
            expectError(try await client.send(.post, "/api/v1/tenants", token: op, json: ["name": huge, "slug": "acme"]), .contentTooLarge)

            let listed = try await client.send(.get, "/api/v1/tenants", token: op)
            #expect(JSON(listed.body)["items"].array.compactMap { $0["slug"].string } == ["operations"])
        }
    }

    @Test func badUsersAreRefusedWithoutEffect() async throws {
        try await TestServer.run { server, client in
            let op = try await client.signIn(server.firstOperator.email, server.firstOperator.password)
            let cases: [([String: Any], String)] = [
                (["email": "not-an-email", "password": "long enough pw", "role": "member"], "invalid_email"),
                (["email": "a@b.test", "password": "short", "role": "member"], "weak_password"),
                (["email": "a@b.test", "password": "long enough pw", "role": "king"], "invalid_role"),
                (["email": server.firstOperator.email, "password": "long enough pw", "role": "member"], "email_taken"),
            ]
            for (body, code) in cases {
                let response = try await client.send(.post, "/api/v1/tenants/operations/users", token: op, json: body)
                #expect(response.status.code >= 400 && response.status.code < 500)
                expectError(response, response.status, code: code)
            }
            let users = try await client.send(.get, "/api/v1/tenants/operations/users", token: op)
            #expect(JSON(users.body)["items"].array.count == 1)
        }
    }

    @Test func unknownRoutesAndWrongMethodsAnswerInTheErrorShape() async throws {
        try await TestServer.run { server, client in
            expectError(try await client.send(.get, "/api/v1/nothing-here"), .notFound, code: "not_found")
            let wrongMethod = try await client.send(.delete, "/api/v1/auth/login")
            #expect([.notFound, .methodNotAllowed].contains(wrongMethod.status))
            expectError(wrongMethod, wrongMethod.status)
            expectError(try await client.send(.get, "/api/v1/tenants/acme/users"), .unauthorized)
        }
    }
}
