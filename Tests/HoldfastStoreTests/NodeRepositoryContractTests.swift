import Foundation
import HoldfastCore
import SQLKit
import Testing

@testable import HoldfastStore

/// Nodes claim names with leases reckoned by the store's clock; every implementation agrees.
@Suite("Node repository contract")
struct NodeRepositoryContractTests {
    let a1 = NodeRegistration(name: "node-a", url: "http://127.0.0.2:8080", identity: "server-1", instance: "a-first")
    let a2 = NodeRegistration(name: "node-a", url: "http://127.0.0.9:8080", identity: "server-2", instance: "a-second")
    /// The first server, restarted (a new process on the same data directory).
    let a1Restarted = NodeRegistration(name: "node-a", url: "http://127.0.0.2:8080", identity: "server-1", instance: "a-third")
    let b = NodeRegistration(name: "node-b", url: "http://127.0.0.3:8080", identity: "server-3", instance: "b")

    @Test(arguments: StoreKind.allCases)
    func aNameIsHeldByOneProcessWhileItsLeaseLasts(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let node = try await repositories.nodes.register(self.a1, lease: .seconds(30))
            #expect(node.name == "node-a")
            #expect(node.url == "http://127.0.0.2:8080")
            #expect(node.state == .up)
            #expect(node.leaseExpiresAt.timeIntervalSince(node.lastSeenAt) == 30)
            // A second server under the same name is refused, and the first keeps its row.
            await #expect(throws: CoreError.self) { try await repositories.nodes.register(self.a2, lease: .seconds(30)) }
            do {
                _ = try await repositories.nodes.register(self.a2, lease: .seconds(30))
            } catch let error as CoreError {
                #expect(error.code == "node_name_taken")
                #expect(error.message.contains("node-a") && error.message.contains("http://127.0.0.2:8080"))
            }
            #expect(try await repositories.nodes.list().map(\.url) == ["http://127.0.0.2:8080"])
            // The same process registering again (a retry) is fine; another name is another node.
            _ = try await repositories.nodes.register(self.a1, lease: .seconds(30))
            _ = try await repositories.nodes.register(self.b, lease: .seconds(30))
            #expect(try await repositories.nodes.list().map(\.name) == ["node-a", "node-b"])
            // Only the holder renews.
            #expect(try await repositories.nodes.renew(self.a2, lease: .seconds(30)) == nil)
            #expect(try await repositories.nodes.renew(self.a1, lease: .seconds(30))?.state == .up)
            // The same server restarted (killed, upgraded) takes its name back at once; from then
            // on the old process's renewals no longer count.
            #expect(try await repositories.nodes.register(self.a1Restarted, lease: .seconds(30)).state == .up)
            #expect(try await repositories.nodes.renew(self.a1, lease: .seconds(30)) == nil)
            #expect(try await repositories.nodes.renew(self.a1Restarted, lease: .seconds(30))?.state == .up)
        }
    }

    /// A lease that was not renewed lapses by the store's clock: the node is down and its name free
    /// for a new process, after which the old process's renewals no longer count.
    @Test(arguments: StoreKind.allCases)
    func aLapsedLeaseFreesTheName(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            _ = try await repositories.nodes.register(self.a1, lease: .milliseconds(300))
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await repositories.nodes.list().first?.state == .down)
            let taken = try await repositories.nodes.register(self.a2, lease: .seconds(30))
            #expect(taken.state == .up)
            #expect(taken.url == "http://127.0.0.9:8080")
            #expect(try await repositories.nodes.renew(self.a1, lease: .seconds(30)) == nil)
        }
    }

    /// A clean stop ends the lease at once; a drain outlives restarts of the node until lifted.
    @Test(arguments: StoreKind.allCases)
    func releaseAndDrain(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            _ = try await repositories.nodes.register(self.a1, lease: .seconds(30))
            #expect(try await repositories.nodes.setDraining("node-a", true)?.state == .draining)
            #expect(try await repositories.nodes.setDraining("nowhere", true) == nil)
            try await repositories.nodes.release(self.a2)  // not the holder: nothing happens
            #expect(try await repositories.nodes.list().first?.state == .draining)
            try await repositories.nodes.release(self.a1)
            #expect(try await repositories.nodes.list().first?.state == .down)
            #expect(try await repositories.nodes.register(self.a2, lease: .seconds(30)).state == .draining)
            #expect(try await repositories.nodes.setDraining("node-a", false)?.state == .up)
        }
    }

    /// A once-only duty is held by one process at a time: the first claim wins, the holder keeps
    /// it by claiming again, another takes it when the lease lapsed or was given up.
    @Test(arguments: StoreKind.allCases)
    func aDutyHasOneHolderAtATime(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let nodes = repositories.nodes
            _ = try await nodes.register(self.a1, lease: .seconds(30))
            _ = try await nodes.register(self.b, lease: .seconds(30))
            #expect(try await nodes.claimDuty("mailer", for: self.a1, lease: .seconds(30)))
            #expect(try await nodes.claimDuty("mailer", for: self.b, lease: .seconds(30)) == false)
            #expect(try await nodes.claimDuty("retention", for: self.b, lease: .seconds(30)))
            #expect(try await nodes.claimDuty("mailer", for: self.a1, lease: .seconds(30)))
            #expect(try await nodes.dutyHolders() == ["mailer": "node-a", "retention": "node-b"])
            // node-a stops renewing a duty: once its lease lapsed node-b takes it, and node-a's next
            // claim fails.
            #expect(try await nodes.claimDuty("drills", for: self.a1, lease: .milliseconds(300)))
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await nodes.dutyHolders() == ["mailer": "node-a", "retention": "node-b"])
            #expect(try await nodes.claimDuty("drills", for: self.b, lease: .seconds(30)))
            #expect(try await nodes.claimDuty("drills", for: self.a1, lease: .seconds(30)) == false)
            #expect(try await nodes.dutyHolders() == ["mailer": "node-a", "retention": "node-b", "drills": "node-b"])
            // A clean stop hands the duty over at once.
            try await nodes.releaseDuty("mailer", for: self.b)  // not the holder: nothing happens
            #expect(try await nodes.claimDuty("mailer", for: self.b, lease: .seconds(30)) == false)
            try await nodes.releaseDuty("mailer", for: self.a1)
            #expect(try await nodes.claimDuty("mailer", for: self.b, lease: .seconds(30)))
            // node-b's server restarts (a new process): what the old process held is free at once,
            // without waiting for its lease.
            #expect(try await nodes.claimDuty("retention", for: self.a1, lease: .seconds(30)) == false)
            let bRestarted = NodeRegistration(name: "node-b", url: "http://127.0.0.3:8080", identity: "server-3", instance: "b-again")
            _ = try await nodes.register(bRestarted, lease: .seconds(30))
            #expect(try await nodes.claimDuty("retention", for: bRestarted, lease: .seconds(30)))
        }
    }

    /// Sessions record the node they run on.
    @Test(arguments: StoreKind.allCases)
    func aSessionKeepsItsNode(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let now = Date(timeIntervalSince1970: 1_795_000_000)
            let tenant = Tenant(name: "Acme", slug: "acme", createdAt: now)
            try await repositories.tenants.create(tenant)
            let ann = User(tenantID: tenant.id, email: "ann@acme.test", name: "Ann", role: .member, createdAt: now)
            try await repositories.users.create(ann, passwordHash: "h")
            var placed = Session(
                tenantID: tenant.id, userID: ann.id, kind: .terminal, machine: .init(state: .starting, grace: 60, createdAt: now),
                node: "node-a")
            let legacy = Session(
                tenantID: tenant.id, userID: ann.id, kind: .desktop, machine: .init(state: .starting, grace: 60, createdAt: now))
            try await repositories.sessions.create(placed, events: [])
            try await repositories.sessions.create(legacy, events: [])
            #expect(try await repositories.sessions.find(id: placed.id)?.node == "node-a")
            #expect(try await repositories.sessions.find(id: legacy.id)?.node == nil)
            placed.node = "node-b"
            placed.revision = 1
            try await repositories.sessions.save(placed, events: [])
            #expect(try await repositories.sessions.find(id: placed.id)?.node == "node-b")
        }
    }

    /// A server never runs on a schema written by a newer version: it refuses and names the version.
    @Test(arguments: StoreKind.sql)
    func aNewerSchemaIsRefused(kind: StoreKind) async throws {
        try await withStore(kind) { _, database in
            let database = try #require(database)
            try await database.withConnection { sql in
                try await sql.insert(into: "schema_migrations").columns("version", "name", "applied_at")
                    .values(SQLBind(999), SQLBind("from the future"), SQLBind(0)).run()
            }
            do {
                try await database.migrate()
                Issue.record("a schema at version 999 was accepted")
            } catch let error as StoreError {
                #expect(error.code == "schema_too_new")
                #expect(error.message.contains("999"))
            }
        }
    }
}
