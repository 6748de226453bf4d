import Foundation
import Synchronization

/// A calendar's business time read like a clock: the business milliseconds from a fixed anchor to
/// an instant. The business time between two instants is the difference of their readings, since
/// business time adds up (the open time from `a` to `c` is that from `a` to `b` plus that from `b`
/// to `c`).
///
/// The agent console asks for the time left of fifty tickets on every poll. A ticket's due date
/// reads the same for as long as the calendar stays, so its reading is kept (`keep: true`), and a
/// poll costs one calendar walk (to `now`) and fifty look-ups instead of fifty walks.
///
/// Readings are whole milliseconds, so their differences are exact integers; they agree with
/// ``BusinessCalendar/businessTime(between:and:pauses:)`` to within a millisecond.
public final class BusinessClock: Sendable {
    public let calendar: BusinessCalendar
    /// The instant that reads 0.
    public let anchor: Date
    private let capacity: Int
    private let kept = Mutex([Date: Int64]())

    /// - Parameter capacity: how many readings are kept at most; past that they start over.
    public init(calendar: BusinessCalendar, anchor: Date, capacity: Int = 100_000) {
        self.calendar = calendar
        self.anchor = anchor
        self.capacity = capacity
    }

    /// Business milliseconds from the anchor to `instant`, negative before it. `keep` keeps the
    /// reading for the next call: for instants asked about again and again (due dates), not `now`.
    public func reading(at instant: Date, keep: Bool = false) throws(CalendarError) -> Int64 {
        if keep, let reading = self.kept.withLock({ $0[instant] }) { return reading }
        let seconds = try self.calendar.businessTime(between: self.anchor, and: instant)
        let reading = Int64((seconds * 1_000).rounded())
        if keep {
            self.kept.withLock { kept in
                if kept.count >= self.capacity { kept.removeAll(keepingCapacity: true) }
                kept[instant] = reading
            }
        }
        return reading
    }
}
