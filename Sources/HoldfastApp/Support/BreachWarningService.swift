import Foundation
import HoldfastCore
import Logging
import ServiceLifecycle

/// Sweeps the ticket queue every `interval` for first responses that are due soon or overdue,
/// and mails the team (``SupportDesk/sendBreachWarnings(warnWithin:)``).
struct BreachWarningService: Service {
    let desk: SupportDesk
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
            do {
                try await self.desk.sendBreachWarnings()
            } catch {
                self.logger.warning("could not send breach warnings; will try again", metadata: ["error": "\(error)"])
            }
        }
    }
}
