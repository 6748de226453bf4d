import Foundation
import HoldfastCore
import Hummingbird
import Mustache

/// What every server-rendered page needs: the templates, the chrome around the content, and the
/// redirect to sign in.
struct PageRenderer: Sendable {
    let templates: MustacheLibrary
    let repositories: Repositories
    /// List rows already rendered, by template and record version (``rows(_:_:version:model:)``).
    let fragments = RenderedMemo<Fragment, String>()

    struct Fragment: Hashable, Sendable {
        var template: String
        var version: RecordVersion
    }

    /// The title and who is signed in, with their tenant's name.
    func chrome(title: String, user: User) async throws -> PageChrome {
        let tenant = try await self.repositories.tenants.find(id: user.tenantID)
        return PageChrome(title: title, user: .init(user: user, tenant: tenant))
    }

    func render(_ template: String, _ page: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        Self.response(ByteBuffer(string: try self.html(template, page)), status: status)
    }

    /// The page `template` renders for a model made from `inputs`, kept by `inputs`: a page
    /// reloaded or polled with nothing changed (the same tickets at the same revisions, the same
    /// signed-in user) is sent again as it is, not rendered. `inputs` must determine everything
    /// the page shows.
    func render<Inputs>(
        _ template: String, memo: RenderedMemo<Inputs, ByteBuffer>, inputs: Inputs, model: () throws -> Any
    ) throws -> Response {
        Self.response(try memo.value(for: inputs) { ByteBuffer(string: try self.html(template, model())) }, status: .ok)
    }

    private static func response(_ html: ByteBuffer, status: HTTPResponse.Status) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"], body: .init(byteBuffer: html))
    }

    private func html(_ template: String, _ model: Any) throws -> String {
        guard let html = self.templates.render(model, withTemplate: template) else {
            throw APIError(.internalServerError, code: "internal", message: "The page template '\(template)' is missing.")
        }
        return html
    }

    /// The HTML of `template` for each item, in order, joined: a list's rows for `{{{rows}}}`.
    ///
    /// An item whose `version` (its id and revision, and any variant) was rendered before is not rendered again:
    /// fragment caching, as Rails does with `cache [record]`. Rendering a row through Mustache costs
    /// tens of microseconds (it reads the model by name for every tag, then escapes), and a list
    /// page shows the same tickets to every poll. The row template must depend on nothing but the
    /// item and its version's variant; anything about the reader stays in the page around it.
    func rows<Item>(_ template: String, _ items: [Item], version: (Item) -> RecordVersion, model: (Item) -> Any) throws -> String {
        try self.fragments.values(
            items, key: { Fragment(template: template, version: version($0)) }, render: { try self.html(template, model($0)) }
        ).joined()
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
