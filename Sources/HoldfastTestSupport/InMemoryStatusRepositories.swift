import Foundation
import HoldfastCore
import Synchronization

struct InMemoryIncidentRepository: IncidentRepository {
    let store: InMemorySupportStore

    func save(_ incident: Incident, outbox: [OutboxMessage]) async throws {
        try self.store.state.withLock { state in
            var copy = state
            try copy.enqueue(outbox)
            copy.incidents[incident.id] = incident
            state = copy
        }
    }

    func find(id: Incident.ID) async throws -> Incident? {
        self.store.state.withLock { $0.incidents[id] }
    }

    func list(resolvedSince since: Date) async throws -> [Incident] {
        self.store.state.withLock { state in
            state.incidents.values.filter { $0.resolvedAt.map { $0 >= since } ?? true }
                .sorted { ($0.createdAt, $0.id.description) > ($1.createdAt, $1.id.description) }
        }
    }
}

struct InMemoryMaintenanceRepository: MaintenanceRepository {
    let store: InMemorySupportStore

    func save(_ window: MaintenanceWindow, outbox: [OutboxMessage]) async throws {
        try self.store.state.withLock { state in
            var copy = state
            try copy.enqueue(outbox)
            copy.windows[window.id] = window
            state = copy
        }
    }

    func find(id: MaintenanceWindow.ID) async throws -> MaintenanceWindow? {
        self.store.state.withLock { $0.windows[id] }
    }

    func list(endingSince since: Date) async throws -> [MaintenanceWindow] {
        self.store.state.withLock { state in
            state.windows.values.filter { $0.endsAt >= since }
                .sorted { ($0.startsAt, $0.id.description) < ($1.startsAt, $1.id.description) }
        }
    }
}

struct InMemoryUsageRepository: UsageRepository {
    let store: InMemorySupportStore

    static func key(_ tenantID: Tenant.ID?, _ hour: Date) -> String {
        "\(tenantID?.description ?? "")/\(hour.timeIntervalSince1970)"
    }

    func record(_ counts: [UsageCount], at minute: Date) async throws {
        let hour = UsageHour.start(of: minute)
        self.store.state.withLock { state in
            for count in counts {
                let key = Self.key(count.tenantID, hour)
                var row = state.usage[key] ?? UsageHour(tenantID: count.tenantID, hourStart: hour, sum: 0, minutes: 0)
                row.sum += count.activeSessions
                row.minutes += 1
                state.usage[key] = row
            }
        }
    }

    func hours(tenantID: Tenant.ID?, since: Date) async throws -> [UsageHour] {
        self.store.state.withLock { state in
            state.usage.values.filter { $0.tenantID == tenantID && $0.hourStart >= since }.sorted { $0.hourStart < $1.hourStart }
        }
    }

    func deleteHours(before cutoff: Date) async throws -> Int {
        self.store.state.withLock { state in
            let old = state.usage.filter { $0.value.hourStart < cutoff }.map(\.key)
            for key in old { state.usage[key] = nil }
            return old.count
        }
    }
}

struct InMemoryContinuityRepository: ContinuityRepository {
    let store: InMemorySupportStore

    func troubleshooters(tenantID: Tenant.ID) async throws -> [Troubleshooter] {
        self.store.state.withLock { $0.troubleshooters[tenantID] ?? [] }
    }

    func setTroubleshooters(_ list: [Troubleshooter], tenantID: Tenant.ID, at now: Date) async throws {
        self.store.state.withLock { $0.troubleshooters[tenantID] = list }
    }

    func latestPlan(tenantID: Tenant.ID, kind: ContinuityPlan.Kind) async throws -> StoredPlan? {
        try await self.planVersions(tenantID: tenantID, kind: kind).first
    }

    func plan(tenantID: Tenant.ID, kind: ContinuityPlan.Kind, version: Int) async throws -> StoredPlan? {
        try await self.planVersions(tenantID: tenantID, kind: kind).first { $0.plan.version == version }
    }

    func planVersions(tenantID: Tenant.ID, kind: ContinuityPlan.Kind) async throws -> [StoredPlan] {
        self.store.state.withLock { state in
            (state.plans[tenantID] ?? []).filter { $0.plan.kind == kind }.sorted { $0.plan.version > $1.plan.version }
        }
    }

    func savePlan(_ plan: ContinuityPlan, digest: String, tenantID: Tenant.ID) async throws {
        try self.store.state.withLock { state in
            let stored = state.plans[tenantID] ?? []
            guard !stored.contains(where: { $0.plan.kind == plan.kind && $0.plan.version == plan.version }) else {
                throw CoreError.conflict("plan_version_taken", "Version \(plan.version) of the \(plan.kind.title) exists already.")
            }
            state.plans[tenantID] = stored + [StoredPlan(plan: plan, digest: digest)]
        }
    }

    func record(_ drill: DrillResult, tenantID: Tenant.ID) async throws {
        self.store.state.withLock { $0.drills[tenantID, default: []].append(drill) }
    }

    func drills(tenantID: Tenant.ID, limit: Int) async throws -> [DrillResult] {
        self.store.state.withLock { state in
            Array((state.drills[tenantID] ?? []).sorted { $0.startedAt > $1.startedAt }.prefix(max(limit, 0)))
        }
    }
}
