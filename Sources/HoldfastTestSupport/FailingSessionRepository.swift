import Foundation
import HoldfastCore
import Synchronization

/// A session repository whose writes fail while it is "down", in front of a real one: the
/// database outage of the supervisor's fault tests. Reads pass through; so do writes once it is up.
public final class FailingSessionRepository: SessionRepository {
    private let wrapped: any SessionRepository
    private let state = Mutex((down: false, refused: 0, saves: [Int](), loseAnswers: 0))

    public init(wrapping wrapped: any SessionRepository) {
        self.wrapped = wrapped
    }

    /// Makes every write fail (`true`) or pass again (`false`).
    public func setDown(_ down: Bool) {
        self.state.withLock { $0.down = down }
    }

    /// Makes the next `count` saves commit and then fail, as a connection lost before the
    /// database's answer arrives does.
    public func loseAnswers(of count: Int) {
        self.state.withLock { $0.loseAnswers = count }
    }

    /// How many writes were refused while down.
    public var refused: Int { self.state.withLock { $0.refused } }

    /// The revisions of the sessions saved, in the order the saves committed.
    public var savedRevisions: [Int] { self.state.withLock { $0.saves } }

    private func write() throws {
        try self.state.withLock { state in
            guard !state.down else {
                state.refused += 1
                throw StoreDown()
            }
        }
    }

    public func create(_ session: Session, events: [SessionEvent]) async throws {
        try self.write()
        try await self.wrapped.create(session, events: events)
    }

    public func save(_ session: Session, events: [SessionEvent]) async throws {
        try self.write()
        try await self.wrapped.save(session, events: events)
        let lost = self.state.withLock { state in
            state.saves.append(session.revision)
            guard state.loseAnswers > 0 else { return false }
            state.loseAnswers -= 1
            return true
        }
        if lost { throw StoreDown() }
    }

    public func find(id: Session.ID) async throws -> Session? { try await self.wrapped.find(id: id) }
    public func list(userID: User.ID, includeClosed: Bool) async throws -> [Session] {
        try await self.wrapped.list(userID: userID, includeClosed: includeClosed)
    }
    public func newest(userID: User.ID, limit: Int) async throws -> [Session] {
        try await self.wrapped.newest(userID: userID, limit: limit)
    }
    public func listLive(tenantID: Tenant.ID) async throws -> [Session] { try await self.wrapped.listLive(tenantID: tenantID) }
    public func listLive() async throws -> [Session] { try await self.wrapped.listLive() }
    public func events(sessionID: Session.ID) async throws -> [SessionEvent] { try await self.wrapped.events(sessionID: sessionID) }

    public func createTicket(_ ticket: AttachTicket) async throws {
        try self.write()
        try await self.wrapped.createTicket(ticket)
    }

    public func redeemTicket(digest: String, now: Date) async throws -> AttachTicket? {
        try self.write()
        return try await self.wrapped.redeemTicket(digest: digest, now: now)
    }
}

/// The error of a store that is down.
public struct StoreDown: Error, CustomStringConvertible {
    public var description: String { "the database is unreachable (injected)" }
}
