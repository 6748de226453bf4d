import Foundation
import HoldfastCore
import NIOConcurrencyHelpers

/// Something the server tells the people in one session, such as a limit the session hit.
public struct SessionNotice: Sendable, Hashable, Encodable {
    /// A stable word clients may switch on, e.g. `memory_limit`, `process_limit`.
    public var code: String
    /// What happened and what to do, in words.
    public var message: String
    public var at: Date

    public init(code: String, message: String, at: Date) {
        self.code = code
        self.message = message
        self.at = at
    }
}

/// The latest notices of each session, numbered, for the terminal gateway to pass on.
///
/// Like `SessionBanners`, a shared box the app writes and every gateway connection reads each
/// second: a connection sends the notices numbered after the last one it sent, so every attached
/// client sees each notice once, and a client that attaches later is not shown old ones.
public final class SessionNotices: Sendable {
    /// How many notices a session keeps; older ones are dropped (a client more than this many
    /// behind misses some, which is better than an unbounded list for a session that keeps
    /// hitting its limit).
    static let kept = 16

    private struct Queue {
        var last = 0
        var notices: [(number: Int, notice: SessionNotice)] = []
    }

    private let state = NIOLockedValueBox<[Session.ID: Queue]>([:])

    public init() {}

    /// Adds a notice for every client attached to the session now.
    public func post(_ notice: SessionNotice, to id: Session.ID) {
        self.state.withLockedValue { state in
            var queue = state[id] ?? Queue()
            queue.last += 1
            queue.notices.append((queue.last, notice))
            queue.notices.removeFirst(max(0, queue.notices.count - Self.kept))
            state[id] = queue
        }
    }

    /// The number of the session's latest notice (0 when there is none): where a new client starts.
    public func latest(for id: Session.ID) -> Int {
        self.state.withLockedValue { $0[id]?.last ?? 0 }
    }

    /// The notices numbered after `number`, and the number of the latest.
    public func notices(for id: Session.ID, after number: Int) -> (notices: [SessionNotice], latest: Int) {
        self.state.withLockedValue { state in
            guard let queue = state[id] else { return ([], number) }
            return (queue.notices.filter { $0.number > number }.map(\.notice), queue.last)
        }
    }

    /// Drops a session's notices (it closed).
    public func forget(_ id: Session.ID) {
        _ = self.state.withLockedValue { $0.removeValue(forKey: id) }
    }
}
