import Foundation
import HoldfastCore
import Synchronization

/// The support desk's repositories kept in memory: tickets, suggestions and the outbox share one lock, so a
/// ticket change and its outbox rows land together, as they do in one SQL transaction.
public final class InMemorySupportStore: Sendable {
    struct State {
        var tickets: [Ticket.ID: Ticket] = [:]
        var lastNumber = 0
        var replies: [Ticket.ID: [TicketReply]] = [:]
        var suggestions: [Suggestion.ID: Suggestion] = [:]
        var audiences: [Suggestion.ID: SuggestionAudience] = [:]
        /// In insertion order, which is also `createdAt` order for rows written with a moving clock.
        var outbox: [OutboxMessage] = []
        var incidents: [Incident.ID: Incident] = [:]
        var windows: [MaintenanceWindow.ID: MaintenanceWindow] = [:]
        var usage: [String: UsageHour] = [:]
        var troubleshooters: [Tenant.ID: [Troubleshooter]] = [:]
        var plans: [Tenant.ID: [StoredPlan]] = [:]
        var drills: [Tenant.ID: [DrillResult]] = [:]
    }

    let state = Mutex(State())

    public init() {}

    public var tickets: any TicketRepository { InMemoryTicketRepository(store: self) }
    public var suggestions: any SuggestionRepository { InMemorySuggestionRepository(store: self) }
    public var outbox: any OutboxRepository { InMemoryOutboxRepository(store: self) }
    public var incidents: any IncidentRepository { InMemoryIncidentRepository(store: self) }
    public var maintenance: any MaintenanceRepository { InMemoryMaintenanceRepository(store: self) }
    public var usage: any UsageRepository { InMemoryUsageRepository(store: self) }
    public var continuity: any ContinuityRepository { InMemoryContinuityRepository(store: self) }

    /// Every outbox row, for assertions.
    public var allOutboxMessages: [OutboxMessage] { self.state.withLock { $0.outbox } }
}

extension InMemorySupportStore.State {
    mutating func enqueue(_ messages: [OutboxMessage]) throws {
        for message in messages where self.outbox.contains(where: { $0.id == message.id }) {
            throw CoreError.conflict("outbox_message_exists", "An outbox message with id \(message.id) exists.")
        }
        self.outbox += messages
    }
}

struct InMemoryTicketRepository: TicketRepository {
    let store: InMemorySupportStore

    func create(
        _ ticket: Ticket, replies: [TicketReply], outbox: @Sendable (Ticket) throws -> [OutboxMessage]
    ) async throws -> Ticket {
        try self.store.state.withLock { state in
            guard state.tickets[ticket.id] == nil else {
                throw CoreError.conflict("ticket_exists", "A ticket with id \(ticket.id) exists.")
            }
            var stored = ticket
            stored.number = state.lastNumber + 1
            // Build everything before writing anything, so a throwing closure leaves no trace.
            var copy = state
            try copy.enqueue(try outbox(stored))
            copy.lastNumber = stored.number
            copy.tickets[stored.id] = stored
            copy.replies[stored.id] = replies
            state = copy
            return stored
        }
    }

    func find(id: Ticket.ID) async throws -> Ticket? {
        self.store.state.withLock { $0.tickets[id] }
    }

    func find(number: Int) async throws -> Ticket? {
        self.store.state.withLock { $0.tickets.values.first { $0.number == number } }
    }

    func list(requesterID: User.ID, limit: Int, offset: Int) async throws -> [Ticket] {
        self.store.state.withLock { state in
            let tickets = state.tickets.values.filter { $0.requesterID == requesterID }
                .sorted { ($0.createdAt, $0.number) > ($1.createdAt, $1.number) }
            return Array(tickets.dropFirst(max(offset, 0)).prefix(max(limit, 0)))
        }
    }

    func queue(tenantIDs: Set<Tenant.ID>?, limit: Int, offset: Int) async throws -> [Ticket] {
        self.store.state.withLock { state in
            let tickets = state.tickets.values
                .filter { TicketQueue.contains($0) && (tenantIDs?.contains($0.tenantID) ?? true) }
                .sorted(by: TicketQueue.precedes)
            return Array(tickets.dropFirst(max(offset, 0)).prefix(max(limit, 0)))
        }
    }

    func save(_ ticket: Ticket, replies: [TicketReply], outbox: [OutboxMessage]) async throws {
        try self.store.state.withLock { state in
            guard let stored = state.tickets[ticket.id] else {
                throw CoreError.notFound("There is no ticket #\(ticket.number).")
            }
            guard ticket.revision == stored.revision + 1 else {
                throw CoreError.conflict(
                    "ticket_changed", "Ticket #\(stored.number) was changed by someone else meanwhile; reload it and try again.")
            }
            var copy = state
            try copy.enqueue(outbox)
            var updated = ticket
            updated.number = stored.number
            copy.tickets[ticket.id] = updated
            copy.replies[ticket.id, default: []] += replies
            state = copy
        }
    }

    func replies(of ticketID: Ticket.ID) async throws -> [TicketReply] {
        self.store.state.withLock { $0.replies[ticketID] ?? [] }
    }
}

struct InMemorySuggestionRepository: SuggestionRepository {
    let store: InMemorySupportStore

    func create(_ suggestion: Suggestion, audience: SuggestionAudience) async throws {
        try self.store.state.withLock { state in
            guard state.suggestions[suggestion.id] == nil else {
                throw CoreError.conflict("suggestion_exists", "A suggestion with id \(suggestion.id) exists.")
            }
            state.suggestions[suggestion.id] = suggestion
            state.audiences[suggestion.id] = audience
        }
    }

    func find(id: Suggestion.ID) async throws -> Suggestion? {
        self.store.state.withLock { $0.suggestions[id] }
    }

    func audience(of id: Suggestion.ID) async throws -> SuggestionAudience {
        self.store.state.withLock { $0.audiences[id] ?? SuggestionAudience() }
    }

    func list(tenantID: Tenant.ID?, limit: Int, offset: Int) async throws -> [Suggestion] {
        self.store.state.withLock { state in
            let board = state.suggestions.values
                .filter { $0.mergedInto == nil && ($0.tenantID == nil || $0.tenantID == tenantID) }
                .sorted { ($1.votes, $0.createdAt.timeIntervalSince1970) < ($0.votes, $1.createdAt.timeIntervalSince1970) }
            return Array(board.dropFirst(max(offset, 0)).prefix(max(limit, 0)))
        }
    }

    func vote(suggestionID: Suggestion.ID, userID: User.ID, at now: Date) async throws -> (Suggestion, counted: Bool) {
        try self.store.state.withLock { state in
            guard var suggestion = state.suggestions[suggestionID] else {
                throw CoreError.notFound("There is no suggestion \(suggestionID).")
            }
            var audience = state.audiences[suggestionID] ?? SuggestionAudience()
            let counted = try suggestion.vote(by: userID, audience: &audience, at: now)
            state.suggestions[suggestionID] = suggestion
            state.audiences[suggestionID] = audience
            return (suggestion, counted)
        }
    }

    func save(_ changes: [(Suggestion, SuggestionAudience)], outbox: [OutboxMessage]) async throws {
        try self.store.state.withLock { state in
            for (suggestion, _) in changes where state.suggestions[suggestion.id] == nil {
                throw CoreError.notFound("There is no suggestion \(suggestion.id).")
            }
            var copy = state
            try copy.enqueue(outbox)
            for (suggestion, audience) in changes {
                copy.suggestions[suggestion.id] = suggestion
                copy.audiences[suggestion.id] = audience
            }
            state = copy
        }
    }
}

struct InMemoryOutboxRepository: OutboxRepository {
    let store: InMemorySupportStore

    func enqueue(_ messages: [OutboxMessage]) async throws {
        try self.store.state.withLock { state in
            var copy = state
            try copy.enqueue(messages)
            state = copy
        }
    }

    func due(at now: Date, limit: Int) async throws -> [OutboxMessage] {
        self.store.state.withLock { state in
            Array(
                state.outbox.filter { $0.isDue(at: now) }.sorted { $0.createdAt < $1.createdAt }.prefix(max(limit, 0)))
        }
    }

    func markSent(id: OutboxMessage.ID, at now: Date) async throws {
        try self.update(id) { message in
            message.sentAt = now
            message.attempts += 1
        }
    }

    func markFailed(id: OutboxMessage.ID, error: String, nextAttemptAt: Date?, at now: Date) async throws {
        try self.update(id) { message in
            message.attempts += 1
            message.lastError = error
            if let nextAttemptAt { message.nextAttemptAt = nextAttemptAt } else { message.failedAt = now }
        }
    }

    func find(id: OutboxMessage.ID) async throws -> OutboxMessage? {
        self.store.state.withLock { $0.outbox.first { $0.id == id } }
    }

    private func update(_ id: OutboxMessage.ID, _ change: (inout OutboxMessage) -> Void) throws {
        try self.store.state.withLock { state in
            guard let index = state.outbox.firstIndex(where: { $0.id == id }) else {
                throw CoreError.notFound("There is no outbox message \(id).")
            }
            change(&state.outbox[index])
        }
    }
}
