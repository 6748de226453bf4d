import Foundation
import HoldfastCore
import Hummingbird
import Mustache
import Synchronization

/// What every server-rendered page needs: the templates, the chrome around the content, and the
/// redirect to sign in.
struct PageRenderer: Sendable {
    let templates: MustacheLibrary
    let repositories: Repositories
    let fragments = FragmentMemo()

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

    /// The HTML of `template` for each item, in order, joined: a list's rows for `{{{rows}}}`.
    ///
    /// An item whose `version` (its id and revision, and any variant) was rendered before is not rendered again:
    /// fragment caching, as Rails does with `cache [record]`. Rendering a row through Mustache costs
    /// tens of microseconds (it reads the model by name for every tag, then escapes), and a list
    /// page shows the same tickets to every poll. The row template must depend on nothing but the
    /// item and its version's variant; anything about the reader stays in the page around it.
    func rows<Item>(
        _ template: String, _ items: [Item], version: (Item) -> FragmentMemo.Version, model: (Item) -> Any
    ) throws
        -> String
    {
        let known = self.fragments.lookup(template, items.map(version))
        var html = ""
        var fresh: [(FragmentMemo.Version, String)] = []
        for (item, cached) in zip(items, known) {
            if let cached {
                html += cached
                continue
            }
            guard let row = self.templates.render(model(item), withTemplate: template) else {
                throw APIError(.internalServerError, code: "internal", message: "The page template '\(template)' is missing.")
            }
            html += row
            fresh.append((version(item), row))
        }
        self.fragments.store(template, fresh)
        return html
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

/// Rendered fragments by template and item version (see ``PageRenderer/rows(_:_:version:model:)``).
///
/// An entry is never stale: a changed item has a new revision, so it misses and is rendered
/// again. Holds at most `capacity` fragments (a ticket row is ~600 bytes), then starts over.
final class FragmentMemo: Sendable {
    struct Version: Hashable, Sendable {
        var id: UUID
        var revision: Int
        /// Whatever else the fragment shows that the revision does not fix (the console's time left).
        var variant: String = ""
    }

    private struct Key: Hashable {
        var template: String
        var version: Version
    }

    private let capacity: Int
    private let fragments = Mutex([Key: String]())

    init(capacity: Int = 20_000) {
        self.capacity = capacity
    }

    func lookup(_ template: String, _ versions: [Version]) -> [String?] {
        self.fragments.withLock { fragments in versions.map { fragments[Key(template: template, version: $0)] } }
    }

    func store(_ template: String, _ rendered: [(Version, String)]) {
        guard !rendered.isEmpty else { return }
        self.fragments.withLock { fragments in
            if fragments.count + rendered.count > self.capacity { fragments.removeAll(keepingCapacity: true) }
            for (version, html) in rendered { fragments[Key(template: template, version: version)] = html }
        }
    }
}
