import AsyncKit
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresKit
import SQLKit
import SQLiteKit

/// A pool of connections to SQLite or PostgreSQL with one SQL code path on top.
///
/// Repositories write their queries once with SQLKit's builders; the dialect renders them.
/// The pools lock internally, which is why this class may be shared across tasks.
public final class Database: @unchecked Sendable {
    private enum Pool {
        case sqlite(EventLoopGroupConnectionPool<SQLiteSource>)
        case postgres(EventLoopGroupConnectionPool<PostgresConnectionSource>)
    }

    public let location: DatabaseLocation
    private let pool: Pool
    private let logger: Logger
    /// SQLite's blocking calls run here, one thread per connection. sqlite-nio's busy handler
    /// retries without end; with fewer threads than connections, waiting writers could hold
    /// every thread while the transaction they wait for needs one to commit (seen with three
    /// concurrent writers on two cores).
    private let sqliteThreads: NIOThreadPool?
    /// Lets one SQLite write transaction of this process run at a time; the others wait here,
    /// asleep, instead of spinning in the busy handler. SQLite allows one writer anyway.
    private let writeGate = WriteGate()

    /// Opens a pool; no connection is made until the first query.
    public init(
        location: DatabaseLocation, logger: Logger, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        self.location = location
        self.logger = logger
        switch location {
        case .sqlite(let path):
            let perLoop = 2
            let loops = eventLoopGroup.makeIterator().reduce(0) { count, _ in count + 1 }
            let threads = NIOThreadPool(numberOfThreads: perLoop * loops)
            threads.start()
            self.sqliteThreads = threads
            self.pool = .sqlite(
                EventLoopGroupConnectionPool(
                    source: SQLiteSource(path: path, threadPool: threads),
                    maxConnectionsPerEventLoop: perLoop,
                    logger: logger,
                    on: eventLoopGroup
                )
            )
        case .postgres(let url):
            self.sqliteThreads = nil
            let configuration: SQLPostgresConfiguration
            do {
                configuration = try SQLPostgresConfiguration(url: url)
            } catch {
                throw StoreError.badLocation(location.description)
            }
            self.pool = .postgres(
                EventLoopGroupConnectionPool(
                    source: PostgresConnectionSource(sqlConfiguration: configuration),
                    maxConnectionsPerEventLoop: 4,
                    logger: logger,
                    on: eventLoopGroup
                )
            )
        }
    }

    /// Whether statements are rendered for SQLite (which needs `BEGIN IMMEDIATE`).
    var isSQLite: Bool {
        if case .sqlite = self.pool { return true }
        return false
    }

    /// Runs `body` on one connection taken from the pool.
    public func withConnection<T: Sendable>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        switch self.pool {
        case .sqlite(let pool):
            let connection = try await self.request(from: pool)
            defer { pool.releaseConnection(connection) }
            return try await body(connection.sql(queryLogLevel: .trace))
        case .postgres(let pool):
            let connection = try await self.request(from: pool)
            defer { pool.releaseConnection(connection) }
            return try await body(connection.sql(queryLogLevel: .trace))
        }
    }

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    ///
    /// SQLite transactions start `IMMEDIATE` so that two writers queue for the lock instead
    /// of failing with a deadlock when both try to upgrade from reading to writing.
    public func withTransaction<T: Sendable>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        let begin = self.isSQLite ? "BEGIN IMMEDIATE" : "BEGIN"
        if self.isSQLite {
            await self.writeGate.enter()
        }
        do {
            let result = try await self.transaction(begin: begin, body)
            if self.isSQLite { await self.writeGate.leave() }
            return result
        } catch {
            if self.isSQLite { await self.writeGate.leave() }
            throw error
        }
    }

    private func transaction<T: Sendable>(begin: String, _ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await self.withConnection { database in
            try await database.raw(SQLQueryString(begin)).run()
            do {
                let result = try await body(database)
                try await database.raw("COMMIT").run()
                return result
            } catch {
                try? await database.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    /// Closes every connection. Call once, after the last query.
    public func close() async {
        do {
            switch self.pool {
            case .sqlite(let pool): try await pool.shutdownAsync()
            case .postgres(let pool): try await pool.shutdownAsync()
            }
        } catch {
            self.logger.debug("closing the database pool failed", metadata: ["error": "\(error)"])
        }
        try? await self.sqliteThreads?.shutdownGracefully()
    }

    private func request<Source: ConnectionPoolSource>(
        from pool: EventLoopGroupConnectionPool<Source>
    ) async throws -> Source.Connection where Source.Connection: Sendable {
        do {
            return try await pool.requestConnection(logger: self.logger).get()
        } catch {
            throw StoreError(
                code: "database_unavailable",
                message: "Cannot connect to the database at \(self.location); check that it is running and reachable.",
                cause: error
            )
        }
    }
}

/// Opens SQLite connections tuned for a server with a CLI beside it.
///
/// WAL lets readers run while one writer writes, and lets `holdfast admin` change the data
/// while `holdfast serve` runs; sqlite-nio installs a busy handler that waits for the lock.
struct SQLiteSource: ConnectionPoolSource {
    let path: String
    let threadPool: NIOThreadPool

    func makeConnection(logger: Logger, on eventLoop: any EventLoop) -> EventLoopFuture<SQLiteConnection> {
        SQLiteConnection.open(storage: .file(path: self.path), threadPool: self.threadPool, logger: logger, on: eventLoop).flatMap {
            connection in
            let pragmas = ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON"]
            return pragmas.reduce(eventLoop.makeSucceededVoidFuture()) { future, pragma in
                future.flatMap { connection.query(pragma).map { _ in } }
            }.map { connection }.flatMapError { error in
                connection.close().flatMapThrowing { throw error }
            }
        }
    }
}

extension Database {
    /// Whether a trivial query succeeds now (for `/healthz`).
    public func isReachable() async -> Bool {
        do {
            return try await self.withConnection { sql in
                try await sql.raw("SELECT 1 AS one").first() != nil
            }
        } catch {
            return false
        }
    }
}

/// A first-come, first-served gate for one holder at a time, waited on without a thread.
actor WriteGate {
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func enter() async {
        guard self.held else {
            self.held = true
            return
        }
        await withCheckedContinuation { self.waiting.append($0) }
    }

    func leave() {
        if self.waiting.isEmpty {
            self.held = false
        } else {
            self.waiting.removeFirst().resume()
        }
    }
}
