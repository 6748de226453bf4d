import Foundation
import HoldfastCore

/// Keeps tenants read by id for a moment, in front of the store: every portal page shows the
/// signed-in user's tenant in its header.
///
/// Same rules as ``TicketListCache``: `create` and `update` empty the cache once they have
/// ended, and a tenant is never older than `lifetime`, which bounds how late a rename by another
/// server shows. Reads by slug and the full list go straight to the store.
public final class TenantCache: TenantRepository {
    private let base: any TenantRepository
    private let tenants: ReadCache<Tenant.ID, Tenant?>

    public init(
        _ base: any TenantRepository, lifetime: TimeInterval = 1, capacity: Int = 4_096,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.base = base
        self.tenants = ReadCache(lifetime: lifetime, capacity: capacity, now: now)
    }

    public var statistics: CacheStatistics {
        self.tenants.statistics
    }

    public func find(id: Tenant.ID) async throws -> Tenant? {
        let base = self.base
        return try await self.tenants.value(for: id) { try await base.find(id: id) }
    }

    public func create(_ tenant: Tenant) async throws {
        defer { self.tenants.removeAll() }
        try await self.base.create(tenant)
    }

    public func update(_ tenant: Tenant) async throws {
        defer { self.tenants.removeAll() }
        try await self.base.update(tenant)
    }

    public func find(slug: String) async throws -> Tenant? {
        try await self.base.find(slug: slug)
    }

    public func list() async throws -> [Tenant] {
        try await self.base.list()
    }
}
