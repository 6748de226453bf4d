import Foundation
import HoldfastCore
import Logging
import ServiceLifecycle

/// Applies each tenant's retention policy to its users' snapshots every `interval`
/// (`forget` by policy, then `prune`), so repositories do not grow without bound.
///
/// The newest snapshot of every user is always kept (a policy keeps at least the last one),
/// and a tenant whose repository is unreachable is simply tried again next time.
struct RetentionService: Service {
    let backups: WorkspaceBackups
    let repositories: Repositories
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
            await self.applyAll()
        }
    }

    func applyAll() async {
        do {
            for tenant in try await self.repositories.tenants.list() {
                let users = try await self.repositories.users.list(tenantID: tenant.id).map(\.id)
                do {
                    try await self.backups.applyRetention(tenant.retention ?? .standard, tenant: tenant.id, users: users)
                } catch {
                    self.logger.warning(
                        "could not apply the retention policy; will try again", metadata: ["tenant": "\(tenant.slug)", "error": "\(error)"])
                }
            }
        } catch {
            self.logger.error("could not list tenants for the retention policy", metadata: ["error": "\(error)"])
        }
    }
}
