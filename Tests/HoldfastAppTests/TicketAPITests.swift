import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

/// Tickets over the API with the real SQLite store: filing, the queue, replies and notes, the
/// first response, phone tickets, and bad input refused without a trace.
@Suite("Ticket API")
struct TicketAPITests {
    static func ticketBody(_ overrides: [String: Any] = [:]) -> [String: Any] {
        [
            "kind": "bug", "subject": "Terminal freezes", "description": "After a resume the terminal stops echoing.",
            "occurredAt": "2026-11-18T09:30:00Z", "whatHappened": "I typed ls and nothing appeared.",
        ].merging(overrides) { $1 }
    }

    @Test func aMemberFilesAnAgentAnswersAndTheFirstResponseIsRecorded() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let filed = try await client.send(.post, "/api/v1/tickets", token: tenants.acmeMember, json: Self.ticketBody())
            #expect(filed.status == .created, "\(String(buffer: filed.body))")
            let id = try #require(JSON(filed.body)["id"].string)
            #expect(JSON(filed.body)["number"].value as? Int == 1)
            #expect(JSON(filed.body)["status"].string == "new")
            #expect(JSON(filed.body)["channel"].string == "api")
            #expect(JSON(filed.body)["firstResponseDueAt"].string != nil)
            #expect(JSON(filed.body)["firstRespondedAt"].value is NSNull)

            let queue = try await client.send(.get, "/api/v1/tickets", token: tenants.operatorToken)
            #expect(JSON(queue.body)["items"].array.map { $0["id"].string } == [id])
            let note = try await client.send(
                .post, "/api/v1/tickets/\(id)/replies", token: tenants.operatorToken,
                json: ["body": "Looks like the PTY resize race.", "visibility": "internal"])
            #expect(note.status == .created, "\(String(buffer: note.body))")
            #expect(JSON(note.body)["firstRespondedAt"].value is NSNull)  // a note is not a response
            let answer = try await client.send(
                .post, "/api/v1/tickets/\(id)/replies", token: tenants.operatorToken,
                json: ["body": "Thanks — can you try the new build?", "status": "waiting-on-customer"])
            #expect(JSON(answer.body)["status"].string == "waiting-on-customer")
            #expect(JSON(answer.body)["firstRespondedAt"].string != nil)

            let seen = try await client.send(.get, "/api/v1/tickets/\(id)", token: tenants.acmeMember)
            #expect(JSON(seen.body)["replies"].array.map { $0["body"].string } == ["Thanks — can you try the new build?"])
            let back = try await client.send(
                .post, "/api/v1/tickets/\(id)/replies", token: tenants.acmeMember, json: ["body": "Works now, thanks."])
            #expect(JSON(back.body)["status"].string == "open")
            let mine = try await client.send(.get, "/api/v1/tickets", token: tenants.acmeMember)
            #expect(JSON(mine.body)["items"].array.count == 1)
        }
    }

    @Test func aPhoneTicketIsFiledByTheTeamForTheCallerFromWhenTheCallCameIn() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let call = Self.ticketBody([
                "kind": "outage", "channel": "phone", "requester": "member@acme.test",
                "receivedAt": server.clock.now().addingTimeInterval(-600).formatted(.iso8601),
            ])
            let filed = try await client.send(.post, "/api/v1/tickets", token: tenants.operatorToken, json: call)
            #expect(filed.status == .created, "\(String(buffer: filed.body))")
            #expect(JSON(filed.body)["channel"].string == "phone")
            let id = try #require(JSON(filed.body)["id"].string)
            let theirs = try await client.send(.get, "/api/v1/tickets/\(id)", token: tenants.acmeMember)
            #expect(theirs.status == .ok)
            expectError(
                try await client.send(.post, "/api/v1/tickets", token: tenants.acmeMember, json: call), .forbidden)
        }
    }

    @Test func badTicketsAreRefusedAndOthersTicketsAreInvisible() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let refusals: [([String: Any], HTTPResponse.Status, String?)] = [
                (Self.ticketBody(["kind": "complaint"]), .unprocessableContent, "invalid_kind"),
                (Self.ticketBody(["subject": "  "]), .unprocessableContent, "invalid_subject"),
                (Self.ticketBody(["subject": "two\nlines"]), .unprocessableContent, "invalid_subject"),
                (Self.ticketBody(["occurredAt": "2099-01-01T00:00:00Z"]), .unprocessableContent, "invalid_occurred_at"),
                (Self.ticketBody(["channel": "email"]), .unprocessableContent, "invalid_channel"),
                (Self.ticketBody(["sessionId": "not-a-session"]), .unprocessableContent, "invalid_session"),
                (Self.ticketBody(["receivedAt": "2026-11-18T09:30:00Z"]), .unprocessableContent, "invalid_received_at"),
                (Self.ticketBody(["requester": "admin@globex.test"]), .forbidden, nil),
                (Self.ticketBody().filter { $0.key != "whatHappened" }, .badRequest, "invalid_json"),
                (Self.ticketBody(["description": String(repeating: "x", count: 20_001)]), .unprocessableContent, "invalid_description"),
            ]
            for (body, status, code) in refusals {
                expectError(try await client.send(.post, "/api/v1/tickets", token: tenants.acmeMember, json: body), status, code: code)
            }
            let queue = try await client.send(.get, "/api/v1/tickets", token: tenants.operatorToken)
            #expect(JSON(queue.body)["items"].array.isEmpty)

            let script = "<script>alert(1)</script>"
            let filed = try await client.send(
                .post, "/api/v1/tickets", token: tenants.acmeMember, json: Self.ticketBody(["description": script]))
            #expect(JSON(filed.body)["description"].string == script)  // stored as text, as written
            let id = try #require(JSON(filed.body)["id"].string)
            expectError(try await client.send(.get, "/api/v1/tickets/\(id)", token: tenants.globexAdmin), .notFound)
            expectError(
                try await client.send(.post, "/api/v1/tickets/\(id)/replies", token: tenants.globexAdmin, json: ["body": "hi"]), .notFound)
            expectError(
                try await client.send(
                    .post, "/api/v1/tickets/\(id)/replies", token: tenants.acmeMember, json: ["body": "x", "visibility": "internal"]),
                .forbidden)
            expectError(try await client.send(.get, "/api/v1/tickets?limit=0", token: tenants.acmeMember), .unprocessableContent)
            expectError(try await client.send(.get, "/api/v1/tickets/nonsense", token: tenants.acmeMember), .notFound)
        }
    }
}
