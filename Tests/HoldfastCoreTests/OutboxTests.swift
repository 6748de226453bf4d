import Foundation
import HoldfastCore
import HoldfastTestSupport
import Testing

@Suite("Outbox: retry schedule and the in-memory repository")
struct OutboxTests {
    @Test("Backoff doubles from 30 seconds to at most an hour")
    func backoff() {
        let schedule = RetrySchedule()
        #expect((1...9).map(schedule.delay(afterAttempt:)) == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600])
        #expect(schedule.delay(afterAttempt: 1000) == 3600)
    }

    @Test("A message that keeps failing is retried for 48 hours and then given up")
    func givesUpAfter48Hours() throws {
        let start = try isoInstant("2026-11-30T10:00:00Z")
        var message = OutboxMessage(
            kind: .ticketReceived, to: MailAddress(address: "a@b.example"), subject: "s", body: "b", createdAt: start)
        let schedule = RetrySchedule()
        var now = start
        var attempts = 0
        while let next = schedule.nextAttempt(after: message, failedAt: now) {
            #expect(next > now)
            message.attempts += 1
            attempts += 1
            now = next
        }
        // 30 s … 1 h, then hourly: 8 growing attempts (~1.1 h) plus about 46 hourly ones.
        #expect((50...56).contains(attempts))
        #expect(now.timeIntervalSince(start) <= 48 * 3600)
        #expect(now.timeIntervalSince(start) > 47 * 3600)
    }

    @Test("Due messages come oldest first; sent and given-up ones never come back")
    func repository() async throws {
        let store = InMemorySupportStore()
        let outbox = store.outbox
        let start = try isoInstant("2026-11-30T10:00:00Z")
        let messages = (0..<3).map {
            OutboxMessage(
                kind: .ticketReceived, to: MailAddress(address: "a\($0)@b.example"), subject: "s", body: "b",
                createdAt: start.addingTimeInterval(TimeInterval($0)))
        }
        try await outbox.enqueue(messages.reversed())
        #expect(try await outbox.due(at: start, limit: 10).map(\.id) == [messages[0].id])
        #expect(try await outbox.due(at: start + 5, limit: 2).map(\.id) == [messages[0].id, messages[1].id])
        try await outbox.markSent(id: messages[0].id, at: start + 5)
        try await outbox.markFailed(id: messages[1].id, error: "connection refused", nextAttemptAt: start + 65, at: start + 5)
        try await outbox.markFailed(id: messages[2].id, error: "550 no such user", nextAttemptAt: nil, at: start + 5)
        #expect(try await outbox.due(at: start + 60, limit: 10).isEmpty)
        #expect(try await outbox.due(at: start + 65, limit: 10).map(\.id) == [messages[1].id])
        let failed = try #require(try await outbox.find(id: messages[2].id))
        #expect(failed.failedAt == start + 5 && failed.lastError == "550 no such user" && failed.attempts == 1)
        #expect(try await outbox.find(id: messages[0].id)?.sentAt == start + 5)
        await #expect(throws: CoreError.self) { try await outbox.enqueue([messages[0]]) }
    }
}
