import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastHTTP
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@Suite("Operations endpoints and the portal")
struct OperationsTests {
    @Test func healthAndMetricsAnswer() async throws {
        try await TestServer.run { _, client in
            let health = try await client.send(.get, "/healthz")
            #expect(health.status == .ok)
            #expect(JSON(health.body)["database"].string == "ok")
            let metrics = try await client.send(.get, "/metrics")
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(String(buffer: metrics.body).contains("holdfast_info{version=\"0.1.0\"} 1"))
        }
    }

    /// The OpenAPI document must describe exactly the routes the router has.
    @Test func theOpenAPIDocumentDescribesEveryRoute() async throws {
        let repositories = InMemoryStore().repositories
        let backups = WorkspaceBackups(
            configuration: .init(workspacesDirectory: "/nonexistent", restoresDirectory: "/nonexistent"), driver: FakeBackupDriver(),
            repositories: repositories, accountFor: { _ in nil }, now: { Date() }, logger: Logger(label: "test"))
        let router = try await buildRouter(
            HTTPDependencies(
                repositories: repositories,
                authenticator: Authenticator(configuration: .init(), repositories: repositories, now: { Date() }),
                now: { Date() }, secureCookies: false, health: { true }, metrics: { "" }, logger: Logger(label: "test"),
                sessions: SessionSupervisor(
                    configuration: .init(), repositories: repositories, host: FakeHost(), backups: backups,
                    accountFor: { _ in nil }, now: { Date() }, logger: Logger(label: "test")
                ),
                workspaces: backups,
                support: SupportDesk(repositories: repositories, now: { Date() }, logger: Logger(label: "test")),
                status: StatusDesk(
                    repositories: repositories, sessions: .init(refuseNewSessions: { _ in }, closeAllForMaintenance: { 0 }),
                    banners: SessionBanners(), baseURL: URL(string: "http://holdfast.test")!, now: { Date() }, logger: Logger(label: "test")
                ),
                continuity: ContinuityDesk(
                    repositories: repositories, configuration: HoldfastConfiguration(), now: { Date() }, logger: Logger(label: "test")),
                banners: SessionBanners(),
                hostCapacity: { HostCapacity(memoryMiB: 2_048, pids: 32_768, diskGiB: 10) },
                files: WorkspaceFiles(
                    backups: backups, repositories: repositories, accountFor: { _ in nil }, now: { Date() }, logger: Logger(label: "test"))
            )
        )
        let routed = Set(
            router.routes.map { route in
                let path = route.path.description.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
                return "\(route.method.rawValue.lowercased()) /\(path.joined(separator: "/"))"
            }
        ).union(["get /metrics"])  // answered by MetricsEndpoint, ahead of authentication
        let document = try String(contentsOf: resourcesDirectory.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        #expect(document.hasPrefix("openapi: 3.1"))
        var documented = Set<String>()
        var currentPath: String?
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                currentPath = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("components:") {
                currentPath = nil
            } else if let path = currentPath, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "patch", "delete", "head", "options"].contains(method) {
                    documented.insert("\(method) \(path)")
                }
            }
        }
        #expect(routed.subtracting(documented).isEmpty, "routes missing from openapi.yaml: \(routed.subtracting(documented).sorted())")
        #expect(
            documented.subtracting(routed).isEmpty,
            "openapi.yaml documents routes that do not exist: \(documented.subtracting(routed).sorted())")
    }

    @Test func thePortalAsksForSignInThenShowsTheUserAndTheAdminPage() async throws {
        try await TestServer.run { server, client in
            let anonymous = try await client.send(.get, "/")
            #expect(anonymous.status == .found)
            #expect(anonymous.headers[.location] == "/login?next=/")
            let loginPage = try await client.send(.get, "/login")
            #expect(String(buffer: loginPage.body).contains("id=\"login-form\""))

            let op = try await client.signIn(server.firstOperator.email, server.firstOperator.password)
            let cookie: HTTPFields = [.cookie: "holdfast_session=\(op)"]
            let home = try await client.send(.get, "/", headers: cookie)
            #expect(home.status == .ok)
            let html = String(buffer: home.body)
            #expect(html.contains("Your sessions"))
            #expect(html.contains("Holdfast Operations"))
            #expect(html.contains("href=\"/admin\""))

            try await client.send(.post, "/api/v1/tenants", token: op, json: ["name": "Acme <Labs>", "slug": "acme"])
            let admin = try await client.send(.get, "/admin?tenant=acme", headers: cookie)
            #expect(admin.status == .ok)
            let adminHTML = String(buffer: admin.body)
            #expect(adminHTML.contains("Users of Acme &lt;Labs&gt;"))
            #expect(adminHTML.contains("data-api=\"/api/v1/tenants/acme/users\""))

            let css = try await client.send(.get, "/static/holdfast.css")
            #expect(css.status == .ok)
        }
    }

    @Test func membersDoNotGetTheAdminPage() async throws {
        try await TestServer.run { server, client in
            let op = try await client.signIn(server.firstOperator.email, server.firstOperator.password)
            try await client.send(
                .post, "/api/v1/tenants/operations/users", token: op,
                json: ["email": "m@ops.test", "password": "long enough pw", "role": "member"]
            )
            let member = try await client.signIn("m@ops.test", "long enough pw")
            let admin = try await client.send(.get, "/admin", headers: [.cookie: "holdfast_session=\(member)"])
            #expect(admin.status == .forbidden)
            #expect(!String(buffer: admin.body).contains("New user"))
        }
    }
}
