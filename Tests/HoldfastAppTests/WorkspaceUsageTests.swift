import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

private let gibibyte = 1 << 30

/// The workspace's use of its disk quota, through the API and on the home page: each user sees
/// their own, the page warns from 90 %, and a workspace whose volume is not mounted yet shows the
/// tenant's quota without a warning.
@Suite("Workspace usage")
struct WorkspaceUsageTests {
    /// The signed-in user's id, as `/auth/me` gives it.
    static func userID(_ client: any TestClientProtocol, token: String) async throws -> User.ID {
        let me = try await client.send(.get, "/api/v1/auth/me", token: token)
        return try #require(JSON(me.body)["user"]["id"].string.flatMap(User.ID.init))
    }

    /// The home page as the browser gets it, with the session cookie.
    static func home(_ client: any TestClientProtocol, token: String) async throws -> String {
        let page = try await client.send(.get, "/", headers: [.cookie: "holdfast_session=\(token)"])
        #expect(page.status == .ok)
        return String(buffer: page.body)
    }

    @Test func aNearlyFullWorkspaceIsWarnedAboutAndEachUserSeesTheirOwn() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let member = try await Self.userID(client, token: tenants.acmeMember)
            let admin = try await Self.userID(client, token: tenants.acmeAdmin)
            server.workspaceUsage.set(usedBytes: 19 * gibibyte / 2, sizeBytes: 10 * gibibyte, of: member)
            server.workspaceUsage.set(usedBytes: 1 * gibibyte, sizeBytes: 10 * gibibyte, of: admin)

            let usage = try await client.send(.get, "/api/v1/workspace/usage", token: tenants.acmeMember)
            #expect(usage.status == .ok, "\(String(buffer: usage.body))")
            #expect(JSON(usage.body)["usedBytes"].value as? Int == 19 * gibibyte / 2)
            #expect(JSON(usage.body)["quotaBytes"].value as? Int == 10 * gibibyte)
            #expect(JSON(usage.body)["percent"].value as? Int == 95)
            #expect(JSON(usage.body)["quotaGiB"].value as? Int == 10)

            let page = try await Self.home(client, token: tenants.acmeMember)
            #expect(page.contains("New terminal"))
            #expect(page.contains("9.5 GiB of 10 GiB used"))
            #expect(page.contains("class=\"workspace-full\""))
            #expect(
                page.contains(
                    "Your workspace is 95 % full: 9.5 GiB of 10 GiB. Delete files or ask your administrator for more space; "
                        + "when it is full, programs cannot save."))

            // The admin of the same tenant sees their own workspace, with room to spare.
            let other = try await client.send(.get, "/api/v1/workspace/usage", token: tenants.acmeAdmin)
            #expect(JSON(other.body)["percent"].value as? Int == 10)
            let otherPage = try await Self.home(client, token: tenants.acmeAdmin)
            #expect(otherPage.contains("1 GiB of 10 GiB used"))
            #expect(!otherPage.contains("workspace-full"))
        }
    }

    /// The warning starts at 90 % exactly: a byte short of it is still 89 %, and the sizes on the
    /// page round down so a workspace short of full never reads as full.
    @Test(arguments: [
        (usedBytes: 9 * gibibyte - 1, percent: 89, text: "8.9 GiB of 10 GiB used", warns: false),
        (usedBytes: 9 * gibibyte, percent: 90, text: "9 GiB of 10 GiB used", warns: true),
        (usedBytes: 10 * gibibyte - 1, percent: 99, text: "9.9 GiB of 10 GiB used", warns: true),
        (usedBytes: 10 * gibibyte, percent: 100, text: "10 GiB of 10 GiB used", warns: true),
        (usedBytes: 1_288_490_189, percent: 12, text: "1.2 GiB of 10 GiB used", warns: false),
        (usedBytes: 312 << 20, percent: 3, text: "312 MiB of 10 GiB used", warns: false),
    ])
    func theWarningStartsAtNinetyPercent(usedBytes: Int, percent: Int, text: String, warns: Bool) async throws {
        try await TestServer.run { server, client in
            let token = try await client.signIn(server.firstOperator.email, server.firstOperator.password)
            let user = try await Self.userID(client, token: token)
            server.workspaceUsage.set(usedBytes: usedBytes, sizeBytes: 10 * gibibyte, of: user)

            let usage = try await client.send(.get, "/api/v1/workspace/usage", token: token)
            #expect(JSON(usage.body)["percent"].value as? Int == percent)
            let page = try await Self.home(client, token: token)
            #expect(page.contains(text))
            #expect(page.contains("class=\"workspace-full\"") == warns)
            #expect(page.contains("Your workspace is \(percent) % full") == warns)
        }
    }

    @Test func anUnknownUsageAnswersNullsWithTheTenantsQuotaAndNoWarning() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let usage = try await client.send(.get, "/api/v1/workspace/usage", token: tenants.acmeMember)
            #expect(usage.status == .ok, "\(String(buffer: usage.body))")
            // Explicit nulls, not missing keys.
            #expect(JSON(usage.body)["usedBytes"].value is NSNull)
            #expect(JSON(usage.body)["quotaBytes"].value is NSNull)
            #expect(JSON(usage.body)["percent"].value is NSNull)
            #expect(JSON(usage.body)["quotaGiB"].value as? Int == 10)
            let page = try await Self.home(client, token: tenants.acmeMember)
            #expect(page.contains("Your workspace can hold 10 GiB."))
            #expect(!page.contains("workspace-full"))

            // The tenant's quota as it is now.
            let lowered = try await client.send(
                .patch, "/api/v1/tenants/acme", token: tenants.operatorToken, json: ["limits": ["diskGiB": 5]])
            #expect(lowered.status == .ok, "\(String(buffer: lowered.body))")
            let after = try await client.send(.get, "/api/v1/workspace/usage", token: tenants.acmeMember)
            #expect(JSON(after.body)["quotaGiB"].value as? Int == 5)
            #expect(try await Self.home(client, token: tenants.acmeMember).contains("Your workspace can hold 5 GiB."))
        }
    }

    @Test func theUsageIsOnlyForTheSignedIn() async throws {
        try await TestServer.run { _, client in
            expectError(try await client.send(.get, "/api/v1/workspace/usage"), .unauthorized)
        }
    }
}
