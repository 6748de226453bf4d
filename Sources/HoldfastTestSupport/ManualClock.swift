import Foundation
import Synchronization

/// A clock that moves only when a test says so; pass `clock.now` where code wants the time.
public final class ManualClock: Sendable {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_795_000_000)) {
        self.current = Mutex(start)
    }

    /// The current instant; hand `{ clock.now() }` to code under test.
    public func now() -> Date {
        self.current.withLock { $0 }
    }

    public func advance(by seconds: TimeInterval) {
        self.current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}
