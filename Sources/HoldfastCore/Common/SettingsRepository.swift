import Foundation
import Synchronization

/// Installation-wide settings the operators change at run time (the support calendar, …),
/// each a JSON document under a stable key. Shared by every server of an installation, which
/// is why they live in the store and not in a file.
public protocol SettingsRepository: Sendable {
    /// The stored document, or `nil` when the setting was never changed (the caller's default applies).
    func value(for key: String) async throws -> String?
    /// Stores the document, replacing the previous one.
    func set(_ value: String, for key: String, at now: Date) async throws
}

/// The keys in use, in one place.
public enum SettingKey {
    /// The support team's `BusinessCalendar`, as `GET /api/v1/support/calendar` shows it.
    public static let supportCalendar = "support.calendar"
    /// How the running server is configured, as far as the continuity plans and `holdfast drill`
    /// need to know: written by `holdfast serve` at start, read by the other commands.
    public static let deployment = "server.deployment"
}

extension SettingsRepository {
    /// The support team's calendar: the stored one, or Monday to Friday 09:00–17:00
    /// Europe/London until an operator sets one.
    public func supportCalendar() async throws -> BusinessCalendar {
        guard let stored = try await self.value(for: SettingKey.supportCalendar) else {
            return try BusinessCalendar.standard()
        }
        if let last = lastSupportCalendar.withLock({ $0 }), last.text == stored {
            return last.calendar
        }
        let calendar = try JSONDecoder().decode(BusinessCalendar.self, from: Data(stored.utf8))
        lastSupportCalendar.withLock { $0 = (stored, calendar) }
        return calendar
    }
}

/// The support calendar last decoded, with the text it came from: the console asks for it on
/// every poll, and decoding it (zone, hours, a year or two of holidays) costs more than reading it.
private let lastSupportCalendar = Mutex<(text: String, calendar: BusinessCalendar)?>(nil)
