import Foundation
import HoldfastCore
import HoldfastTestSupport
import PropertyBased
import Testing

@Suite("Suggestion board: votes, statuses, merges")
struct SuggestionRulesTests {
    let now = Date(timeIntervalSince1970: 1_795_000_000)
    let author = User.ID()
    let agent = User.ID()

    func suggestion(_ title: String = "Dark mode") throws -> (Suggestion, SuggestionAudience) {
        try Suggestion.validated(title: title, body: "Please.", tenantID: nil, authorID: self.author, at: self.now)
    }

    @Test("Title 1–200 characters, body at most 20,000; the author follows but has not voted")
    func validation() throws {
        let (suggestion, audience) = try self.suggestion("  Dark mode ")
        #expect(suggestion.title == "Dark mode" && suggestion.status == .open && suggestion.votes == 0)
        #expect(audience == SuggestionAudience(voters: [], subscribers: [self.author]))
        #expect { try Suggestion.validated(title: " ", body: "", tenantID: nil, authorID: self.author, at: self.now) } throws: {
            ($0 as? CoreError)?.code == "invalid_title"
        }
        #expect {
            try Suggestion.validated(
                title: "t", body: String(repeating: "b", count: 20_001), tenantID: nil, authorID: self.author, at: self.now)
        } throws: { ($0 as? CoreError)?.code == "invalid_body" }
        #expect(SuggestionStatus.allCases.map(\.rawValue) == ["open", "under-review", "planned", "in-progress", "done", "declined"])
    }

    @Test("One vote per user: voting again is a no-op that reports it did not count")
    func oneVotePerUser() throws {
        var (suggestion, audience) = try self.suggestion()
        let voter = User.ID()
        #expect(try suggestion.vote(by: voter, audience: &audience, at: self.now))
        #expect(try !suggestion.vote(by: voter, audience: &audience, at: self.now))
        #expect(suggestion.votes == 1)
        #expect(audience.subscribers.contains(voter))
    }

    @Test("Done and declined suggestions take no votes; merged ones point to the original")
    func closedSuggestions() throws {
        for status in [SuggestionStatus.done, .declined] {
            var (suggestion, audience) = try self.suggestion()
            _ = try suggestion.changeStatus(to: status, by: self.agent, audience: audience, at: self.now)
            #expect { try suggestion.vote(by: User.ID(), audience: &audience, at: self.now) } throws: {
                ($0 as? CoreError)?.code == "suggestion_closed"
            }
        }
        var (duplicate, duplicateAudience) = try self.suggestion()
        var (original, originalAudience) = try self.suggestion("Dark theme")
        _ = try Suggestion.merge(&duplicate, audience: &duplicateAudience, into: &original, audience: &originalAudience, at: self.now)
        #expect { try duplicate.vote(by: User.ID(), audience: &duplicateAudience, at: self.now) } throws: { error in
            guard let error = error as? CoreError else { return false }
            return error.code == "suggestion_merged" && error.message.contains(original.id.description)
        }
        #expect(throws: CoreError.self) {
            try duplicate.changeStatus(to: .planned, by: self.agent, audience: duplicateAudience, at: self.now)
        }
    }

    @Test("A status change tells voters and subscribers, not the person who made it, and not when unchanged")
    func statusNotices() throws {
        var (suggestion, audience) = try self.suggestion()
        let voters = [User.ID(), User.ID()]
        for voter in voters { try suggestion.vote(by: voter, audience: &audience, at: self.now) }
        audience.subscribers.insert(self.agent)
        let told = try suggestion.changeStatus(to: .planned, by: self.agent, audience: audience, at: self.now)
        #expect(told == Set(voters + [self.author]))
        #expect(try suggestion.changeStatus(to: .planned, by: self.agent, audience: audience, at: self.now).isEmpty)
    }

    @Test("Merging moves votes and followers, counts a double voter once, and refuses loops")
    func merge() throws {
        var (duplicate, duplicateAudience) = try self.suggestion()
        var (original, originalAudience) = try self.suggestion("Dark theme")
        let (both, onlyDuplicate, onlyOriginal) = (User.ID(), User.ID(), User.ID())
        for voter in [both, onlyDuplicate] { try duplicate.vote(by: voter, audience: &duplicateAudience, at: self.now) }
        for voter in [both, onlyOriginal] { try original.vote(by: voter, audience: &originalAudience, at: self.now) }
        let newFollowers = try Suggestion.merge(
            &duplicate, audience: &duplicateAudience, into: &original, audience: &originalAudience, at: self.now)
        #expect(original.votes == 3)
        #expect(originalAudience.voters == [both, onlyDuplicate, onlyOriginal])
        #expect(newFollowers == [onlyDuplicate])
        #expect(duplicate.mergedInto == original.id && duplicate.votes == 0)
        #expect(duplicateAudience == SuggestionAudience())
        // Neither can be merged again in either direction, nor a suggestion into itself.
        var third = try self.suggestion("Night mode")
        #expect(throws: CoreError.self) {
            try Suggestion.merge(&third.0, audience: &third.1, into: &duplicate, audience: &duplicateAudience, at: self.now)
        }
        #expect(throws: CoreError.self) {
            try Suggestion.merge(&duplicate, audience: &duplicateAudience, into: &third.0, audience: &third.1, at: self.now)
        }
        var copy = original
        var copyAudience = originalAudience
        #expect(throws: CoreError.self) {
            try Suggestion.merge(&original, audience: &originalAudience, into: &copy, audience: &copyAudience, at: self.now)
        }
    }

    @Test("Boards: a tenant's suggestions are hidden from other tenants; only the team moderates")
    func access() throws {
        let tenant = Tenant.ID()
        var (suggestion, _) = try self.suggestion()
        suggestion.tenantID = tenant
        let member = User(tenantID: tenant, email: "m@a.example", name: "M", role: .member, createdAt: self.now)
        let outsider = User(tenantID: Tenant.ID(), email: "o@b.example", name: "O", role: .tenantAdmin, createdAt: self.now)
        let agent = User(tenantID: Tenant.ID(), email: "a@h.example", name: "A", role: .agent, createdAt: self.now)
        #expect(throws: Never.self) { try AccessPolicy.requireVisibility(of: suggestion, to: member) }
        #expect(throws: Never.self) { try AccessPolicy.requireVisibility(of: suggestion, to: agent) }
        #expect { try AccessPolicy.requireVisibility(of: suggestion, to: outsider) } throws: { ($0 as? CoreError)?.kind == .notFound }
        suggestion.tenantID = nil
        #expect(throws: Never.self) { try AccessPolicy.requireVisibility(of: suggestion, to: outsider) }
        #expect(throws: CoreError.self) { try AccessPolicy.requireSuggestionModeration(by: member) }
        #expect(throws: Never.self) { try AccessPolicy.requireSuggestionModeration(by: agent) }
    }

    @Test("The repository counts concurrent votes once per user and lists the board by votes")
    func repository() async throws {
        let store = InMemorySupportStore()
        let repository = store.suggestions
        let (popular, popularAudience) = try self.suggestion("Popular")
        let (quiet, quietAudience) = try self.suggestion("Quiet")
        try await repository.create(quiet, audience: quietAudience)
        try await repository.create(popular, audience: popularAudience)
        let voters = (0..<5).map { _ in User.ID() }
        let now = self.now
        let counted = try await withThrowingTaskGroup(of: Bool.self) { group in
            for voter in voters + voters {
                group.addTask { try await repository.vote(suggestionID: popular.id, userID: voter, at: now).counted }
            }
            return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(counted == 5)
        #expect(try await repository.find(id: popular.id)?.votes == 5)
        #expect(try await repository.list(tenantID: nil, limit: 10, offset: 0).map(\.title) == ["Popular", "Quiet"])
        await #expect { try await repository.vote(suggestionID: Suggestion.ID(), userID: voters[0], at: now) } throws: {
            ($0 as? CoreError)?.kind == .notFound
        }
    }
}

@Suite("Suggestion board: property-based merges")
struct SuggestionPropertyTests {
    /// One step of a random history: user `user` votes for suggestion `target`, or suggestion `target` is merged
    /// into suggestion `other`.
    enum Step: CustomStringConvertible {
        case vote(user: Int, target: Int)
        case merge(target: Int, into: Int)

        var description: String {
            switch self {
            case .vote(let user, let target): "u\(user) votes s\(target)"
            case .merge(let target, let other): "merge s\(target) → s\(other)"
            }
        }
    }

    static let steps = zip(Gen.int(in: 0...3), Gen.int(in: 0..<8), Gen.int(in: 0..<6), Gen.int(in: 0..<6))
        .map { kind, user, target, other -> Step in
            kind == 0 ? .merge(target: target, into: other) : .vote(user: user, target: target)
        }
        .array(of: 0...60)

    @Test("After any votes and merges, each user counts at most once per surviving suggestion, and merges never add votes")
    func votesSurviveMerges() async {
        let users = (0..<8).map { _ in User.ID() }
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        await propertyCheck(count: 300, input: Self.steps) { steps in
            var suggestions = (0..<6).map { index in
                Suggestion(tenantID: nil, authorID: users[0], title: "s\(index)", body: "", createdAt: now)
            }
            var audiences = Array(repeating: SuggestionAudience(), count: 6)
            // Every vote that was ever counted, to check nobody's vote is lost by a merge.
            var everVoted: [Set<User.ID>] = Array(repeating: [], count: 6)
            for step in steps {
                let totalBefore = suggestions.filter { $0.mergedInto == nil }.map(\.votes).reduce(0, +)
                switch step {
                case .vote(let user, let target):
                    if (try? suggestions[target].vote(by: users[user], audience: &audiences[target], at: now)) == true {
                        everVoted[target].insert(users[user])
                    }
                case .merge(let target, let other):
                    var original = suggestions[other]
                    var originalAudience = audiences[other]
                    let merged = try? Suggestion.merge(
                        &suggestions[target], audience: &audiences[target], into: &original, audience: &originalAudience, at: now)
                    guard merged != nil else {
                        continue
                    }
                    suggestions[other] = original
                    audiences[other] = originalAudience
                    everVoted[other].formUnion(everVoted[target])
                    let totalAfter = suggestions.filter { $0.mergedInto == nil }.map(\.votes).reduce(0, +)
                    #expect(totalAfter <= totalBefore, "\(steps)")
                }
                for index in suggestions.indices {
                    let suggestion = suggestions[index]
                    if suggestion.mergedInto == nil {
                        // Votes are distinct users, exactly those who voted for it or for anything merged into it.
                        #expect(suggestion.votes == audiences[index].voters.count, "\(steps)")
                        #expect(audiences[index].voters == everVoted[index], "\(steps)")
                    } else {
                        #expect(suggestion.votes == 0 && audiences[index].voters.isEmpty, "\(steps)")
                        // Following `mergedInto` always ends at a surviving suggestion: no loops.
                        var target = suggestion
                        var hops = 0
                        while let next = target.mergedInto, hops <= suggestions.count {
                            target = suggestions.first { $0.id == next }!
                            hops += 1
                        }
                        #expect(target.mergedInto == nil, "\(steps)")
                    }
                }
            }
        }
    }
}
