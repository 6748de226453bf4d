import Foundation
import HoldfastCore
import HoldfastStore
import SQLKit
import Testing

/// The behaviour every implementation of the account repositories must share.
@Suite("Account repositories contract")
struct AccountRepositoryContractTests {
    let created = Date(timeIntervalSince1970: 1_795_000_000.123)

    func tenant(_ slug: String) -> Tenant {
        Tenant(name: "Tenant \(slug)", slug: slug, timeZone: "America/New_York", graceSeconds: nil, createdAt: self.created)
    }

    func user(_ email: String, in tenant: Tenant, role: Role = .member) -> User {
        User(tenantID: tenant.id, email: email, name: email, role: role, createdAt: self.created)
    }

    @Test(arguments: StoreKind.allCases)
    func tenantsRoundTripAndListBySlug(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            var beta = self.tenant("beta")
            beta.graceSeconds = 600
            let alpha = self.tenant("alpha")
            try await repositories.tenants.create(beta)
            try await repositories.tenants.create(alpha)

            #expect(try await repositories.tenants.find(id: beta.id) == beta)
            #expect(try await repositories.tenants.find(slug: "alpha") == alpha)
            #expect(try await repositories.tenants.find(slug: "gamma") == nil)
            #expect(try await repositories.tenants.list().map(\.slug) == ["alpha", "beta"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aTenantsSettingsCanChange(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            var acme = self.tenant("acme")
            try await repositories.tenants.create(acme)
            acme.graceSeconds = 3600
            acme.timeZone = "Asia/Tokyo"
            try await repositories.tenants.update(acme)
            #expect(try await repositories.tenants.find(slug: "acme") == acme)
            acme.graceSeconds = nil
            try await repositories.tenants.update(acme)
            #expect(try await repositories.tenants.find(id: acme.id)?.graceSeconds == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aTenantsNetworkAndLimitsRoundTripAndReset(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            var acme = self.tenant("acme")
            acme.network = NetworkAccess.none
            acme.limits = SessionLimits(memoryMiB: 512, pids: 64, cpuWeight: 50, diskGiB: 2, sessionsPerUser: 1, clientsPerSession: 2)
            try await repositories.tenants.create(acme)
            #expect(try await repositories.tenants.find(id: acme.id) == acme)

            acme.network = .internet
            acme.limits?.memoryMiB = 4_096
            try await repositories.tenants.update(acme)
            #expect(try await repositories.tenants.find(slug: "acme") == acme)

            acme.network = nil
            acme.limits = nil
            try await repositories.tenants.update(acme)
            let reset = try #require(try await repositories.tenants.find(id: acme.id))
            #expect(reset.network == nil && reset.limits == nil)
            #expect(reset.effectiveLimits == .standard)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aTakenSlugIsAConflictAndChangesNothing(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let first = self.tenant("acme")
            try await repositories.tenants.create(first)
            let error = await #expect(throws: CoreError.self) {
                try await repositories.tenants.create(self.tenant("acme"))
            }
            #expect(error?.code == "slug_taken")
            #expect(try await repositories.tenants.list() == [first])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func usersAreListedPerTenantOnly(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let acme = self.tenant("acme")
            let globex = self.tenant("globex")
            try await repositories.tenants.create(acme)
            try await repositories.tenants.create(globex)
            let bob = self.user("bob@acme.test", in: acme, role: .tenantAdmin)
            let ann = self.user("ann@acme.test", in: acme)
            let eve = self.user("eve@globex.test", in: globex)
            for user in [bob, ann, eve] {
                try await repositories.users.create(user, passwordHash: "hash-of-\(user.email)")
            }

            #expect(try await repositories.users.list(tenantID: acme.id) == [ann, bob])
            #expect(try await repositories.users.list(tenantID: globex.id) == [eve])
            #expect(try await repositories.users.find(id: eve.id) == eve)
            let credentials = try await repositories.users.credentials(email: "bob@acme.test")
            #expect(credentials?.user == bob)
            #expect(credentials?.passwordHash == "hash-of-bob@acme.test")
            let nobody = try await repositories.users.credentials(email: "nobody@acme.test")
            #expect(nobody?.user == nil)
            #expect(try await repositories.users.count(role: .member) == 2)
            #expect(try await repositories.users.count(role: .operator) == 0)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anEmailIsUniqueAcrossTenants(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let acme = self.tenant("acme")
            let globex = self.tenant("globex")
            try await repositories.tenants.create(acme)
            try await repositories.tenants.create(globex)
            try await repositories.users.create(self.user("sam@example.test", in: acme), passwordHash: "a")
            let error = await #expect(throws: CoreError.self) {
                try await repositories.users.create(self.user("sam@example.test", in: globex), passwordHash: "b")
            }
            #expect(error?.code == "email_taken")
            #expect(try await repositories.users.list(tenantID: globex.id).isEmpty)
            #expect(try await repositories.users.credentials(email: "sam@example.test")?.passwordHash == "a")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aUserNeedsAnExistingTenant(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let ghost = self.tenant("ghost")
            await #expect(throws: (any Error).self) {
                try await repositories.users.create(self.user("x@ghost.test", in: ghost), passwordHash: "h")
            }
            let stored = try await repositories.users.credentials(email: "x@ghost.test")
            #expect(stored?.user == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func unixUIDsAreStablePerUserAndNeverShared(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let acme = self.tenant("acme")
            try await repositories.tenants.create(acme)
            let ann = self.user("ann@acme.test", in: acme)
            let bob = self.user("bob@acme.test", in: acme)
            try await repositories.users.create(ann, passwordHash: "h")
            try await repositories.users.create(bob, passwordHash: "h")
            let annUID = try await repositories.users.unixUID(for: ann.id, firstUID: 200_000)
            let bobUID = try await repositories.users.unixUID(for: bob.id, firstUID: 200_000)
            #expect(annUID == 200_000)
            #expect(bobUID == 200_001)
            #expect(try await repositories.users.unixUID(for: ann.id, firstUID: 200_000) == annUID)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func accessTokensExpireAndCanBeRevoked(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let acme = self.tenant("acme")
            try await repositories.tenants.create(acme)
            let ann = self.user("ann@acme.test", in: acme)
            try await repositories.users.create(ann, passwordHash: "h")
            let old = AccessToken(digest: "old", userID: ann.id, createdAt: self.created, expiresAt: self.created.addingTimeInterval(60))
            let fresh = AccessToken(
                digest: "fresh", userID: ann.id, createdAt: self.created, expiresAt: self.created.addingTimeInterval(3600))
            try await repositories.accessTokens.create(old)
            try await repositories.accessTokens.create(fresh)

            #expect(try await repositories.accessTokens.find(digest: "fresh") == fresh)
            #expect(try await repositories.accessTokens.deleteExpired(before: self.created.addingTimeInterval(120)) == 1)
            #expect(try await repositories.accessTokens.find(digest: "old") == nil)
            #expect(try await repositories.accessTokens.find(digest: "fresh") == fresh)
            try await repositories.accessTokens.delete(digest: "fresh")
            #expect(try await repositories.accessTokens.find(digest: "fresh") == nil)
        }
    }
}

/// What only the SQL stores do: schema steps and several processes on one database.
@Suite("SQL schema")
struct SQLSchemaTests {
    @Test(arguments: StoreKind.sql)
    func migratingAgainAppliesNothing(kind: StoreKind) async throws {
        try await withStore(kind) { _, database in
            let database = try #require(database)
            #expect(try await database.migrate().isEmpty)
        }
    }

    /// Many writers at once must all get through: SQLite's busy handler spins, and waiting
    /// writers once took every thread the lock holder needed to commit (a hang, not an error).
    @Test(.timeLimit(.minutes(1)), arguments: StoreKind.sql)
    func manyConcurrentWritersAllCommit(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<24 {
                    group.addTask {
                        try await repositories.tenants.create(
                            Tenant(name: "T\(index)", slug: "t\(index)", createdAt: Date(timeIntervalSince1970: 1_795_000_000))
                        )
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await repositories.tenants.list().count == 24)
        }
    }

    @Test(arguments: StoreKind.sql)
    func aTransactionThatThrowsLeavesNoTrace(kind: StoreKind) async throws {
        struct Boom: Error {}
        try await withStore(kind) { repositories, database in
            let database = try #require(database)
            await #expect(throws: Boom.self) {
                try await database.withTransaction { sql in
                    try await sql.insert(into: "tenants")
                        .columns("id", "name", "slug", "time_zone", "created_at")
                        .values(SQLBind(UUID().uuidString), SQLBind("Half"), SQLBind("half"), SQLBind("UTC"), SQLBind(0))
                        .run()
                    throw Boom()
                }
            }
            #expect(try await repositories.tenants.find(slug: "half") == nil)
        }
    }
}
