import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

/// The status API: public reading, the team posting incidents, operators scheduling windows,
/// and every bad window refused with its code and nothing stored.
@Suite("Status API")
struct StatusAPITests {
    static func iso(_ date: Date) -> String { date.formatted(.iso8601) }

    @Test func badWindowsAreRefusedWithTheirCodesAndNothingIsStored() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let now = server.clock.now()
            func window(_ starts: TimeInterval, _ ends: TimeInterval, _ components: [String] = ["sessions"]) -> [String: Any] {
                [
                    "title": "Kernel updates", "startsAt": Self.iso(now.addingTimeInterval(starts)),
                    "endsAt": Self.iso(now.addingTimeInterval(ends)), "components": components,
                ]
            }
            let byMember = try await client.send(.post, "/api/v1/maintenance", token: tenants.acmeAdmin, json: window(3600, 7200))
            #expect(byMember.status == .forbidden)
            let cases: [([String: Any], HTTPResponse.Status, String)] = [
                (window(7200, 3600), .unprocessableContent, "window_ends_before_start"),
                (window(-3600, 3600), .unprocessableContent, "window_in_past"),
                (window(3600, 3600 + 31 * 86_400), .unprocessableContent, "window_too_long"),
                (window(3600, 7200, ["gateway"]), .unprocessableContent, "invalid_components"),
                (window(3600, 7200, []), .unprocessableContent, "invalid_components"),
            ]
            for (body, status, code) in cases {
                let refused = try await client.send(.post, "/api/v1/maintenance", token: tenants.operatorToken, json: body)
                #expect(refused.status == status, "\(code): \(String(buffer: refused.body))")
                #expect(JSON(refused.body)["error"]["code"].string == code)
            }
            let listed = try await client.send(.get, "/api/v1/maintenance")
            #expect(JSON(listed.body)["items"].array.isEmpty)

            let first = try await client.send(.post, "/api/v1/maintenance", token: tenants.operatorToken, json: window(3600, 7200))
            #expect(first.status == .created, "\(String(buffer: first.body))")
            #expect(JSON(first.body)["state"].string == "scheduled")
            let overlapping = try await client.send(.post, "/api/v1/maintenance", token: tenants.operatorToken, json: window(5400, 9000))
            #expect(overlapping.status == .conflict)
            #expect(JSON(overlapping.body)["error"]["code"].string == "window_overlaps")
            let elsewhere = try await client.send(
                .post, "/api/v1/maintenance", token: tenants.operatorToken, json: window(5400, 9000, ["support"]))
            #expect(elsewhere.status == .created)

            let status = try await client.send(.get, "/api/v1/status")
            #expect(status.status == .ok)
            #expect(JSON(status.body)["maintenance"]["upcoming"].array.count == 2)
            #expect(JSON(status.body)["overall"].string == "operational")
            let calendar = try await client.send(.get, "/status/maintenance.ics")
            #expect(calendar.headers[.contentType]?.hasPrefix("text/calendar") == true)
            #expect(String(buffer: calendar.body).components(separatedBy: "BEGIN:VEVENT").count == 3)
        }
    }

    @Test func theTeamPostsIncidentsAndAResolvedOneTakesNoMoreUpdates() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let incident: [String: Any] = [
                "title": "Sessions drop", "components": ["sessions"], "impact": "partial-outage", "body": "Investigating reports.",
            ]
            #expect(try await client.send(.post, "/api/v1/incidents", token: tenants.acmeMember, json: incident).status == .forbidden)
            let opened = try await client.send(.post, "/api/v1/incidents", token: tenants.operatorToken, json: incident)
            #expect(opened.status == .created, "\(String(buffer: opened.body))")
            let id = try #require(JSON(opened.body)["id"].string)
            let status = try await client.send(.get, "/api/v1/status")
            #expect(JSON(status.body)["overall"].string == "partial-outage")
            let page = try await client.send(.get, "/status")
            #expect(String(buffer: page.body).contains("Sessions drop"))

            let resolved = try await client.send(
                .post, "/api/v1/incidents/\(id)/updates", token: tenants.operatorToken,
                json: ["status": "resolved", "body": "Fixed <b>for real</b>."])
            #expect(resolved.status == .created)
            #expect(JSON(resolved.body)["resolvedAt"].string != nil)
            let again = try await client.send(
                .post, "/api/v1/incidents/\(id)/updates", token: tenants.operatorToken, json: ["status": "monitoring", "body": "Hm."])
            #expect(again.status == .conflict)
            #expect(JSON(again.body)["error"]["code"].string == "incident_resolved")
            let feed = String(buffer: try await client.send(.get, "/status/feed.atom").body)
            #expect(feed.contains("Fixed &lt;b&gt;for real&lt;/b&gt;."))
            #expect(JSON(try await client.send(.get, "/api/v1/status").body)["overall"].string == "operational")
        }
    }

    @Test func thePlannerRefusesImpossibleDurations() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            for duration in ["0s", "30d", "soon"] {
                let refused = try await client.send(
                    .get, "/api/v1/maintenance/recommendation?duration=\(duration)", token: tenants.operatorToken)
                #expect(refused.status == .unprocessableContent, "\(duration)")
                #expect(JSON(refused.body)["error"]["code"].string == "invalid_duration")
            }
            let member = try await client.send(.get, "/api/v1/maintenance/recommendation?duration=2h", token: tenants.acmeMember)
            #expect(member.status == .forbidden)
            let plan = try await client.send(.get, "/api/v1/maintenance/recommendation?duration=2h", token: tenants.operatorToken)
            #expect(plan.status == .ok, "\(String(buffer: plan.body))")
            #expect(JSON(plan.body)["expectedActiveSessions"].value as? Int == 0)  // nothing recorded yet
        }
    }
}
