import Foundation
import Synchronization

/// Hits and misses of a ``ReadCache`` so far.
public struct CacheStatistics: Sendable, Equatable {
    public var hits = 0
    public var misses = 0

    public init(hits: Int = 0, misses: Int = 0) {
        self.hits = hits
        self.misses = misses
    }
}

/// Store reads kept for a moment, for the repositories' caches (``TicketListCache``,
/// ``SessionListCache``, ``TenantCache``, ``SettingsCache``).
///
/// A value is served from memory while it is younger than `lifetime` and ``removeAll()`` was not
/// called since it was read; the repositories call it after each of their writes, committed or
/// not, so a value read before (or during) a write is never served after it. Concurrent misses
/// of one key share a single read; a failed read is not kept. A `lifetime` of zero turns the
/// cache off: every call reads.
///
/// Holds at most `capacity` values: past that the expired ones are dropped, or all of them.
final class ReadCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        var readAt: Date
        var value: Task<Value, any Error>
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var statistics = CacheStatistics()
    }

    private let lifetime: TimeInterval
    private let capacity: Int
    private let now: @Sendable () -> Date
    private let state = Mutex(State())

    init(lifetime: TimeInterval, capacity: Int, now: @escaping @Sendable () -> Date) {
        self.lifetime = lifetime
        self.capacity = capacity
        self.now = now
    }

    var statistics: CacheStatistics {
        self.state.withLock { $0.statistics }
    }

    /// The value kept for `key`, or the result of `read`, kept.
    func value(for key: Key, read: @escaping @Sendable () async throws -> Value) async throws -> Value {
        guard self.lifetime > 0 else {
            return try await read()
        }
        let now = self.now()
        let task = self.state.withLock { state -> Task<Value, any Error> in
            if let entry = state.entries[key], now >= entry.readAt, now.timeIntervalSince(entry.readAt) < self.lifetime {
                state.statistics.hits += 1
                return entry.value
            }
            state.statistics.misses += 1
            if state.entries.count >= self.capacity {
                state.entries = state.entries.filter { now.timeIntervalSince($0.value.readAt) < self.lifetime }
                if state.entries.count >= self.capacity {
                    state.entries.removeAll(keepingCapacity: true)
                }
            }
            let task = Task { try await read() }
            state.entries[key] = Entry(readAt: now, value: task)
            return task
        }
        do {
            return try await task.value
        } catch {
            // A failed read is not kept: the next caller tries the store again.
            self.state.withLock { state in
                if state.entries[key]?.readAt == now { state.entries[key] = nil }
            }
            throw error
        }
    }

    /// Forgets every value.
    func removeAll() {
        self.state.withLock { $0.entries.removeAll(keepingCapacity: true) }
    }
}
