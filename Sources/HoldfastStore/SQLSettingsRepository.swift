import Foundation
import HoldfastCore
import SQLKit

/// Settings as rows of `(key, value, updated_at)`; a write replaces the row (upsert).
public struct SQLSettingsRepository: SettingsRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func value(for key: String) async throws -> String? {
        try await self.database.withConnection { sql in
            try await sql.select().column("value").from("settings").where("key", .equal, key).first()?
                .decode(column: "value", as: String.self)
        }
    }

    public func set(_ value: String, for key: String, at now: Date) async throws {
        try await self.database.withTransaction { sql in
            try await sql.insert(into: "settings")
                .columns("key", "value", "updated_at")
                .values(SQLBind(key), SQLBind(value), SQLBind(now.millisecondsSince1970))
                .onConflict(with: ["key"]) { $0.set(excludedValueOf: "value").set(excludedValueOf: "updated_at") }
                .run()
        }
    }
}
