import Foundation
import HoldfastCore
import Testing

/// Installation settings: absent until set, replaced whole, shared by every store client.
@Suite("Settings repository contract")
struct SettingsRepositoryContractTests {
    @Test(arguments: StoreKind.allCases)
    func aSettingIsAbsentUntilSetAndThenReplaced(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let now = Date(timeIntervalSince1970: 1_795_000_000)
            #expect(try await repositories.settings.value(for: SettingKey.supportCalendar) == nil)
            try await repositories.settings.set(#"{"a":1}"#, for: SettingKey.supportCalendar, at: now)
            #expect(try await repositories.settings.value(for: SettingKey.supportCalendar) == #"{"a":1}"#)
            try await repositories.settings.set(#"{"a":2}"#, for: SettingKey.supportCalendar, at: now.addingTimeInterval(60))
            #expect(try await repositories.settings.value(for: SettingKey.supportCalendar) == #"{"a":2}"#)
            #expect(try await repositories.settings.value(for: "other") == nil)
        }
    }
}
