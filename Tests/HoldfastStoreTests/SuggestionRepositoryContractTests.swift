import Foundation
import HoldfastCore
import HoldfastStore
import Testing

/// The behaviour every suggestion repository must share.
///
/// Serialized: a PostgreSQL store opens up to nine connections, and the test cluster takes 100 in all.
@Suite("Suggestion repository contract", .serialized)
struct SuggestionRepositoryContractTests {
    /// A validated suggestion by `author`, created `minutes` after the start, stored with its audience.
    func submit(
        _ title: String, by author: User, tenant: Tenant.ID? = nil, at minutes: Int = 0, in repositories: Repositories
    ) async throws -> Suggestion {
        let (suggestion, audience) = try Suggestion.validated(
            title: title, body: "Please.", tenantID: tenant, authorID: author.id,
            at: SupportDesk.start.addingTimeInterval(TimeInterval(minutes * 60)))
        try await repositories.suggestions.create(suggestion, audience: audience)
        return suggestion
    }

    @Test(arguments: StoreKind.allCases)
    func aSuggestionRoundTripsWithItsAudience(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            var suggestion = Suggestion(
                tenantID: desk.acme.id, authorID: desk.cat.id, title: "Dark mode", body: "<b>please</b>", status: .planned, votes: 2,
                createdAt: SupportDesk.start)
            suggestion.updatedAt = SupportDesk.start.addingTimeInterval(30.5)
            let audience = SuggestionAudience(voters: [desk.cat.id, desk.col.id], subscribers: [desk.cat.id, desk.agent.id])
            try await repositories.suggestions.create(suggestion, audience: audience)
            #expect(try await repositories.suggestions.find(id: suggestion.id) == suggestion)
            #expect(try await repositories.suggestions.audience(of: suggestion.id) == audience)
            #expect(try await repositories.suggestions.find(id: Suggestion.ID()) == nil)
            #expect(try await repositories.suggestions.audience(of: Suggestion.ID()) == SuggestionAudience())
            await #expect {
                try await repositories.suggestions.create(suggestion, audience: SuggestionAudience())
            } throws: { isCoreError($0, "suggestion_exists") }
            #expect(try await repositories.suggestions.audience(of: suggestion.id) == audience)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aUserVotesOnceAndFollowsWhatTheyVotedFor(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let idea = try await self.submit("Dark mode", by: desk.cat, in: repositories)
            let later = SupportDesk.start.addingTimeInterval(60)
            let (afterFirst, counted) = try await repositories.suggestions.vote(suggestionID: idea.id, userID: desk.col.id, at: later)
            #expect(counted)
            #expect(afterFirst.votes == 1)
            #expect(afterFirst.updatedAt == later)
            let (afterSecond, countedAgain) = try await repositories.suggestions.vote(
                suggestionID: idea.id, userID: desk.col.id, at: later.addingTimeInterval(60))
            #expect(!countedAgain)
            #expect(afterSecond == afterFirst)
            #expect(try await repositories.suggestions.find(id: idea.id) == afterFirst)
            #expect(
                try await repositories.suggestions.audience(of: idea.id)
                    == SuggestionAudience(voters: [desk.col.id], subscribers: [desk.cat.id, desk.col.id]))

            await #expect {
                _ = try await repositories.suggestions.vote(suggestionID: Suggestion.ID(), userID: desk.col.id, at: later)
            } throws: { ($0 as? CoreError)?.kind == .notFound }
            var done = afterFirst
            _ = try done.changeStatus(to: .done, by: desk.agent.id, audience: SuggestionAudience(), at: later)
            try await repositories.suggestions.save([(done, try await repositories.suggestions.audience(of: idea.id))], outbox: [])
            await #expect {
                _ = try await repositories.suggestions.vote(suggestionID: idea.id, userID: desk.sam.id, at: later)
            } throws: { isCoreError($0, "suggestion_closed") }
            #expect(try await repositories.suggestions.find(id: idea.id)?.votes == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentVotesCountOncePerUser(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let voters = try await desk.users(6, in: repositories)
            let idea = try await self.submit("Dark mode", by: desk.cat, in: repositories)
            // Every voter clicks three times at once.
            let counted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for voter in voters + voters + voters {
                    group.addTask {
                        try await repositories.suggestions.vote(suggestionID: idea.id, userID: voter.id, at: SupportDesk.start + 60).counted
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(counted.filter { $0 }.count == voters.count)
            #expect(try await repositories.suggestions.find(id: idea.id)?.votes == voters.count)
            let audience = try await repositories.suggestions.audience(of: idea.id)
            #expect(audience.voters == Set(voters.map(\.id)))
            #expect(audience.subscribers == Set(voters.map(\.id) + [desk.cat.id]))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aMergeSavesBothSuggestionsTheirAudiencesAndTheMail(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let original = try await self.submit("Dark mode", by: desk.cat, at: 0, in: repositories)
            let duplicate = try await self.submit("Night theme", by: desk.col, at: 5, in: repositories)
            _ = try await repositories.suggestions.vote(suggestionID: original.id, userID: desk.sam.id, at: SupportDesk.start + 60)
            for voter in [desk.sam, desk.agent] {
                _ = try await repositories.suggestions.vote(suggestionID: duplicate.id, userID: voter.id, at: SupportDesk.start + 60)
            }
            var merged = try #require(try await repositories.suggestions.find(id: duplicate.id))
            var mergedAudience = try await repositories.suggestions.audience(of: duplicate.id)
            var target = try #require(try await repositories.suggestions.find(id: original.id))
            var targetAudience = try await repositories.suggestions.audience(of: original.id)
            let newFollowers = try Suggestion.merge(
                &merged, audience: &mergedAudience, into: &target, audience: &targetAudience, at: SupportDesk.start + 120)
            #expect(newFollowers == [desk.col.id, desk.agent.id])
            let mails = [desk.col, desk.agent].map { desk.mail(to: $0, "moved", kind: .suggestionStatusChanged) }
            try await repositories.suggestions.save([(merged, mergedAudience), (target, targetAudience)], outbox: mails)

            #expect(try await repositories.suggestions.find(id: duplicate.id) == merged)
            #expect(try await repositories.suggestions.find(id: duplicate.id)?.mergedInto == original.id)
            #expect(try await repositories.suggestions.audience(of: duplicate.id) == SuggestionAudience())
            #expect(try await repositories.suggestions.find(id: original.id) == target)
            #expect(target.votes == 2)
            #expect(
                try await repositories.suggestions.audience(of: original.id)
                    == SuggestionAudience(
                        voters: [desk.sam.id, desk.agent.id], subscribers: [desk.cat.id, desk.col.id, desk.sam.id, desk.agent.id]))
            #expect(try await repositories.pendingMail() == mails)
            // Nothing can be voted on the duplicate any more; the board shows the original only.
            await #expect {
                _ = try await repositories.suggestions.vote(suggestionID: duplicate.id, userID: desk.cat.id, at: SupportDesk.start + 180)
            } throws: { isCoreError($0, "suggestion_merged") }
            #expect(try await repositories.suggestions.list(tenantID: nil, limit: 10, offset: 0).map(\.id) == [original.id])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aSaveOfAnUnknownSuggestionWritesNothing(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            var known = try await self.submit("Dark mode", by: desk.cat, in: repositories)
            let audience = try await repositories.suggestions.audience(of: known.id)
            _ = try known.changeStatus(to: .planned, by: desk.agent.id, audience: audience, at: SupportDesk.start + 60)
            let ghost = Suggestion(tenantID: nil, authorID: desk.cat.id, title: "Ghost", body: "", createdAt: SupportDesk.start)
            await #expect {
                try await repositories.suggestions.save(
                    [(known, audience), (ghost, SuggestionAudience())], outbox: [desk.mail(to: desk.cat, "planned")])
            } throws: { ($0 as? CoreError)?.kind == .notFound }
            #expect(try await repositories.suggestions.find(id: known.id)?.status == .open)
            #expect(try await repositories.pendingMail().isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func theBoardIsScopedMostVotedFirstThenOldestAndPaged(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let voters = try await desk.users(3, in: repositories)
            let quiet = try await self.submit("Quiet", by: desk.cat, at: 0, in: repositories)
            let popular = try await self.submit("Popular", by: desk.cat, at: 1, in: repositories)
            let acmeOnly = try await self.submit("Acme only", by: desk.cat, tenant: desk.acme.id, at: 2, in: repositories)
            let globexOnly = try await self.submit("Globex only", by: desk.sam, tenant: desk.globex.id, at: 3, in: repositories)
            let alsoQuiet = try await self.submit("Also quiet", by: desk.cat, at: 4, in: repositories)
            for (suggestion, count) in [(popular, 3), (acmeOnly, 2), (globexOnly, 1)] {
                for voter in voters.prefix(count) {
                    _ = try await repositories.suggestions.vote(suggestionID: suggestion.id, userID: voter.id, at: SupportDesk.start + 600)
                }
            }
            #expect(
                try await repositories.suggestions.list(tenantID: desk.acme.id, limit: 10, offset: 0).map(\.title)
                    == ["Popular", "Acme only", "Quiet", "Also quiet"])
            #expect(
                try await repositories.suggestions.list(tenantID: desk.globex.id, limit: 10, offset: 0).map(\.title)
                    == ["Popular", "Globex only", "Quiet", "Also quiet"])
            #expect(
                try await repositories.suggestions.list(tenantID: nil, limit: 10, offset: 0).map(\.id) == [
                    popular.id, quiet.id, alsoQuiet.id,
                ])
            #expect(
                try await repositories.suggestions.list(tenantID: desk.acme.id, limit: 2, offset: 1).map(\.title) == ["Acme only", "Quiet"])
        }
    }
}
