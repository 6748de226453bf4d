import Foundation

/// Stored tickets and their threads.
///
/// Every write takes the outbox rows that report it, and stores them in the same transaction, so a mail is
/// sent if and only if the change it reports was saved.
public protocol TicketRepository: Sendable {
    /// Stores a new ticket under the next free number (1, 2, 3 … per installation, never reused), with its
    /// first replies and the outbox rows that `outbox` builds from the numbered ticket, all in one transaction.
    /// Returns the stored ticket with its number.
    ///
    /// `outbox` runs inside the transaction and must not do I/O: it exists because the mails quote the number.
    func create(
        _ ticket: Ticket, replies: [TicketReply], outbox: @Sendable (Ticket) throws -> [OutboxMessage]
    ) async throws -> Ticket

    func find(id: Ticket.ID) async throws -> Ticket?
    func find(number: Int) async throws -> Ticket?

    /// A requester's tickets, newest first.
    func list(requesterID: User.ID, limit: Int, offset: Int) async throws -> [Ticket]

    /// The agent queue: `new` and `open` tickets of `tenantIDs` (every tenant when `nil`), in
    /// ``TicketQueue/precedes(_:_:)`` order.
    func queue(tenantIDs: Set<Tenant.ID>?, limit: Int, offset: Int) async throws -> [Ticket]

    /// Saves a changed ticket, appends `replies` and enqueues `outbox`, in one transaction.
    ///
    /// `ticket.revision` must be one more than the stored revision; otherwise someone else changed the ticket
    /// first and the call throws `conflict` (`ticket_changed`) without writing anything: reload and retry.
    func save(_ ticket: Ticket, replies: [TicketReply], outbox: [OutboxMessage]) async throws

    /// A ticket's replies and notes, oldest first (filter with ``AccessPolicy/visibleReplies(_:of:to:)``).
    func replies(of ticketID: Ticket.ID) async throws -> [TicketReply]
}

/// Stored suggestions, their voters and subscribers.
public protocol SuggestionRepository: Sendable {
    func create(_ suggestion: Suggestion, audience: SuggestionAudience) async throws
    func find(id: Suggestion.ID) async throws -> Suggestion?
    func audience(of id: Suggestion.ID) async throws -> SuggestionAudience

    /// The board seen from a tenant: service-wide suggestions plus that tenant's (service-wide only when `nil`),
    /// merged ones left out, most votes first, then oldest first.
    func list(tenantID: Tenant.ID?, limit: Int, offset: Int) async throws -> [Suggestion]

    /// Records a vote atomically, applying ``Suggestion/vote(by:audience:at:)``; returns the suggestion after
    /// it and whether the vote counted (`false` when the user had already voted).
    /// - Throws: `notFound`, `suggestion_merged`, `suggestion_closed`.
    func vote(suggestionID: Suggestion.ID, userID: User.ID, at now: Date) async throws -> (Suggestion, counted: Bool)

    /// Saves changed suggestions with their audiences and enqueues `outbox`, in one transaction (a status
    /// change with its notices; a merge, which changes two suggestions).
    func save(_ changes: [(Suggestion, SuggestionAudience)], outbox: [OutboxMessage]) async throws
}

/// The transactional outbox, as the mailer service reads it.
public protocol OutboxRepository: Sendable {
    /// Adds messages on their own (when no other change goes with them).
    func enqueue(_ messages: [OutboxMessage]) async throws
    /// Messages to try at `now`: not sent, not given up, `nextAttemptAt <= now`; oldest first.
    func due(at now: Date, limit: Int) async throws -> [OutboxMessage]
    func markSent(id: OutboxMessage.ID, at now: Date) async throws
    /// Records a failed attempt: one more attempt, the error, and the next try, or `nil` to give up for good
    /// (see ``RetrySchedule/nextAttempt(after:failedAt:)``).
    func markFailed(id: OutboxMessage.ID, error: String, nextAttemptAt: Date?, at now: Date) async throws
    func find(id: OutboxMessage.ID) async throws -> OutboxMessage?
}
