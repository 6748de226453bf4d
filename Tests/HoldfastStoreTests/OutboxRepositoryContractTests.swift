import Foundation
import HoldfastCore
import HoldfastStore
import Testing

/// The behaviour every outbox must share, as the mailer service uses it.
///
/// Serialized: a PostgreSQL store opens up to nine connections, and the test cluster takes 100 in all.
@Suite("Outbox repository contract", .serialized)
struct OutboxRepositoryContractTests {
    @Test(arguments: StoreKind.allCases)
    func dueMessagesAreTheUnsentOnesOldestFirstUpToTheLimit(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let late = desk.mail(to: desk.cat, "late", at: 30)
            let early = desk.mail(to: desk.col, "early", at: 10)
            let middle = desk.mail(to: desk.sam, "middle", at: 20)
            let future = desk.mail(to: desk.cat, "future", at: 90)
            try await repositories.outbox.enqueue([late, early])
            try await repositories.outbox.enqueue([middle, future])

            let at = { (minutes: Int) in SupportDesk.start.addingTimeInterval(TimeInterval(minutes * 60)) }
            #expect(try await repositories.outbox.due(at: at(60), limit: 10) == [early, middle, late])
            #expect(try await repositories.outbox.due(at: at(60), limit: 2) == [early, middle])
            #expect(try await repositories.outbox.due(at: at(20), limit: 10) == [early, middle])
            #expect(try await repositories.outbox.due(at: at(5), limit: 10).isEmpty)
            #expect(try await repositories.outbox.due(at: at(90), limit: 10).last == future)
            #expect(try await repositories.outbox.find(id: middle.id) == middle)
            #expect(try await repositories.outbox.find(id: OutboxMessage.ID()) == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func attemptsAreRecordedRetriedAndGivenUp(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let sent = desk.mail(to: desk.cat, "sent", at: 0)
            let retried = desk.mail(to: desk.col, "retried", at: 1)
            let abandoned = desk.mail(to: desk.sam, "abandoned", at: 2)
            try await repositories.outbox.enqueue([sent, retried, abandoned])
            let now = SupportDesk.start.addingTimeInterval(300)
            let schedule = RetrySchedule()

            try await repositories.outbox.markSent(id: sent.id, at: now)
            let next = try #require(schedule.nextAttempt(after: retried, failedAt: now))
            try await repositories.outbox.markFailed(id: retried.id, error: "421 try later", nextAttemptAt: next, at: now)
            try await repositories.outbox.markFailed(id: abandoned.id, error: "550 no such user", nextAttemptAt: nil, at: now)

            let stored = try #require(try await repositories.outbox.find(id: sent.id))
            #expect(stored.sentAt == now)
            #expect(stored.attempts == 1)
            let again = try #require(try await repositories.outbox.find(id: retried.id))
            #expect(again.attempts == 1)
            #expect(again.nextAttemptAt == next)
            #expect(again.lastError == "421 try later")
            #expect(again.sentAt == nil && again.failedAt == nil)
            let gone = try #require(try await repositories.outbox.find(id: abandoned.id))
            #expect(gone.failedAt == now)
            #expect(gone.attempts == 1)
            #expect(gone.lastError == "550 no such user")

            #expect(try await repositories.outbox.due(at: now, limit: 10).isEmpty)
            #expect(try await repositories.outbox.due(at: next, limit: 10) == [again])
            #expect(try await repositories.outbox.due(at: .distantFuture, limit: 10) == [again])

            // A second failure counts a second attempt.
            try await repositories.outbox.markFailed(id: retried.id, error: "421 still", nextAttemptAt: next + 60, at: next)
            #expect(try await repositories.outbox.find(id: retried.id)?.attempts == 2)

            await #expect {
                try await repositories.outbox.markSent(id: OutboxMessage.ID(), at: now)
            } throws: { ($0 as? CoreError)?.kind == .notFound }
            await #expect {
                try await repositories.outbox.markFailed(id: OutboxMessage.ID(), error: "x", nextAttemptAt: nil, at: now)
            } throws: { ($0 as? CoreError)?.kind == .notFound }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aBatchWithAStoredIDIsRefusedWhole(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let first = desk.mail(to: desk.cat, "first")
            try await repositories.outbox.enqueue([first])
            let fresh = desk.mail(to: desk.col, "fresh")
            await #expect {
                try await repositories.outbox.enqueue([fresh, first])
            } throws: { isCoreError($0, "outbox_message_exists") }
            #expect(try await repositories.pendingMail() == [first])
            #expect(try await repositories.outbox.find(id: fresh.id) == nil)
        }
    }
}
