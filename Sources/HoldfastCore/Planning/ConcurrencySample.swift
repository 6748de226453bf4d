import Foundation

/// How many sessions of one tenant were active at one instant: the server's once-a-minute reading that the
/// quiet-window planner learns from.
public struct ConcurrencySample: Sendable, Codable, Hashable {
    public var at: Date
    public var activeSessions: Int

    public init(at: Date, activeSessions: Int) {
        self.at = at
        self.activeSessions = activeSessions
    }
}
