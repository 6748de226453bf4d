import Foundation
import Glibc
import HoldfastCore

/// An exclusive `flock` on a file, held while a repository is created, so that concurrent first
/// backups of one tenant — in this server or in another process on the same data — create it once.
enum InitialisationLock {
    /// Runs `body` holding the lock on `path` (created 0600 if needed), polling every 50 ms while
    /// another holder has it: a blocking `flock` would tie up a thread of the cooperative pool.
    static func holding<Result: Sendable>(
        _ path: String, _ body: () async throws(CoreError) -> Result
    ) async throws(CoreError) -> Result {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CoreError(
                .unavailable, code: "backup_lock_failed",
                message: "Could not open \(path) to create the tenant's backup repository (errno \(errno)); check the secrets folder.")
        }
        defer { close(descriptor) }  // closing releases the lock
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw CoreError(.unavailable, code: "backup_lock_failed", message: "Could not lock \(path) (errno \(errno)).")
            }
            do {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                throw CoreError(.unavailable, code: "backup_lock_failed", message: "Gave up waiting for \(path): the task was cancelled.")
            }
        }
        return try await body()
    }
}
