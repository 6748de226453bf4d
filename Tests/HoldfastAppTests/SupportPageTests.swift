import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

/// `/support` and `/console` are kept rendered, and their reads (the tickets, the sessions, the
/// tenant, the calendar) are kept for a moment, so a reload costs little. What their readers rely
/// on: every change made through the server shows on the very next load, the console's time
/// left runs with the clock, and nobody is ever shown another's page.
///
/// The test server's clock stands still unless a test moves it, so between a write and the next
/// load nothing expires: what shows, shows because the write emptied the caches.
@Suite("The support pages: kept rendered, never stale after a write")
struct SupportPageTests {
    static func page(_ client: any TestClientProtocol, _ token: String, _ path: String = "/support") async throws -> String {
        let response = try await client.send(.get, path, headers: [.cookie: "holdfast_session=\(token)"])
        #expect(response.status == .ok)
        return String(buffer: response.body)
    }

    @Test func aReloadShowsAnAnswerARenamedTenantAndANewSessionAtOnce() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let filed = try await client.send(.post, "/api/v1/tickets", token: tenants.acmeMember, json: TicketAPITests.ticketBody())
            let id = try #require(JSON(filed.body)["id"].string)
            let first = try await Self.page(client, tenants.acmeMember)
            #expect(first.contains("status-new"))
            #expect(first.contains("<small>Acme · member</small>"))
            #expect(!first.contains("name=\"sessionId\""))
            #expect(try await Self.page(client, tenants.acmeMember) == first)

            let answer = try await client.send(
                .post, "/api/v1/tickets/\(id)/replies", token: tenants.operatorToken,
                json: ["body": "Try the new build.", "status": "waiting-on-customer"])
            #expect(answer.status == .created)
            let answered = try await Self.page(client, tenants.acmeMember)
            #expect(answered.contains("status-waiting-on-customer"))
            #expect(!answered.contains("status-new"))
            #expect(answered.contains("answered <time"))

            let renamed = try await client.send(
                .patch, "/api/v1/tenants/acme", token: tenants.operatorToken, json: ["name": "Acme Rockets"])
            #expect(renamed.status == .ok)
            #expect(try await Self.page(client, tenants.acmeMember).contains("<small>Acme Rockets · member</small>"))

            let started = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "terminal"])
            let session = try #require(JSON(started.body)["id"].string)
            let offered = try await Self.page(client, tenants.acmeMember)
            #expect(offered.contains("name=\"sessionId\""))
            #expect(offered.contains("<option value=\"\(session)\""))

            _ = try await client.closeSession(session, token: tenants.acmeMember)
            #expect(try await Self.page(client, tenants.acmeMember).contains("terminal session, closed"))
        }
    }

    @Test func aCustomerIsOnlyEverShownTheirOwnPage() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            for (token, subject) in [(tenants.acmeMember, "Acme printer"), (tenants.globexAdmin, "Globex VPN")] {
                let filed = try await client.send(
                    .post, "/api/v1/tickets", token: token, json: TicketAPITests.ticketBody(["subject": subject]))
                #expect(filed.status == .created)
            }
            for _ in 0..<3 {
                let acme = try await Self.page(client, tenants.acmeMember)
                let globex = try await Self.page(client, tenants.globexAdmin)
                #expect(acme.contains("Acme printer") && !acme.contains("Globex"))
                #expect(globex.contains("Globex VPN") && !globex.contains("Acme"))
            }
        }
    }

    @Test func theConsoleShowsTimeRunningOutAStatusChangeAndANewCalendarAtOnce() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let allWeek = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map { ["day": $0, "opens": "00:00", "closes": "23:59"] }
            let calendar = ["timeZone": "UTC", "weeklyHours": allWeek, "holidays": []] as [String: Any]
            let set = try await client.send(.put, "/api/v1/support/calendar", token: tenants.operatorToken, json: calendar)
            #expect(set.status == .ok, "\(String(buffer: set.body))")
            let filed = try await client.send(.post, "/api/v1/tickets", token: tenants.acmeMember, json: TicketAPITests.ticketBody())
            let id = try #require(JSON(filed.body)["id"].string)
            let console = { try await Self.page(client, tenants.operatorToken, "/console") }

            #expect(try await console().contains("4 h left"))
            server.clock.advance(by: 25 * 60)
            #expect(try await console().contains("3 h 35 min left"))
            server.clock.advance(by: 4 * 3_600)
            let breached = try await console()
            #expect(breached.contains("Breached</strong> 25 min ago"))

            let answer = try await client.send(
                .post, "/api/v1/tickets/\(id)/replies", token: tenants.operatorToken, json: ["body": "On it.", "status": "open"])
            #expect(answer.status == .created)
            #expect(try await console().contains("answered"))

            let tokyo = calendar.merging(["timeZone": "Asia/Tokyo"]) { $1 }
            #expect(try await client.send(.put, "/api/v1/support/calendar", token: tenants.operatorToken, json: tokyo).status == .ok)
            #expect(try await console().contains("(Asia/Tokyo)"))
        }
    }
}
