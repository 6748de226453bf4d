import Foundation
import HoldfastCore

/// Keeps settings read for a moment, in front of the store: the support calendar is read by
/// every console poll, every ticket filed and every promise asked for.
///
/// Same rules as ``TicketListCache``: `set` empties the cache once it has ended, and a setting
/// is never older than `lifetime`, which bounds how late another server's change shows.
public final class SettingsCache: SettingsRepository {
    private let base: any SettingsRepository
    private let values: ReadCache<String, String?>

    public init(
        _ base: any SettingsRepository, lifetime: TimeInterval = 1, capacity: Int = 64, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.base = base
        self.values = ReadCache(lifetime: lifetime, capacity: capacity, now: now)
    }

    public var statistics: CacheStatistics {
        self.values.statistics
    }

    public func value(for key: String) async throws -> String? {
        let base = self.base
        return try await self.values.value(for: key) { try await base.value(for: key) }
    }

    public func set(_ value: String, for key: String, at now: Date) async throws {
        defer { self.values.removeAll() }
        try await self.base.set(value, for: key, at: now)
    }
}
