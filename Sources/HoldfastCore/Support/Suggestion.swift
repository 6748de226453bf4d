import Foundation

/// Where a suggestion stands; the raw values are the wire strings of `GET /suggestions`.
public enum SuggestionStatus: String, Sendable, Codable, Hashable, CaseIterable {
    case open
    case underReview = "under-review"
    case planned
    case inProgress = "in-progress"
    case done
    case declined

    /// Parses the wire form, with an error (`invalid_status`) that lists the valid statuses.
    public init(validating text: String) throws {
        self = try parseWireValue(text, code: "invalid_status", noun: "suggestion status")
    }

    /// Whether votes are still taken: a suggestion that is done or declined has been decided.
    public var acceptsVotes: Bool { self != .done && self != .declined }
}

/// An idea on the suggestion board.
///
/// Rules (in this file, pure; the store persists the results):
/// - **One vote per user.** Voting again is a no-op that reports "not counted", not an error, so a double click
///   or a retried request is harmless and the count stays honest.
/// - **Decided suggestions take no votes.** Voting on a `done` or `declined` one is a conflict
///   (`suggestion_closed`); on a merged one, a conflict (`suggestion_merged`) naming the original to vote on.
/// - **Merging** a duplicate into an original moves its voters and subscribers; a user who voted for both counts
///   once. The duplicate keeps its text, points to the original (`mergedInto`), has no votes of its own any more,
///   and is read-only: no votes, no status changes, no further merges. An original that has duplicates may
///   itself be merged later; its duplicates keep pointing to it, so readers follow `mergedInto` until it is
///   `nil` (``resolvingMerges(in:)``). Loops cannot form, because nothing is merged into a merged suggestion.
/// - **Status changes** return everyone to tell: voters and subscribers, minus the person who made the change.
public struct Suggestion: Sendable, Codable, Hashable {
    public typealias ID = Identifier<Suggestion>

    public var id: ID
    /// `nil` for the service-wide board; a tenant's id for that tenant's own board.
    public var tenantID: Tenant.ID?
    public var authorID: User.ID
    public var title: String
    /// Stored as written, never interpreted as HTML.
    public var body: String
    public var status: SuggestionStatus
    /// How many distinct users voted for it (always `audience.voters.count`).
    public var votes: Int
    /// The original this duplicate was merged into; set means read-only.
    public var mergedInto: ID?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: ID = ID(), tenantID: Tenant.ID?, authorID: User.ID, title: String, body: String,
        status: SuggestionStatus = .open, votes: Int = 0, mergedInto: ID? = nil, createdAt: Date
    ) {
        self.id = id
        self.tenantID = tenantID
        self.authorID = authorID
        self.title = title
        self.body = body
        self.status = status
        self.votes = votes
        self.mergedInto = mergedInto
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }

    /// Builds a suggestion from untrusted input: title 1–200 characters, body at most 20,000 (may be empty).
    /// Returns it with its audience: the author follows their own suggestion but has not voted.
    /// - Throws: `invalid_title`, `invalid_body`.
    public static func validated(
        title: String, body: String, tenantID: Tenant.ID?, authorID: User.ID, at now: Date
    ) throws -> (Suggestion, SuggestionAudience) {
        let title = try checkedText(title, field: "title", code: "invalid_title", limit: TicketLimits.subjectCharacters)
        let body = body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard body.count <= TicketLimits.textCharacters else {
            throw CoreError.invalidInput(
                "invalid_body", "The body is \(body.count) characters long; shorten it to at most \(TicketLimits.textCharacters).")
        }
        let suggestion = Suggestion(tenantID: tenantID, authorID: authorID, title: title, body: body, createdAt: now)
        return (suggestion, SuggestionAudience(subscribers: [authorID]))
    }

    /// Checks that the suggestion takes votes: not merged, not done or declined.
    public func requireVotable() throws {
        if let original = self.mergedInto {
            throw CoreError.conflict(
                "suggestion_merged", "This suggestion was merged into suggestion \(original); vote for that one instead.")
        }
        guard self.status.acceptsVotes else {
            throw CoreError.conflict(
                "suggestion_closed", "This suggestion is \(self.status.rawValue) and no longer takes votes.")
        }
    }

    /// Records `user`'s vote; returns `false` (and changes nothing) when they had already voted.
    ///
    /// A voter also follows the suggestion, so they hear when its status changes.
    /// - Throws: `suggestion_merged`, `suggestion_closed` (see ``requireVotable()``).
    @discardableResult
    public mutating func vote(by user: User.ID, audience: inout SuggestionAudience, at now: Date) throws -> Bool {
        try self.requireVotable()
        guard audience.voters.insert(user).inserted else { return false }
        audience.subscribers.insert(user)
        self.votes = audience.voters.count
        self.updatedAt = max(self.updatedAt, now)
        return true
    }

    /// Sets the status and returns who to tell: voters and subscribers, except `actor`; empty when unchanged.
    /// - Throws: `suggestion_merged` for a merged suggestion (change the original instead).
    public mutating func changeStatus(
        to status: SuggestionStatus, by actor: User.ID, audience: SuggestionAudience, at now: Date
    ) throws
        -> Set<User.ID>
    {
        if let original = self.mergedInto {
            throw CoreError.conflict(
                "suggestion_merged", "This suggestion was merged into suggestion \(original); change that one instead.")
        }
        guard status != self.status else { return [] }
        self.status = status
        self.updatedAt = max(self.updatedAt, now)
        return audience.voters.union(audience.subscribers).subtracting([actor])
    }

    /// Merges `duplicate` into `original`: voters and subscribers move (a user in both counts once), the duplicate
    /// points to the original, loses its own votes and becomes read-only.
    ///
    /// Returns the duplicate's followers who did not already follow the original, so the app can tell them
    /// where the idea went.
    /// - Throws: `suggestion_merge_invalid` (conflict) for merging a suggestion into itself, into or from a merged
    ///   one (merge into the original it points to instead), or across boards.
    public static func merge(
        _ duplicate: inout Suggestion, audience duplicateAudience: inout SuggestionAudience,
        into original: inout Suggestion, audience originalAudience: inout SuggestionAudience,
        at now: Date
    ) throws -> Set<User.ID> {
        guard duplicate.id != original.id else {
            throw CoreError.conflict("suggestion_merge_invalid", "A suggestion cannot be merged into itself.")
        }
        if let target = duplicate.mergedInto {
            throw CoreError.conflict("suggestion_merge_invalid", "This suggestion was already merged into suggestion \(target).")
        }
        if let target = original.mergedInto {
            throw CoreError.conflict(
                "suggestion_merge_invalid", "The original was itself merged into suggestion \(target); merge into that one instead.")
        }
        guard duplicate.tenantID == original.tenantID else {
            throw CoreError.conflict("suggestion_merge_invalid", "Suggestions on different boards cannot be merged.")
        }
        let newFollowers = duplicateAudience.voters.union(duplicateAudience.subscribers)
            .subtracting(originalAudience.voters.union(originalAudience.subscribers))
        originalAudience.voters.formUnion(duplicateAudience.voters)
        originalAudience.subscribers.formUnion(duplicateAudience.subscribers)
        originalAudience.subscribers.formUnion(duplicateAudience.voters)
        duplicateAudience = SuggestionAudience()
        original.votes = originalAudience.voters.count
        original.updatedAt = max(original.updatedAt, now)
        duplicate.votes = 0
        duplicate.mergedInto = original.id
        duplicate.updatedAt = max(duplicate.updatedAt, now)
        return newFollowers
    }
}

extension Suggestion {
    /// The surviving suggestion this one was merged into, following merged originals; `self` when not merged.
    /// `lookup` finds a suggestion by id (for example from a dictionary loaded by the store).
    public func resolvingMerges(in lookup: (Suggestion.ID) -> Suggestion?) -> Suggestion {
        var current = self
        var seen: Set<Suggestion.ID> = [self.id]
        while let next = current.mergedInto, let target = lookup(next), seen.insert(target.id).inserted {
            current = target
        }
        return current
    }
}

/// Who cares about a suggestion: its voters, and its subscribers (the author, voters, people who follow it).
public struct SuggestionAudience: Sendable, Codable, Hashable {
    public var voters: Set<User.ID>
    public var subscribers: Set<User.ID>

    public init(voters: Set<User.ID> = [], subscribers: Set<User.ID> = []) {
        self.voters = voters
        self.subscribers = subscribers
    }
}
