import Foundation
import HoldfastCore

/// What the HTTP layer asks of the support desk (implemented in HoldfastApp).
///
/// Every method takes the caller and checks their right to the ticket itself.
public protocol SupportService: Sendable {
    /// Files a ticket. `requesterEmail` names someone else (agents filing a phone call for a
    /// user); `nil` files it for the caller.
    func file(_ ticket: NewTicket, requesterEmail: String?, by caller: User) async throws -> TicketView
    /// The caller's own tickets (customers) or the agent queue (the support team), newest or
    /// most urgent first.
    func tickets(for caller: User, limit: Int, offset: Int) async throws -> [Ticket]
    func ticket(_ id: Ticket.ID, for caller: User) async throws -> TicketView
    /// A public reply or an internal note, optionally setting the status in the same step.
    func reply(
        to id: Ticket.ID, body: String, visibility: ReplyVisibility, status: TicketStatus?, channel: TicketChannel, by caller: User
    ) async throws -> TicketView

    /// Adds a suggestion to the service-wide board; its author follows it.
    func suggest(title: String, body: String, by caller: User) async throws -> Suggestion
    /// The board the caller sees, most votes first.
    func suggestions(for caller: User, limit: Int, offset: Int) async throws -> [Suggestion]
    /// One vote per user: the suggestion after the vote, and whether this vote counted.
    func vote(for id: Suggestion.ID, by caller: User) async throws -> (Suggestion, counted: Bool)
    /// Sets the status (agents, operators); voters and followers are mailed.
    func changeStatus(of id: Suggestion.ID, to status: SuggestionStatus, by caller: User) async throws -> Suggestion
    /// Merges a duplicate into the original (agents, operators): votes and followers move over.
    func merge(_ duplicate: Suggestion.ID, into original: Suggestion.ID, by caller: User) async throws -> Suggestion
}

/// A ticket as its reader may see it: the replies they may read and, for the team, the
/// timeline of the session the ticket was filed from.
public struct TicketView: Sendable {
    public var ticket: Ticket
    public var replies: [TicketReply]
    public var sessionTimeline: [SessionEvent]?

    public init(ticket: Ticket, replies: [TicketReply], sessionTimeline: [SessionEvent]?) {
        self.ticket = ticket
        self.replies = replies
        self.sessionTimeline = sessionTimeline
    }
}
