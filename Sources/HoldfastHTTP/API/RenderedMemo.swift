import Foundation
import Synchronization

/// What a rendered piece of a record shows: the record at one revision, and whatever else the
/// piece shows that the revision does not fix (the console's time left), if anything.
struct RecordVersion: Hashable, Sendable {
    var id: UUID
    var revision: Int
    var variant: String = ""
}

/// Rendered pieces of records (a ticket's JSON, a list's HTML rows, a whole page) kept by what
/// they show, so a list that is read again (an agent's console polling the queue) is copied, not
/// rendered anew.
///
/// An entry can never be stale as long as its key holds everything it shows: every change to a
/// ticket raises its revision (the store refuses a save that does not), so a changed record has a
/// new key, misses, and is rendered again; a page's key holds its rows' keys and the rest of what
/// it shows. Holds at most `capacity` pieces, then starts over.
final class RenderedMemo<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let capacity: Int
    private let kept = Mutex([Key: Value]())

    init(capacity: Int = 20_000) {
        self.capacity = capacity
    }

    /// The piece kept for `key`, or `render()`'s, kept.
    func value(for key: Key, render: () throws -> Value) rethrows -> Value {
        if let value = self.kept.withLock({ $0[key] }) { return value }
        let value = try render()
        self.keep(CollectionOfOne((key, value)))
        return value
    }

    /// The piece of each item, in order: kept ones as they are, the others rendered and kept.
    func values<Item>(_ items: [Item], key: (Item) -> Key, render: (Item) throws -> Value) rethrows -> [Value] {
        let keys = items.map(key)
        let known = self.kept.withLock { kept in keys.map { kept[$0] } }
        var fresh: [(Key, Value)] = []
        let values = try zip(items, known).enumerated().map { index, pair in
            if let value = pair.1 { return value }
            let value = try render(pair.0)
            fresh.append((keys[index], value))
            return value
        }
        self.keep(fresh)
        return values
    }

    /// Keeps freshly rendered pieces; past `capacity`, everything kept before goes.
    private func keep(_ fresh: some Collection<(Key, Value)>) {
        guard !fresh.isEmpty else { return }
        self.kept.withLock { kept in
            if kept.count + fresh.count > self.capacity { kept.removeAll(keepingCapacity: true) }
            for (key, value) in fresh { kept[key] = value }
        }
    }
}
