import Foundation
import HoldfastCore
import Testing

/// The bounds of a tenant's sessions: what a host allows, who may change them, and how a hit reads.
@Suite("Session limits")
struct SessionLimitsTests {
    let now = Date(timeIntervalSince1970: 1_795_000_000)
    /// A host like the CI machine: 23,000 MiB of memory, pid_max 32,768, 78 GiB of disk.
    let host = HostCapacity(memoryMiB: 23_000, pids: 32_768, diskGiB: 78)

    /// One tenant for the whole test: its admins are known by its id.
    let tenant = Tenant(name: "Acme", slug: "acme", createdAt: Date(timeIntervalSince1970: 1_795_000_000))

    func user(_ role: Role, of tenant: Tenant) -> User {
        User(tenantID: tenant.id, email: "\(role.rawValue)@acme.test", name: "X", role: role, createdAt: self.now)
    }

    @Test func aTenantWithoutSettingsHasTheStandardOnes() {
        #expect(self.tenant.effectiveLimits == .standard)
        #expect(self.tenant.effectiveNetwork == .internet)
        var tenant = self.tenant
        tenant.network = NetworkAccess.none
        tenant.limits = SessionLimits(memoryMiB: 512, pids: 64, cpuWeight: 50, diskGiB: 2, sessionsPerUser: 1, clientsPerSession: 1)
        #expect(tenant.effectiveNetwork == NetworkAccess.none)
        #expect(tenant.effectiveLimits.memoryMiB == 512)
    }

    @Test func theStandardLimitsFitAnOrdinaryHost() throws {
        try SessionLimits.standard.validate(against: self.host)
    }

    @Test(arguments: [
        ("memoryMiB", -1, "memoryMiB must be 64 to 23,000 (this host's memory)"),
        ("memoryMiB", 0, "memoryMiB must be 64 to 23,000 (this host's memory)"),
        ("memoryMiB", 23_001, "memoryMiB must be 64 to 23,000 (this host's memory)"),
        ("pids", 15, "pids must be 16 to 32,768 (this host's pid_max)"),
        ("pids", 40_000, "pids must be 16 to 32,768 (this host's pid_max)"),
        ("cpuWeight", 0, "cpuWeight must be 1 to 10,000"),
        ("cpuWeight", 10_001, "cpuWeight must be 1 to 10,000"),
        ("diskGiB", 79, "diskGiB must be 1 to 78 (this host's disk for workspaces)"),
        ("sessionsPerUser", 0, "sessionsPerUser must be 1 to 100"),
        ("sessionsPerUser", 1_000_000, "sessionsPerUser must be 1 to 100"),
        ("clientsPerSession", 65, "clientsPerSession must be 1 to 64"),
        ("clientsPerSession", Int.min, "clientsPerSession must be 1 to 64"),
    ])
    func aLimitOutOfRangeNamesTheFieldTheRangeAndTheHostsFigure(field: String, value: Int, message: String) {
        var limits = SessionLimits.standard
        limits[field: field] = value
        let error = #expect(throws: CoreError.self) { try limits.validate(against: self.host) }
        #expect(error?.kind == .invalidInput)
        #expect(error?.code == "invalid_limits")
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test func theBoundsThemselvesAreAllowed() throws {
        try SessionLimits(memoryMiB: 64, pids: 16, cpuWeight: 1, diskGiB: 1, sessionsPerUser: 1, clientsPerSession: 1)
            .validate(against: self.host)
        try SessionLimits(memoryMiB: 23_000, pids: 32_768, cpuWeight: 10_000, diskGiB: 78, sessionsPerUser: 100, clientsPerSession: 64)
            .validate(against: self.host)
    }

    @Test func aHostWithAHugePidMaxStillCapsASessionAtOneHundredThousand() throws {
        let big = HostCapacity(memoryMiB: 1_000_000, pids: 4_194_304, diskGiB: 10_000)
        var limits = SessionLimits.standard
        limits.pids = 100_000
        try limits.validate(against: big)
        limits.pids = 100_001
        let error = #expect(throws: CoreError.self) { try limits.validate(against: big) }
        #expect(error?.message.contains("pids must be 16 to 100,000 (the most one session may run)") == true)
    }

    @Test func everyFieldOutOfRangeIsNamedInOneMessage() {
        let limits = SessionLimits(memoryMiB: -5, pids: 512, cpuWeight: 0, diskGiB: 10, sessionsPerUser: 5, clientsPerSession: 4)
        let error = #expect(throws: CoreError.self) { try limits.validate(against: self.host) }
        #expect(error?.message.contains("memoryMiB") == true)
        #expect(error?.message.contains("cpuWeight") == true)
        #expect(error?.message.contains("pids") == false)
    }

    @Test func anOperatorMayRaiseUpToTheHostAndResetToStandard() throws {
        let tenant = self.tenant
        let operatorUser = User(tenantID: Tenant.ID(), email: "op@holdfast.test", name: "Op", role: .operator, createdAt: self.now)
        let raised = try tenant.applying(
            TenantLimitsChange(network: .value(NetworkAccess.none), limits: .value(["memoryMiB": 8_192, "sessionsPerUser": 20])),
            capacity: self.host, by: operatorUser)
        #expect(raised.effectiveNetwork == NetworkAccess.none)
        #expect(raised.effectiveLimits.memoryMiB == 8_192)
        #expect(raised.effectiveLimits.sessionsPerUser == 20)
        #expect(raised.effectiveLimits.pids == SessionLimits.standard.pids)

        let reset = try raised.applying(TenantLimitsChange(network: .standard, limits: .standard), capacity: self.host, by: operatorUser)
        #expect(reset.limits == nil)
        #expect(reset.network == nil)

        let tooMuch = #expect(throws: CoreError.self) {
            try tenant.applying(TenantLimitsChange(limits: .value(["memoryMiB": 23_001])), capacity: self.host, by: operatorUser)
        }
        #expect(tooMuch?.code == "invalid_limits")
    }

    @Test func anUnknownLimitIsRefusedRatherThanIgnored() {
        let operatorUser = User(tenantID: Tenant.ID(), email: "op@holdfast.test", name: "Op", role: .operator, createdAt: self.now)
        let error = #expect(throws: CoreError.self) {
            try self.tenant.applying(TenantLimitsChange(limits: .value(["memoryMB": 512])), capacity: self.host, by: operatorUser)
        }
        #expect(error?.code == "invalid_limits")
        #expect(error?.message.contains("'memoryMB'") == true)
    }

    @Test func aTenantAdminMayOnlyLower() throws {
        let tenant = self.tenant
        let admin = self.user(.tenantAdmin, of: tenant)
        let lowered = try tenant.applying(
            TenantLimitsChange(network: .value(NetworkAccess.none), limits: .value(["pids": 256, "clientsPerSession": 2])),
            capacity: self.host, by: admin)
        #expect(lowered.effectiveLimits.pids == 256)
        #expect(lowered.effectiveNetwork == NetworkAccess.none)

        let raise = #expect(throws: CoreError.self) {
            try lowered.applying(TenantLimitsChange(limits: .value(["pids": 300, "memoryMiB": 1_024])), capacity: self.host, by: admin)
        }
        #expect(raise?.kind == .forbidden)
        #expect(raise?.message.contains("pids from 256 to 300") == true, "\(raise?.message ?? "")")
        #expect(raise?.message.contains("memoryMiB") == false)

        // Back to the standard limits or to the internet is a raise too.
        #expect(throws: CoreError.self) { try lowered.applying(TenantLimitsChange(limits: .standard), capacity: self.host, by: admin) }
        let internet = #expect(throws: CoreError.self) {
            try lowered.applying(TenantLimitsChange(network: .value(.internet)), capacity: self.host, by: admin)
        }
        #expect(internet?.message.contains("network from none to internet") == true)
        // Restating what is in force is not a raise.
        _ = try tenant.applying(
            TenantLimitsChange(network: .value(.internet), limits: .value(["pids": 512])), capacity: self.host, by: admin)
    }

    @Test func aBadValueIsInvalidInputEvenFromAnAdminLoweringIt() {
        let admin = self.user(.tenantAdmin, of: self.tenant)
        let error = #expect(throws: CoreError.self) {
            try self.tenant.applying(TenantLimitsChange(limits: .value(["memoryMiB": -1])), capacity: self.host, by: admin)
        }
        #expect(error?.kind == .invalidInput)
    }

    @Test func membersAndOtherTenantsAdminsMayNotChangeLimits() {
        let member = self.user(.member, of: self.tenant)
        let otherAdmin = User(tenantID: Tenant.ID(), email: "a@globex.test", name: "A", role: .tenantAdmin, createdAt: self.now)
        for caller in [member, otherAdmin] {
            let error = #expect(throws: CoreError.self) {
                try self.tenant.applying(TenantLimitsChange(limits: .value(["pids": 64])), capacity: self.host, by: caller)
            }
            #expect(error?.kind == .forbidden)
        }
    }

    @Test func aGrownCounterIsAHitAndAnUnknownOneIsNot() {
        let before = SessionUsage(memoryLimitBytes: 2_048 * 1024 * 1024, pidsLimit: 512, oomKills: 0, pidsRefused: 3)
        let after = SessionUsage(memoryLimitBytes: 2_048 * 1024 * 1024, pidsLimit: 512, oomKills: 1, pidsRefused: 5)
        let hits = after.limitsHit(since: before, limits: .standard)
        #expect(
            hits.map(\.detail) == [
                "memory limit 2,048 MiB reached: a process was killed (oom)", "process limit 512 reached: 2 forks were refused",
            ])
        #expect(hits.map(\.limit) == [.memory, .processes])
        #expect(hits.allSatisfy { $0.message.contains("This session reached") })

        #expect(after.limitsHit(since: after, limits: .standard).isEmpty)
        #expect(SessionUsage().limitsHit(since: before, limits: .standard).isEmpty)
        #expect(after.limitsHit(since: SessionUsage(), limits: .standard).isEmpty)
        // A counter that went down (a recreated cgroup) is no hit.
        #expect(before.limitsHit(since: after, limits: .standard).isEmpty)
        // Without the host's figure, the tenant's limit is named.
        let bare = SessionUsage(oomKills: 1).limitsHit(since: SessionUsage(oomKills: 0), limits: .standard)
        #expect(bare.first?.detail == "memory limit 2,048 MiB reached: a process was killed (oom)")
    }
}
