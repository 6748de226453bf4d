import Foundation
import HoldfastCore

/// Instants and windows shared by the status tests; every test states the times it relies on.
enum StatusFixture {
    /// Tuesday 2026-12-01 02:00 UTC (02:00 in London, GMT in winter).
    static let start = Date(timeIntervalSince1970: 1_796_083_200 + 2 * 3600)
    static let hour: TimeInterval = 3600
    static let day: TimeInterval = 86_400
    static let london = TimeZone(identifier: "Europe/London")!

    /// `start` moved by `hours` (negative is before).
    static func at(hours: Double) -> Date { self.start.addingTimeInterval(hours * self.hour) }

    /// A window scheduled at `createdAt` for `[startsAt, startsAt + length)`, checked by the real rules.
    static func schedule(
        title: String = "Kernel upgrade", details: String? = nil, startsAt: Date = start, length: TimeInterval = 2 * hour,
        components: Set<StatusComponent> = [.sessions], others: [MaintenanceWindow] = [], createdAt: Date = at(hours: -48)
    ) throws -> MaintenanceStateMachine {
        try MaintenanceStateMachine.schedule(
            title: title, details: details, startsAt: startsAt, endsAt: startsAt.addingTimeInterval(length), components: components,
            others: others, at: createdAt
        ).machine
    }

    /// The `CoreError` code of whatever `body` throws, or `nil` when it does not throw.
    static func code(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as CoreError {
            return error.code
        } catch {
            return "not a CoreError: \(error)"
        }
    }
}
