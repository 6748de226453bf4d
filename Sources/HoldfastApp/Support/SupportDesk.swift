import Foundation
import HoldfastCore
import HoldfastHTTP
import Logging

/// The support desk: files tickets, answers them, and turns what the ticket rules return into
/// mails in the outbox, written in the same transaction as the change (so a crash can lose
/// neither the change nor its mail).
public struct SupportDesk: SupportService {
    let repositories: Repositories
    let policies: SLAPolicySet
    let now: @Sendable () -> Date
    let logger: Logger

    public init(repositories: Repositories, policies: SLAPolicySet = .standard, now: @escaping @Sendable () -> Date, logger: Logger) {
        self.repositories = repositories
        self.policies = policies
        self.now = now
        self.logger = logger
    }

    public func file(_ new: NewTicket, requesterEmail: String?, by caller: User) async throws -> TicketView {
        let requester: User
        if let requesterEmail, requesterEmail.lowercased() != caller.email.lowercased() {
            // Checked before the look-up, so a customer cannot probe which addresses have accounts.
            guard AccessPolicy.isSupportTeam(caller) else {
                throw CoreError.forbidden("You can file tickets only for yourself; ask the support team to file one for someone else.")
            }
            guard let found = try await self.repositories.users.credentials(email: requesterEmail)?.user else {
                throw CoreError.notFound("There is no user \(requesterEmail); create the account first, or file the ticket for yourself.")
            }
            requester = found
        } else {
            requester = caller
        }
        try AccessPolicy.requireFiling(for: requester, by: caller, channel: new.channel)
        if let sessionID = new.sessionID {
            guard let session = try await self.repositories.sessions.find(id: sessionID), session.userID == requester.id else {
                throw CoreError.invalidInput("invalid_session", "Session \(sessionID) is not one of the requester's sessions.")
            }
        }
        let now = self.now()
        let ticket = try new.validated(
            tenantID: requester.tenantID, requesterID: requester.id, policies: self.policies,
            calendar: try await self.repositories.settings.supportCalendar(), at: now)
        let recipient = MailAddress(address: requester.email, name: requester.name)
        let zone = try await self.zone(of: requester)
        let stored = try await self.repositories.tickets.create(ticket, replies: []) { numbered in
            TicketStateMachine.filed(numbered).compactMap { action in
                guard case .notify(_, .received) = action else { return nil }
                return SupportMail.ticketReceived(numbered, to: recipient, timeZone: zone, at: now)
            }
        }
        self.logger.info(
            "ticket filed",
            metadata: ["ticket.id": "\(stored.id)", "ticket.number": "\(stored.number)", "channel": "\(stored.channel.rawValue)"])
        return try await self.view(stored, for: caller)
    }

    public func tickets(for caller: User, limit: Int, offset: Int) async throws -> [Ticket] {
        if AccessPolicy.isSupportTeam(caller) {
            return try await self.repositories.tickets.queue(tenantIDs: nil, limit: limit, offset: offset)
        }
        return try await self.repositories.tickets.list(requesterID: caller.id, limit: limit, offset: offset)
    }

    public func ticket(_ id: Ticket.ID, for caller: User) async throws -> TicketView {
        try await self.view(try await self.visibleTicket(id, for: caller), for: caller)
    }

    public func reply(
        to id: Ticket.ID, body: String, visibility: ReplyVisibility, status: TicketStatus?, channel: TicketChannel, by caller: User
    ) async throws -> TicketView {
        let ticket = try await self.visibleTicket(id, for: caller)
        let side = try AccessPolicy.ticketSide(of: caller, on: ticket)
        var machine = TicketStateMachine(ticket: ticket, calendar: try await self.repositories.settings.supportCalendar())
        let now = self.now()
        let actions = try machine.reply(
            body: body, visibility: visibility, channel: channel, by: caller.id, as: side, setting: status, at: now)
        var replies: [TicketReply] = []
        var outbox: [OutboxMessage] = []
        for action in actions {
            switch action {
            case .recordReply(let reply):
                replies.append(reply)
            case .notify(let userID, let notice):
                if let mail = try await self.mail(notice, about: machine.ticket, to: userID, author: caller, at: now) {
                    outbox.append(mail)
                }
            }
        }
        try await self.repositories.tickets.save(machine.ticket, replies: replies, outbox: outbox)
        return try await self.view(machine.ticket, for: caller)
    }

    // MARK: Suggestions

    public func suggest(title: String, body: String, by caller: User) async throws -> Suggestion {
        let (suggestion, audience) = try Suggestion.validated(title: title, body: body, tenantID: nil, authorID: caller.id, at: self.now())
        try await self.repositories.suggestions.create(suggestion, audience: audience)
        return suggestion
    }

    public func suggestions(for caller: User, limit: Int, offset: Int) async throws -> [Suggestion] {
        try await self.repositories.suggestions.list(tenantID: caller.tenantID, limit: limit, offset: offset)
    }

    public func vote(for id: Suggestion.ID, by caller: User) async throws -> (Suggestion, counted: Bool) {
        _ = try await self.visibleSuggestion(id, for: caller)
        return try await self.repositories.suggestions.vote(suggestionID: id, userID: caller.id, at: self.now())
    }

    public func changeStatus(of id: Suggestion.ID, to status: SuggestionStatus, by caller: User) async throws -> Suggestion {
        try AccessPolicy.requireSuggestionModeration(by: caller)
        var suggestion = try await self.visibleSuggestion(id, for: caller)
        let audience = try await self.repositories.suggestions.audience(of: id)
        let now = self.now()
        let notified = try suggestion.changeStatus(to: status, by: caller.id, audience: audience, at: now)
        var outbox: [OutboxMessage] = []
        for userID in notified {
            guard let user = try await self.repositories.users.find(id: userID) else { continue }
            outbox.append(SupportMail.suggestionStatusChanged(suggestion, to: MailAddress(address: user.email, name: user.name), at: now))
        }
        try await self.repositories.suggestions.save([(suggestion, audience)], outbox: outbox)
        return suggestion
    }

    public func merge(_ duplicateID: Suggestion.ID, into originalID: Suggestion.ID, by caller: User) async throws -> Suggestion {
        try AccessPolicy.requireSuggestionModeration(by: caller)
        var duplicate = try await self.visibleSuggestion(duplicateID, for: caller)
        var original = try await self.visibleSuggestion(originalID, for: caller)
        var duplicateAudience = try await self.repositories.suggestions.audience(of: duplicateID)
        var originalAudience = try await self.repositories.suggestions.audience(of: originalID)
        _ = try Suggestion.merge(&duplicate, audience: &duplicateAudience, into: &original, audience: &originalAudience, at: self.now())
        try await self.repositories.suggestions.save([(duplicate, duplicateAudience), (original, originalAudience)], outbox: [])
        self.logger.info("suggestions merged", metadata: ["suggestion.id": "\(duplicateID)", "into": "\(originalID)"])
        return original
    }

    private func visibleSuggestion(_ id: Suggestion.ID, for caller: User) async throws -> Suggestion {
        guard let suggestion = try await self.repositories.suggestions.find(id: id) else {
            throw CoreError.notFound("There is no suggestion \(id).")
        }
        try AccessPolicy.requireVisibility(of: suggestion, to: caller)
        return suggestion
    }

    // MARK: Helpers

    private func visibleTicket(_ id: Ticket.ID, for caller: User) async throws -> Ticket {
        guard let ticket = try await self.repositories.tickets.find(id: id) else {
            throw CoreError.notFound("There is no ticket \(id).")
        }
        try AccessPolicy.requireVisibility(of: ticket, to: caller)
        return ticket
    }

    private func view(_ ticket: Ticket, for caller: User) async throws -> TicketView {
        let replies = try AccessPolicy.visibleReplies(try await self.repositories.tickets.replies(of: ticket.id), of: ticket, to: caller)
        var timeline: [SessionEvent]?
        if let sessionID = ticket.sessionID {
            timeline = try await self.repositories.sessions.events(sessionID: sessionID)
        }
        return TicketView(ticket: ticket, replies: replies, sessionTimeline: timeline)
    }

    private func zone(of user: User) async throws -> TimeZone {
        try await self.repositories.tenants.find(id: user.tenantID).flatMap { TimeZone(identifier: $0.timeZone) } ?? .gmt
    }

    /// The mail for one notice, or `nil` for notices that have no mail (yet). `author` is who
    /// acted; `nil` for the service itself (breach warnings).
    func mail(
        _ notice: TicketNotice, about ticket: Ticket, to userID: User.ID, author: User?, at now: Date
    ) async throws
        -> OutboxMessage?
    {
        guard let user = try await self.repositories.users.find(id: userID) else { return nil }
        let recipient = MailAddress(address: user.email, name: user.name)
        switch notice {
        case .received:
            return SupportMail.ticketReceived(ticket, to: recipient, timeZone: try await self.zone(of: user), at: now)
        case .teamReplied(let reply, let status):
            return SupportMail.teamReplied(
                ticket, reply: reply, authorName: author?.name ?? "Holdfast support", status: status, to: recipient, at: now)
        case .customerReplied(let reply):
            return SupportMail.customerReplied(ticket, reply: reply, to: recipient, at: now)
        case .statusChanged(let from, let to):
            return SupportMail.statusChanged(
                ticket, from: from, to: to, recipient: recipient, forTeam: AccessPolicy.isSupportTeam(user), at: now)
        case .breachWarning(let warning):
            return SupportMail.breachWarning(ticket, warning: warning, to: recipient, timeZone: try await self.zone(of: user), at: now)
        case .assigned:
            return nil
        }
    }
}
