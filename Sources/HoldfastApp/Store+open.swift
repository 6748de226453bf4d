import Foundation
import HoldfastCore
import HoldfastHTTP
import HoldfastStore
import Logging

/// Opens the configured database, creating the data directory for SQLite and applying
/// migrations, so every command works on a fresh installation.
func openDatabase(_ configuration: HoldfastConfiguration, logger: Logger) async throws -> Database {
    try DataDirectory.prepare(configuration.dataDirectory)
    let database = try Database(location: configuration.resolvedDatabase, logger: logger)
    do {
        let applied = try await database.migrate()
        if !applied.isEmpty {
            logger.info("database schema updated", metadata: ["versions": "\(applied)", "database": "\(database.location)"])
        }
        return database
    } catch {
        await database.close()
        throw error
    }
}

/// Runs `body` with the account chores over the configured store, then closes it.
/// Used by the `holdfast admin` commands.
public func withOpenStore<T: Sendable>(
    _ configuration: HoldfastConfiguration,
    logger: Logger,
    now: @escaping @Sendable () -> Date = { Date() },
    _ body: (Accounts, Database) async throws -> T
) async throws -> T {
    let database = try await openDatabase(configuration, logger: logger)
    let repositories = Repositories.sql(database)
    let accounts = Accounts(
        repositories: repositories,
        authenticator: Authenticator(configuration: configuration.authentication, repositories: repositories, now: now),
        now: now
    )
    do {
        let result = try await body(accounts, database)
        await database.close()
        return result
    } catch {
        await database.close()
        throw error
    }
}
