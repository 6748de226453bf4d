import Foundation
import HoldfastCore
import HoldfastTestSupport
import Mustache
import Testing

@testable import HoldfastHTTP

/// The page models answer Mustache by name instead of through `Mirror` (for speed); each must
/// still answer every stored property with the value `Mirror` would give, and nothing else.
@Suite("Page models give Mustache what Mirror would")
struct PageModelMustacheTests {
    /// Compares `child(named:)` with `Mirror` for every stored property, then an unknown name.
    func check(_ model: some MustacheParent, sourceLocation: SourceLocation = #_sourceLocation) {
        let mirror = Mirror(reflecting: model)
        #expect(!mirror.children.isEmpty, sourceLocation: sourceLocation)
        for child in mirror.children {
            let label = child.label ?? ""
            let expected =
                Mirror(reflecting: child.value).displayStyle == .optional
                ? Mirror(reflecting: child.value).children.first.map { String(describing: $0.value) }
                : String(describing: child.value)
            let given = model.child(named: label).map { String(describing: $0) }
            #expect(given == expected, "\(type(of: model)).\(label)", sourceLocation: sourceLocation)
        }
        #expect(model.child(named: "noSuchKey") == nil, sourceLocation: sourceLocation)
    }

    @Test("Every support page model, with optionals both set and empty")
    func models() throws {
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        let user = User(tenantID: .init(), email: "cat@acme.example", name: "Cat", role: .member, createdAt: now)
        let tenant = Tenant(name: "Acme", slug: "acme", timeZone: "Europe/London", createdAt: now)
        let chrome = PageChrome(title: "Support", user: .init(user: user, tenant: tenant))
        self.check(chrome)
        self.check(PageChrome(title: "Sign in", user: nil))
        self.check(try #require(chrome.user))
        self.check(PageChrome.SignedIn(user: user, tenant: nil))

        var ticket = Ticket(
            id: .init(), number: 12, tenantID: user.tenantID, requesterID: user.id, kind: .bug, channel: .web, status: .new,
            priority: .normal, subject: "Froze", description: "It froze.", occurredAt: now, whatHappened: "Froze.", sessionID: nil,
            createdAt: now, firstResponseTargetMinutes: 240, firstResponseDueAt: now.addingTimeInterval(3_600), assigneeID: nil)
        self.check(TicketRow(ticket))
        let session = Session(
            tenantID: user.tenantID, userID: user.id, kind: .terminal,
            machine: .init(state: .held, grace: 1_800, createdAt: now, expiresAt: now.addingTimeInterval(1_800)))
        self.check(SessionRow(session))
        self.check(
            SupportPage(
                page: chrome, ticketRows: "<tr></tr>", hasTickets: true, kinds: ["bug"], sessions: [SessionRow(session)],
                isTeam: false))
        let entries = try TicketQueue.entries([ticket], calendar: try BusinessCalendar.standard(), at: now)
        let row = QueueRow(try #require(entries.first))
        self.check(row)
        self.check(
            ConsolePage(page: chrome, rows: "<tr></tr>", hasEntries: true, zone: "Europe/London", previousOffset: nil, nextOffset: 50))
        self.check(ConsolePage(page: chrome, rows: "", hasEntries: false, zone: "UTC", previousOffset: 0, nextOffset: nil))
        let reply = TicketReply(
            ticketID: ticket.id, authorID: user.id, side: .customer, visibility: .public, body: "Still frozen", channel: .web,
            createdAt: now)
        self.check(ReplyRow(reply, author: "Cat <cat@acme.example>"))
        let event = EventRow(at: "2026-11-27T09:00:00Z", type: "lost", detail: "Wi-Fi")
        self.check(event)
        ticket.firstRespondedAt = now
        self.check(TicketRow(ticket))
        self.check(
            TicketPage(
                page: chrome, ticket: TicketRow(ticket), description: "d", whatHappened: "w", occurredAt: "o", requester: "r",
                replies: [ReplyRow(reply, author: "Cat")], timeline: [event], isTeam: true, statuses: ["new"]))
        self.check(MessagePage(page: chrome, heading: "Not for your role", text: "Agents only."))
    }

    @Test("List rows are rendered once per ticket revision, escaped, and again when the ticket changes")
    func rows() async throws {
        let templates = try await MustacheLibrary(directory: resourcesDirectory.appendingPathComponent("templates").path)
        let pages = PageRenderer(templates: templates, repositories: InMemoryStore().repositories)
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        func ticket(_ number: Int, _ subject: String) -> Ticket {
            Ticket(
                id: .init(), number: number, tenantID: .init(), requesterID: .init(), kind: .bug, channel: .web, status: .new,
                priority: .normal, subject: subject, description: "d", occurredAt: now, whatHappened: "w", sessionID: nil,
                createdAt: now, firstResponseTargetMinutes: 240, firstResponseDueAt: now.addingTimeInterval(3_600), assigneeID: nil)
        }
        var rendered = 0
        func rows(_ tickets: [Ticket]) throws -> String {
            try pages.rows(
                "support-row", tickets, version: { .init(id: $0.id.rawValue, revision: $0.revision) },
                model: { ticket in
                    rendered += 1
                    return TicketRow(ticket)
                })
        }
        var first = ticket(1, "Froze <script>alert(1)</script> & more")
        let second = ticket(2, "Slow")
        let html = try rows([first, second])
        #expect(rendered == 2)
        #expect(html.contains("Froze &lt;script&gt;alert(1)&lt;/script&gt; &amp; more"))
        #expect(!html.contains("<script>"))
        #expect(html.components(separatedBy: "<tr data-ticket=").count == 3)
        #expect(html.range(of: first.id.description)!.lowerBound < html.range(of: second.id.description)!.lowerBound)
        // The same tickets again: nothing is rendered, the HTML is the same, in the order asked.
        #expect(try rows([first, second]) == html)
        #expect(rendered == 2)
        let swapped = try rows([second, first])
        #expect(swapped.range(of: second.id.description)!.lowerBound < swapped.range(of: first.id.description)!.lowerBound)
        #expect(rendered == 2)
        // A changed ticket has a new revision and is rendered again.
        first.status = .open
        first.firstRespondedAt = now
        first.revision += 1
        let changed = try rows([first, second])
        #expect(rendered == 3)
        #expect(changed.contains("status-open") && changed.contains("answered"))
        #expect(try rows([]) == "")
    }
}
