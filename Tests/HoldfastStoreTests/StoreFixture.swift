import Foundation
import HoldfastCore
import HoldfastStore
import HoldfastTestSupport
import Logging
import SQLKit
import Testing

/// The implementations every repository contract test runs against.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case inMemory, sqlite, postgres

    var testDescription: String { self.rawValue }

    /// The SQL kinds only (for schema and concurrency tests).
    static let sql: [StoreKind] = [.sqlite, .postgres]
}

/// Opens a fresh, empty store of `kind`, runs `body`, and throws it away.
///
/// PostgreSQL tests need `HOLDFAST_TEST_POSTGRES_URL` (set by `make test`, which starts a
/// throwaway cluster); each test gets its own database in it. A missing URL fails the test
/// rather than skipping it: a contract that was never checked is not a pass.
func withStore<T>(_ kind: StoreKind, _ body: (Repositories, Database?) async throws -> T) async throws -> T {
    let logger = Logger(label: "test")
    switch kind {
    case .inMemory:
        return try await body(InMemoryStore().repositories, nil)
    case .sqlite:
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("holdfast-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try Database(location: .sqlite(path: directory.appendingPathComponent("test.sqlite").path), logger: logger)
        return try await run(database, body)
    case .postgres:
        let url = try postgresURL()
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try Database(location: .postgres(url: url), logger: logger)
        try await admin.withConnection { try await $0.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
        let database = try Database(location: .postgres(url: try replacingDatabase(in: url, with: name)), logger: logger)
        let result: Result<T, any Error>
        do {
            result = .success(try await run(database, body))
        } catch {
            result = .failure(error)
        }
        try? await admin.withConnection { try await $0.raw("DROP DATABASE IF EXISTS \(unsafeRaw: name) WITH (FORCE)").run() }
        await admin.close()
        return try result.get()
    }
}

private func run<T>(_ database: Database, _ body: (Repositories, Database?) async throws -> T) async throws -> T {
    do {
        try await database.migrate()
        let result = try await body(.sql(database), database)
        await database.close()
        return result
    } catch {
        await database.close()
        throw error
    }
}

func postgresURL() throws -> String {
    guard let url = ProcessInfo.processInfo.environment["HOLDFAST_TEST_POSTGRES_URL"], !url.isEmpty else {
        throw MissingPostgres()
    }
    return url
}

struct MissingPostgres: Error, CustomStringConvertible {
    var description: String {
        "HOLDFAST_TEST_POSTGRES_URL is not set: run the tests with `make test`, or `scripts/pg-cluster.sh run -- swift test --skip-build`."
    }
}

private func replacingDatabase(in url: String, with name: String) throws -> String {
    guard var components = URLComponents(string: url) else { throw CancellationError() }
    components.path = "/" + name
    return components.string ?? url
}

/// Opens a fresh database of a SQL `kind` with no schema at all, runs `body`, and throws it away (for
/// migration tests, which build an older schema first).
func withEmptyDatabase<T>(_ kind: StoreKind, _ body: (Database) async throws -> T) async throws -> T {
    precondition(kind != .inMemory, "an in-memory store has no schema")
    // withStore migrates its database; roll the schema back to nothing by opening a second one beside it.
    return try await withStore(kind) { _, database in
        let logger = Logger(label: "test")
        switch database!.location {
        case .sqlite(let path):
            // In withStore's directory, which goes with it.
            return try await closing(try Database(location: .sqlite(path: path + ".empty"), logger: logger), body)
        case .postgres(let url):
            let name = "e_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            try await database!.withConnection { try await $0.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
            let empty = try Database(location: .postgres(url: try replacingDatabase(in: url, with: name)), logger: logger)
            let result: Result<T, any Error>
            do {
                result = .success(try await closing(empty, body))
            } catch {
                result = .failure(error)
            }
            try? await database!.withConnection { try await $0.raw("DROP DATABASE IF EXISTS \(unsafeRaw: name) WITH (FORCE)").run() }
            return try result.get()
        }
    }
}

private func closing<T>(_ database: Database, _ body: (Database) async throws -> T) async throws -> T {
    do {
        let result = try await body(database)
        await database.close()
        return result
    } catch {
        await database.close()
        throw error
    }
}
