import Foundation
import Logging
import ServiceLifecycle

/// A duty that must run on one node at a time (the mailer, retention, recovery drills, the SLA
/// and maintenance clocks…), run here only while this node holds its lease in the store.
///
/// Every node runs one of these per duty: each few seconds it claims the duty, and the claim
/// succeeds for the holder (which keeps it) or, once the holder's lease lapsed (it died, or lost
/// the database), for whoever asks first. A node that cannot renew stops the duty before its
/// lease could have lapsed, so two nodes never run it at once; a clean stop hands it over at once.
/// Failover takes at most one lease and one renewal period.
struct OnceOnly: Service, CustomStringConvertible {
    let duty: String
    let service: any Service
    let membership: NodeMembership
    let logger: Logger

    var description: String { "OnceOnly(\(self.duty))" }

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            if await self.claim() {
                await self.runWhileHeld()
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.membership.renewEvery) }
        }
    }

    private func claim() async -> Bool {
        do {
            return try await self.membership.claim(duty: self.duty)
        } catch {
            self.logger.warning("could not claim a once-only duty; trying again", metadata: ["duty": "\(self.duty)", "error": "\(error)"])
            return false
        }
    }

    /// A claim that fails with `RenewalTimedOut` when the store takes longer than `limit` (the
    /// claim itself is left to finish on its own: a hung query may not heed cancellation).
    private func claimWithin(_ limit: Duration) async throws -> Bool {
        let (outcomes, outcome) = AsyncStream.makeStream(of: Result<Bool, any Error>.self)
        Task {
            do {
                outcome.yield(.success(try await self.membership.claim(duty: self.duty)))
            } catch {
                outcome.yield(.failure(error))
            }
        }
        let timer = Task {
            try? await Task.sleep(for: limit)
            outcome.yield(.failure(RenewalTimedOut()))
        }
        defer { timer.cancel() }
        for await result in outcomes { return try result.get() }
        throw RenewalTimedOut()
    }

    private struct RenewalTimedOut: Error, CustomStringConvertible {
        var description: String { "the store did not answer the renewal in time" }
    }

    /// Runs the duty beside the renewals of its lease until one of them ends: the lease was lost
    /// (the duty is cancelled), the server is stopping (the duty stops gracefully, then the lease is
    /// handed over), or the duty ended by itself (claimed again at the next beat).
    private func runWhileHeld() async {
        self.logger.notice("this node runs a once-only duty", metadata: ["duty": "\(self.duty)"])
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await self.service.run()
                } catch {
                    self.logger.error("a once-only duty failed", metadata: ["duty": "\(self.duty)", "error": "\(error)"])
                }
                return false
            }
            group.addTask {
                let clock = ContinuousClock()
                // The lease as this node last renewed it, less a renewal period for safety.
                var safeUntil = clock.now.advanced(by: self.membership.lease - self.membership.renewEvery)
                while !Task.isShuttingDownGracefully, !Task.isCancelled {
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.membership.renewEvery) }
                    guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return false }
                    do {
                        // A renewal the store does not answer within a beat counts as failed: the duty
                        // must stop before its lease could lapse, however long the store hangs.
                        let started = clock.now
                        guard try await self.claimWithin(self.membership.renewEvery) else { return true }
                        safeUntil = started.advanced(by: self.membership.lease - self.membership.renewEvery)
                    } catch {
                        self.logger.warning(
                            "could not renew a once-only duty's lease", metadata: ["duty": "\(self.duty)", "error": "\(error)"])
                        if clock.now >= safeUntil { return true }
                    }
                }
                return false
            }
            let lost = await group.next() ?? false
            if lost {
                self.logger.notice("this node no longer holds a once-only duty; stopping it", metadata: ["duty": "\(self.duty)"])
            }
            // Stopping: the duty finishes gracefully. Lost, or the duty ended: the rest is cancelled.
            if lost || !Task.isShuttingDownGracefully { group.cancelAll() }
            await group.waitForAll()
        }
        if Task.isShuttingDownGracefully {
            await self.membership.release(duty: self.duty)
        }
    }
}
