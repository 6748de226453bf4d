import Foundation
import HoldfastCore
import Hummingbird

/// The support desk's pages: `/support` (the customer's tickets and the form to file one),
/// `/support/tickets/{id}` (one ticket's thread, answered from the page), and `/console` (the
/// team's queue, most urgent first, with the business time left).
///
/// Like the rest of the portal, the pages read and the scripts write through the JSON API.
struct SupportPages {
    let pages: PageRenderer
    let support: any SupportService
    let sessions: any SessionService
    let repositories: Repositories
    let now: @Sendable () -> Date
    /// `/support` pages rendered, by what they show (a customer reloading it sees the same page).
    let renderedPages = RenderedMemo<SupportPage.Inputs, ByteBuffer>(capacity: 512)
    /// `/console` pages rendered, by what they show (the queue polled within the same minute).
    let renderedConsoles = RenderedMemo<ConsolePage.Inputs, ByteBuffer>(capacity: 256)
    /// The support calendar's business clock, which keeps the due dates' readings between polls.
    let queueClocks = RenderedMemo<BusinessCalendar, BusinessClock>(capacity: 4)

    /// How many tickets one page of a list shows.
    static let pageSize = 50

    func add(to router: Router<AppRequestContext>) {
        router.get("support", use: self.tickets)
        router.get("support/tickets/:id", use: self.ticket)
        router.get("console", use: self.console)
    }

    @Sendable func tickets(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = context.user else { return PageRenderer.signInFirst(request) }
        let chrome = try await self.pages.chrome(title: "Support", user: user)
        let tickets = try await self.support.tickets(for: user, limit: Self.pageSize, offset: 0)
        // The sessions of the last week, newest first, ten at most, to attach to a report.
        let since = self.now().addingTimeInterval(-7 * 86_400)
        let recent = try await self.sessions.newestSessions(of: user, limit: 10).filter { $0.machine.createdAt >= since }
        let isTeam = AccessPolicy.isSupportTeam(user)
        let version = { (ticket: Ticket) in RecordVersion(id: ticket.id.rawValue, revision: ticket.revision) }
        let inputs = SupportPage.Inputs(
            userID: user.id, chrome: chrome, tickets: tickets.map(version), sessions: recent.map(SessionRow.init), isTeam: isTeam)
        return try self.pages.render("support", memo: self.renderedPages, inputs: inputs) {
            SupportPage(
                page: chrome, ticketRows: try self.pages.rows("support-row", tickets, version: version, model: TicketRow.init),
                hasTickets: !tickets.isEmpty, kinds: TicketKind.allCases.map(\.rawValue), sessions: inputs.sessions, isTeam: isTeam)
        }
    }

    @Sendable func ticket(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = context.user else { return PageRenderer.signInFirst(request) }
        let view = try await self.support.ticket(try TicketRoutes.id(context), for: user)
        let chrome = try await self.pages.chrome(title: "Ticket #\(view.ticket.number)", user: user)
        let isTeam = AccessPolicy.isSupportTeam(user)
        var names: [User.ID: String] = [:]
        for id in Set(view.replies.map(\.authorID) + [view.ticket.requesterID]) {
            names[id] = try await self.repositories.users.find(id: id).map { "\($0.name) <\($0.email)>" } ?? "a former user"
        }
        let page = TicketPage(
            page: chrome, ticket: TicketRow(view.ticket), description: view.ticket.description,
            whatHappened: view.ticket.whatHappened, occurredAt: view.ticket.occurredAt.formatted(.iso8601),
            requester: names[view.ticket.requesterID] ?? "",
            replies: view.replies.map { ReplyRow($0, author: names[$0.authorID] ?? "") },
            timeline: (view.sessionTimeline ?? []).map {
                EventRow(at: $0.at.formatted(.iso8601), type: $0.type.rawValue, detail: $0.detail)
            },
            isTeam: isTeam, statuses: TicketStatus.allCases.map(\.rawValue))
        return try self.pages.render("ticket", page)
    }

    @Sendable func console(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = context.user else { return PageRenderer.signInFirst(request) }
        let chrome = try await self.pages.chrome(title: "Agent console", user: user)
        guard AccessPolicy.isSupportTeam(user) else {
            return try self.pages.notForYourRole(chrome, "Only agents and operators can work the ticket queue.")
        }
        let offset = try request.page().offset
        let calendar = try await self.repositories.settings.supportCalendar()
        let tickets = try await self.support.tickets(for: user, limit: Self.pageSize, offset: offset)
        let now = self.now()
        let clock = self.queueClocks.value(for: calendar) { BusinessClock(calendar: calendar, anchor: now) }
        let entries = try TicketQueue.entries(tickets, clock: clock, at: now)
        let inputs = ConsolePage.Inputs(
            userID: user.id, chrome: chrome, rows: entries.map(QueueRow.version), zone: calendar.timeZone.identifier,
            previousOffset: offset > 0 ? max(0, offset - Self.pageSize) : nil,
            nextOffset: tickets.count == Self.pageSize ? offset + Self.pageSize : nil)
        return try self.pages.render("console", memo: self.renderedConsoles, inputs: inputs) {
            ConsolePage(
                page: chrome, rows: try self.pages.rows("console-row", entries, version: QueueRow.version, model: QueueRow.init),
                hasEntries: !entries.isEmpty, zone: inputs.zone, previousOffset: inputs.previousOffset, nextOffset: inputs.nextOffset)
        }
    }
}

/// A ticket in a list; times are ISO 8601 for the page's script to show in the reader's zone.
struct TicketRow {
    var id: String
    var number: Int
    var kind: String
    var channel: String
    var status: String
    var subject: String
    var createdAt: String
    var dueAt: String?
    var respondedAt: String?
    /// Filed by mail without a reply token: its From address is unproven.
    var unverified: Bool

    init(_ ticket: Ticket) {
        self.id = ticket.id.description
        self.number = ticket.number
        self.kind = ticket.kind.rawValue
        self.channel = ticket.channel.rawValue
        self.status = ticket.status.rawValue
        self.subject = ticket.subject
        self.createdAt = ticket.createdAt.formatted(.iso8601)
        self.dueAt = ticket.firstResponseDueAt?.formatted(.iso8601)
        self.respondedAt = ticket.firstRespondedAt?.formatted(.iso8601)
        self.unverified = ticket.unverified
    }
}

struct SupportPage {
    /// Everything the page shows, for ``PageRenderer/render(_:memo:inputs:model:)``: the rows
    /// by the tickets' versions, since a row shows nothing but its ticket.
    struct Inputs: Hashable, Sendable {
        /// Whose page it is: never shown to anyone else, whatever else matches.
        var userID: User.ID
        var chrome: PageChrome
        var tickets: [RecordVersion]
        var sessions: [SessionRow]
        var isTeam: Bool
    }

    var page: PageChrome
    /// The list's `<tr>` rows, rendered from `support-row` (escaped there).
    var ticketRows: String
    var hasTickets: Bool
    var kinds: [String]
    var sessions: [SessionRow]
    var hasSessions: Bool
    var isTeam: Bool

    init(page: PageChrome, ticketRows: String, hasTickets: Bool, kinds: [String], sessions: [SessionRow], isTeam: Bool) {
        self.page = page
        self.ticketRows = ticketRows
        self.hasTickets = hasTickets
        self.kinds = kinds
        self.sessions = sessions
        self.hasSessions = !sessions.isEmpty
        self.isTeam = isTeam
    }
}

struct ReplyRow {
    var author: String
    var side: String
    var isNote: Bool
    var body: String
    var channel: String
    var createdAt: String

    init(_ reply: TicketReply, author: String) {
        self.author = author
        self.side = reply.side.rawValue
        self.isNote = reply.visibility == .internal
        self.body = reply.body
        self.channel = reply.channel.rawValue
        self.createdAt = reply.createdAt.formatted(.iso8601)
    }
}

struct EventRow {
    var at: String
    var type: String
    var detail: String
}

struct TicketPage {
    var page: PageChrome
    var ticket: TicketRow
    var description: String
    var whatHappened: String
    var occurredAt: String
    var requester: String
    var replies: [ReplyRow]
    var timeline: [EventRow]
    var hasTimeline: Bool
    var isTeam: Bool
    var statuses: [String]

    init(
        page: PageChrome, ticket: TicketRow, description: String, whatHappened: String, occurredAt: String, requester: String,
        replies: [ReplyRow], timeline: [EventRow], isTeam: Bool, statuses: [String]
    ) {
        self.page = page
        self.ticket = ticket
        self.description = description
        self.whatHappened = whatHappened
        self.occurredAt = occurredAt
        self.requester = requester
        self.replies = replies
        self.timeline = timeline
        self.hasTimeline = !timeline.isEmpty
        self.isTeam = isTeam
        self.statuses = statuses
    }
}

/// One row of the agent console.
struct QueueRow {
    var ticket: TicketRow
    var timeLeft: String
    var isBreached: Bool
    var isDueSoon: Bool

    init(_ entry: TicketQueue.Entry) {
        self.ticket = TicketRow(entry.ticket)
        self.isBreached = entry.isBreached
        let minutes = entry.businessMinutesLeft
        self.isDueSoon = !entry.isBreached && minutes.map { $0 * 60 < Int(TicketQueue.defaultWarningWindow) } == true
        switch minutes {
        case nil:
            self.timeLeft = entry.ticket.firstRespondedAt == nil ? "no promise" : "answered"
        case let minutes? where minutes < 0:
            self.timeLeft = "\(Self.businessTime(-minutes)) ago"
        case let minutes?:
            self.timeLeft = "\(Self.businessTime(minutes)) left"
        }
    }
}

extension QueueRow {
    /// What a row shows: its ticket at one revision, and the time left (in whole minutes) and
    /// breach that go with it; cheap to tell, so a kept row is found without building it.
    static func version(of entry: TicketQueue.Entry) -> RecordVersion {
        RecordVersion(
            id: entry.ticket.id.rawValue, revision: entry.ticket.revision,
            variant: "\(entry.businessMinutesLeft.map(String.init) ?? "-")|\(entry.isBreached)")
    }

    /// Business time in hours and minutes ("27 h 5 min"): days would suggest 24-hour days.
    static func businessTime(_ minutes: Int) -> String {
        switch (minutes / 60, minutes % 60) {
        case (0, let rest): "\(rest) min"
        case (let hours, 0): "\(hours) h"
        case (let hours, let rest): "\(hours) h \(rest) min"
        }
    }
}

struct ConsolePage {
    /// Everything the page shows, for ``PageRenderer/render(_:memo:inputs:model:)``.
    struct Inputs: Hashable, Sendable {
        /// Whose page it is: never shown to anyone else, whatever else matches.
        var userID: User.ID
        var chrome: PageChrome
        var rows: [RecordVersion]
        var zone: String
        var previousOffset: Int?
        var nextOffset: Int?
    }

    var page: PageChrome
    /// The queue's `<tr>` rows, rendered from `console-row` (escaped there).
    var rows: String
    var hasEntries: Bool
    var zone: String
    var previousOffset: Int?
    var nextOffset: Int?

    init(page: PageChrome, rows: String, hasEntries: Bool, zone: String, previousOffset: Int?, nextOffset: Int?) {
        self.page = page
        self.rows = rows
        self.hasEntries = hasEntries
        self.zone = zone
        self.previousOffset = previousOffset
        self.nextOffset = nextOffset
    }
}
