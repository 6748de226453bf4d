import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

/// The suggestion board over the API with the real SQLite store.
@Suite("Suggestion API")
struct SuggestionAPITests {
    @Test func oneVotePerUserAndAMergeMovesVotesWithoutCountingAnyoneTwice() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let original = try await client.send(
                .post, "/api/v1/suggestions", token: tenants.acmeMember, json: ["title": "Dark mode for the terminal", "body": "Please."])
            #expect(original.status == .created, "\(String(buffer: original.body))")
            let originalID = try #require(JSON(original.body)["id"].string)
            let duplicate = try await client.send(
                .post, "/api/v1/suggestions", token: tenants.globexAdmin, json: ["title": "Night theme"])
            let duplicateID = try #require(JSON(duplicate.body)["id"].string)

            let first = try await client.send(.post, "/api/v1/suggestions/\(originalID)/votes", token: tenants.acmeMember)
            #expect(first.status == .created)
            #expect(JSON(first.body)["votes"].value as? Int == 1)
            let again = try await client.send(.post, "/api/v1/suggestions/\(originalID)/votes", token: tenants.acmeMember)
            #expect(again.status == .ok)
            #expect(JSON(again.body)["votes"].value as? Int == 1)
            for token in [tenants.acmeMember, tenants.globexAdmin, tenants.acmeAdmin] {
                _ = try await client.send(.post, "/api/v1/suggestions/\(duplicateID)/votes", token: token)
            }

            expectError(
                try await client.send(
                    .post, "/api/v1/suggestions/\(duplicateID)/merge", token: tenants.acmeAdmin, json: ["into": originalID]), .forbidden)
            let merged = try await client.send(
                .post, "/api/v1/suggestions/\(duplicateID)/merge", token: tenants.operatorToken, json: ["into": originalID])
            #expect(merged.status == .ok, "\(String(buffer: merged.body))")
            #expect(JSON(merged.body)["votes"].value as? Int == 3)  // acme member once, globex admin, acme admin
            expectError(
                try await client.send(.post, "/api/v1/suggestions/\(duplicateID)/votes", token: tenants.operatorToken), .conflict,
                code: "suggestion_merged")

            let board = try await client.send(.get, "/api/v1/suggestions", token: tenants.acmeMember)
            #expect(JSON(board.body)["items"].array.map { $0["id"].string } == [originalID])

            let planned = try await client.send(
                .patch, "/api/v1/suggestions/\(originalID)", token: tenants.operatorToken, json: ["status": "planned"])
            #expect(JSON(planned.body)["status"].string == "planned")
            expectError(
                try await client.send(.patch, "/api/v1/suggestions/\(originalID)", token: tenants.acmeMember, json: ["status": "done"]),
                .forbidden)
            expectError(
                try await client.send(
                    .patch, "/api/v1/suggestions/\(originalID)", token: tenants.operatorToken, json: ["status": "someday"]),
                .unprocessableContent, code: "invalid_status")
            let declined = try await client.send(
                .patch, "/api/v1/suggestions/\(originalID)", token: tenants.operatorToken, json: ["status": "declined"])
            #expect(JSON(declined.body)["status"].string == "declined")
            expectError(
                try await client.send(.post, "/api/v1/suggestions/\(originalID)/votes", token: tenants.operatorToken), .conflict,
                code: "suggestion_closed")
        }
    }

    @Test func badSuggestionsAreRefused() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            expectError(
                try await client.send(.post, "/api/v1/suggestions", token: tenants.acmeMember, json: ["title": "   "]),
                .unprocessableContent, code: "invalid_title")
            expectError(
                try await client.send(
                    .post, "/api/v1/suggestions", token: tenants.acmeMember, json: ["title": String(repeating: "t", count: 201)]),
                .unprocessableContent, code: "invalid_title")
            expectError(try await client.send(.post, "/api/v1/suggestions", token: tenants.acmeMember, json: ["body": "x"]), .badRequest)
            expectError(try await client.send(.post, "/api/v1/suggestions/\(UUID())/votes", token: tenants.acmeMember), .notFound)
            expectError(try await client.send(.post, "/api/v1/suggestions", json: ["title": "anonymous"]), .unauthorized)
            let board = try await client.send(.get, "/api/v1/suggestions", token: tenants.acmeMember)
            #expect(JSON(board.body)["items"].array.isEmpty)
        }
    }
}
