import Foundation
import HoldfastCore
import Hummingbird
import Mustache

/// What every server-rendered page needs: the templates, the chrome around the content, and the
/// redirect to sign in.
struct PageRenderer: Sendable {
    let templates: MustacheLibrary
    let repositories: Repositories

    /// The title and who is signed in, with their tenant's name.
    func chrome(title: String, user: User) async throws -> PageChrome {
        let tenant = try await self.repositories.tenants.find(id: user.tenantID)
        return PageChrome(title: title, user: .init(user: user, tenant: tenant))
    }

    func render(_ template: String, _ page: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        guard let html = self.templates.render(page, withTemplate: template) else {
            throw APIError(.internalServerError, code: "internal", message: "The page template '\(template)' is missing.")
        }
        return Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html))
        )
    }

    /// A page explaining that the caller's role may not open this page.
    func notForYourRole(_ chrome: PageChrome, _ text: String) throws -> Response {
        try self.render("message", MessagePage(page: chrome, heading: "Not for your role", text: text), status: .forbidden)
    }

    static func signInFirst(_ request: Request) -> Response {
        let next = request.uri.path.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? "/"
        return .redirect(to: "/login?next=\(next)", type: .found)
    }
}
