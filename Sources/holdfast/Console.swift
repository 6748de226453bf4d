import ArgumentParser
import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastStore
import Logging

/// Console plumbing shared by the subcommands: logging, and errors a person can act on.
enum Console {
    /// Logs go to stderr, so stdout carries only what scripts read (the address, credentials).
    static func logger(level: String) -> Logger {
        let level = Logger.Level(rawValue: level) ?? .info
        var logger = Logger(label: "holdfast") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = level
        return logger
    }

    /// Writes a line to stdout at once, unbuffered, so a supervisor reading a pipe sees the
    /// address and the credentials as soon as they exist.
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Runs `body`, turning our errors into a one-line message and exit status 1.
    static func parse<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw Self.failure(error)
        }
    }

    static func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw Self.failure(error)
        }
    }

    private static func failure(_ error: any Error) -> any Error {
        let message: String
        switch error {
        case let error as CoreError: message = error.message
        case let error as StoreError: message = error.description
        case let error as AppError: message = error.cause.map { "\(error.message) (\($0))" } ?? error.message
        case is ExitCode, is CleanExit: return error
        default: message = "\(error)"
        }
        return ValidationFailure(message: message)
    }
}

/// An error printed as `Error: message` with exit status 1.
struct ValidationFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { self.message }
}
