import Foundation
import HoldfastCore
import HoldfastHTTP
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import HoldfastApp

/// The per-user and per-session caps in the supervisor, and the limit watch, over a fake host.
@Suite("Session caps and limit events")
struct SessionCapsTests {
    typealias Fixture = SessionSupervisorTests.Fixture

    /// Gives the fixture's tenant its own limits, as an operator's PATCH would.
    func setLimits(_ fixture: Fixture, _ change: (inout SessionLimits) -> Void, network: NetworkAccess? = nil) async throws {
        var tenant = try #require(try await fixture.store.repositories.tenants.find(id: fixture.user.tenantID))
        var limits = tenant.effectiveLimits
        change(&limits)
        tenant.limits = limits
        tenant.network = network
        try await fixture.store.repositories.tenants.update(tenant)
    }

    @Test func theSessionAfterTheLastAllowedIsRefusedSayingHowManyAndWhich() async throws {
        let fixture = try await Fixture()
        try await self.setLimits(fixture) { $0.sessionsPerUser = 2 }
        let supervisor = fixture.supervisor()
        let first = try await supervisor.start(kind: .terminal, for: fixture.user)
        let second = try await supervisor.start(kind: .terminal, for: fixture.user)

        let refusal = await #expect(throws: CoreError.self) { try await supervisor.start(kind: .terminal, for: fixture.user) }
        #expect(refusal?.kind == .conflict)
        #expect(refusal?.code == "session_limit")
        let message = refusal?.message ?? ""
        #expect(message.contains("You already have 2 live sessions"), "\(message)")
        #expect(message.contains(String(first.id.description.prefix(8))) && message.contains(String(second.id.description.prefix(8))))
        #expect(message.contains("close one on the portal"))
        // Refused before anything happened: no third launch, no third record.
        #expect(fixture.host.launches.count == 2)
        #expect(try await fixture.store.repositories.sessions.list(userID: fixture.user.id, includeClosed: true).count == 2)

        // A closed session frees its place.
        _ = try await supervisor.close(first.id, by: fixture.user)
        await supervisor.closesSettled()
        _ = try await supervisor.start(kind: .terminal, for: fixture.user)
    }

    /// A supervisor whose store takes a moment to create a session and to read a tenant, as a real
    /// database does: parallel calls then really interleave at those awaits.
    func slowStoreSupervisor(_ fixture: Fixture) -> SessionSupervisor {
        var repositories = fixture.store.repositories
        repositories.sessions = SlowStore.Sessions(base: repositories.sessions)
        repositories.tenants = SlowStore.Tenants(base: repositories.tenants)
        var configuration = SessionSupervisor.Configuration()
        configuration.heartbeat = 10
        return SessionSupervisor(
            configuration: configuration, repositories: repositories, host: fixture.host, backups: fixture.backups,
            accountFor: { _ in nil }, now: { [clock = fixture.clock] in clock.now() }, logger: Logger(label: "test"))
    }

    @Test func parallelStartsCannotAllPassTheCheck() async throws {
        let fixture = try await Fixture()
        try await self.setLimits(fixture) { $0.sessionsPerUser = 2 }
        let supervisor = self.slowStoreSupervisor(fixture)
        let outcomes = await withTaskGroup(of: String.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    do {
                        _ = try await supervisor.start(kind: .terminal, for: fixture.user)
                        return "started"
                    } catch let error as CoreError {
                        return error.code
                    } catch {
                        return "\(error)"
                    }
                }
            }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(outcomes.sorted() == ["session_limit", "session_limit", "session_limit", "session_limit", "started", "started"])
        #expect(fixture.host.launches.count == 2)
    }

    @Test func theLaunchCarriesTheTenantsNetworkAndLimits() async throws {
        let fixture = try await Fixture()
        try await self.setLimits(
            fixture,
            {
                $0.memoryMiB = 512; $0.pids = 128
            }, network: NetworkAccess.none)
        _ = try await fixture.supervisor().start(kind: .terminal, for: fixture.user)
        let launch = try #require(fixture.host.launches.first)
        #expect(launch.network == NetworkAccess.none)
        #expect(launch.limits.memoryMiB == 512)
        #expect(launch.limits.pids == 128)
        #expect(launch.limits.cpuWeight == SessionLimits.standard.cpuWeight)
    }

    @Test func theClientAfterTheLastAllowedIsRefusedAndNeverCounted() async throws {
        let fixture = try await Fixture()
        try await self.setLimits(fixture) { $0.clientsPerSession = 2 }
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        let first = try await supervisor.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        _ = try await supervisor.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        let eventsBefore = try await fixture.events(session.id)

        let refusal = await #expect(throws: CoreError.self) {
            try await supervisor.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        }
        #expect(refusal?.code == "client_limit")
        #expect(refusal?.message.contains("already has 2 clients attached") == true, "\(refusal?.message ?? "")")
        #expect(try await fixture.events(session.id) == eventsBefore)

        // The refused client took no place: one leaving lets exactly one more in.
        await supervisor.detached(first, lastTrafficAt: fixture.clock.now())
        _ = try await supervisor.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        await #expect(throws: CoreError.self) {
            try await supervisor.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        }
        #expect(try await fixture.stored(session.id).state == .connected)
    }

    @Test func parallelAttachesCannotBothTakeTheLastPlace() async throws {
        let fixture = try await Fixture()
        try await self.setLimits(fixture) { $0.clientsPerSession = 1 }
        let supervisor = self.slowStoreSupervisor(fixture)
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        let outcomes = await withTaskGroup(of: String.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    do {
                        _ = try await supervisor.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
                        return "attached"
                    } catch let error as CoreError {
                        return error.code
                    } catch {
                        return "\(error)"
                    }
                }
            }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(outcomes.sorted() == ["attached", "client_limit", "client_limit", "client_limit"])
    }

    @Test func aGrownOOMOrForkCounterIsOnTheTimelineAndInTheTerminal() async throws {
        let fixture = try await Fixture()
        let supervisor = fixture.supervisor()
        let notices = SessionNotices()
        let watch = SessionLimitWatch(
            supervisor: supervisor, host: fixture.host, repositories: fixture.store.repositories, notices: notices,
            now: { [clock = fixture.clock] in clock.now() }, logger: Logger(label: "test"))
        let old = try await supervisor.start(kind: .terminal, for: fixture.user)
        let mebibyte = 1024 * 1024
        // Hits from before the watch's first look (a restart) are not dated, so not reported.
        fixture.host.setUsage(SessionUsage(memoryLimitBytes: 2_048 * mebibyte, pidsLimit: 512, oomKills: 3, pidsRefused: 1), of: old.id)
        await watch.look()
        await supervisor.closesSettled()  // the timeline rows are written by the session's writer
        #expect(try await fixture.events(old.id).contains(.limit) == false)

        fixture.host.setUsage(SessionUsage(memoryLimitBytes: 2_048 * mebibyte, pidsLimit: 512, oomKills: 4, pidsRefused: 1), of: old.id)
        await watch.look()
        await supervisor.closesSettled()  // the timeline rows are written by the session's writer
        let timeline = try await fixture.store.repositories.sessions.events(sessionID: old.id).filter { $0.type == .limit }
        #expect(timeline.map(\.detail) == ["memory limit 2,048 MiB reached: a process was killed (oom)"])
        let shown = notices.notices(for: old.id, after: 0).notices
        #expect(shown.map(\.code) == ["memory_limit"])
        #expect(shown.first?.message.contains("memory limit of 2,048 MiB") == true)

        // Unknown for a while: nothing recorded, and the last known counters stay the reference.
        fixture.host.setUsage(nil, of: old.id)
        await watch.look()
        await supervisor.closesSettled()  // the timeline rows are written by the session's writer
        fixture.host.setUsage(SessionUsage(memoryLimitBytes: 2_048 * mebibyte, pidsLimit: 512, oomKills: 4, pidsRefused: 3), of: old.id)
        await watch.look()
        await supervisor.closesSettled()  // the timeline rows are written by the session's writer
        let details = try await fixture.store.repositories.sessions.events(sessionID: old.id).filter { $0.type == .limit }.map(\.detail)
        #expect(details.last == "process limit 512 reached: 2 forks were refused")
        #expect(details.count == 2)

        // A session started after the first look counts from zero, as its new cgroup does.
        let new = try await supervisor.start(kind: .terminal, for: fixture.user)
        fixture.host.setUsage(SessionUsage(pidsLimit: 512, oomKills: 0, pidsRefused: 1), of: new.id)
        await watch.look()
        await supervisor.closesSettled()  // the timeline rows are written by the session's writer
        #expect(try await fixture.store.repositories.sessions.events(sessionID: new.id).map(\.type).contains(.limit))
        #expect(notices.notices(for: new.id, after: 0).notices.map(\.code) == ["process_limit"])

        // A closed session's notices go.
        _ = try await supervisor.close(new.id, by: fixture.user)
        await supervisor.closesSettled()
        await watch.look()
        #expect(notices.latest(for: new.id) == 0)
    }
}

/// Store wrappers that wait a little before the writes and reads the caps depend on.
enum SlowStore {
    static func pause() async { try? await Task.sleep(for: .milliseconds(5)) }

    struct Sessions: SessionRepository {
        let base: any SessionRepository

        func create(_ session: Session, events: [SessionEvent]) async throws {
            await SlowStore.pause()
            try await self.base.create(session, events: events)
        }
        func save(_ session: Session, events: [SessionEvent]) async throws { try await self.base.save(session, events: events) }
        func find(id: Session.ID) async throws -> Session? { try await self.base.find(id: id) }
        func list(userID: User.ID, includeClosed: Bool) async throws -> [Session] {
            try await self.base.list(userID: userID, includeClosed: includeClosed)
        }
        func newest(userID: User.ID, limit: Int) async throws -> [Session] { try await self.base.newest(userID: userID, limit: limit) }
        func listLive(tenantID: Tenant.ID) async throws -> [Session] { try await self.base.listLive(tenantID: tenantID) }
        func listLive() async throws -> [Session] { try await self.base.listLive() }
        func events(sessionID: Session.ID) async throws -> [SessionEvent] { try await self.base.events(sessionID: sessionID) }
        func createTicket(_ ticket: AttachTicket) async throws { try await self.base.createTicket(ticket) }
        func redeemTicket(digest: String, now: Date) async throws -> AttachTicket? {
            try await self.base.redeemTicket(digest: digest, now: now)
        }
    }

    struct Tenants: TenantRepository {
        let base: any TenantRepository

        func create(_ tenant: Tenant) async throws { try await self.base.create(tenant) }
        func find(id: Tenant.ID) async throws -> Tenant? {
            await SlowStore.pause()
            return try await self.base.find(id: id)
        }
        func find(slug: String) async throws -> Tenant? { try await self.base.find(slug: slug) }
        func list() async throws -> [Tenant] { try await self.base.list() }
        func update(_ tenant: Tenant) async throws { try await self.base.update(tenant) }
    }
}

/// The settings API for a tenant's network and limits, and the caps as the API reports them.
@Suite("Tenant limits API")
struct TenantLimitsAPITests {
    @Test func operatorsSetNetworkAndLimitsAndTheTenantShowsThem() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let standard = try await client.send(.get, "/api/v1/tenants/acme", token: tenants.acmeAdmin)
            #expect(JSON(standard.body)["network"].string == "internet")
            #expect(JSON(standard.body)["limits"]["memoryMiB"].value as? Int == 2_048)
            #expect(JSON(standard.body)["limits"]["clientsPerSession"].value as? Int == 4)

            let changed = try await client.send(
                .patch, "/api/v1/tenants/acme", token: tenants.operatorToken,
                json: ["network": "none", "limits": ["memoryMiB": 1_024, "sessionsPerUser": 2]])
            #expect(changed.status == .ok, "\(String(buffer: changed.body))")
            #expect(JSON(changed.body)["network"].string == "none")
            #expect(JSON(changed.body)["limits"]["memoryMiB"].value as? Int == 1_024)
            #expect(JSON(changed.body)["limits"]["sessionsPerUser"].value as? Int == 2)
            #expect(JSON(changed.body)["limits"]["pids"].value as? Int == 512)

            // New sessions get them.
            _ = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "terminal"])
            #expect(server.host.launches.last?.network == NetworkAccess.none)
            #expect(server.host.launches.last?.limits.memoryMiB == 1_024)

            let reset = try await client.send(
                .patch, "/api/v1/tenants/acme", token: tenants.operatorToken, raw: #"{"network": null, "limits": null}"#)
            #expect(JSON(reset.body)["network"].string == "internet")
            #expect(JSON(reset.body)["limits"]["memoryMiB"].value as? Int == 2_048)
        }
    }

    @Test func aTenantsAdminsMayOnlyLowerAndMembersNothing() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let lowered = try await client.send(
                .patch, "/api/v1/tenants/acme", token: tenants.acmeAdmin, json: ["network": "none", "limits": ["pids": 256]])
            #expect(lowered.status == .ok, "\(String(buffer: lowered.body))")
            #expect(JSON(lowered.body)["limits"]["pids"].value as? Int == 256)

            let raise = try await client.send(.patch, "/api/v1/tenants/acme", token: tenants.acmeAdmin, json: ["limits": ["pids": 1_024]])
            expectError(raise, .forbidden)
            #expect(JSON(raise.body)["error"]["message"].string?.contains("pids from 256 to 1,024") == true)
            expectError(
                try await client.send(.patch, "/api/v1/tenants/acme", token: tenants.acmeAdmin, json: ["network": "internet"]), .forbidden)
            // Lowering limits does not open the other settings to them.
            expectError(
                try await client.send(
                    .patch, "/api/v1/tenants/acme", token: tenants.acmeAdmin, json: ["limits": ["pids": 128], "graceSeconds": 600]),
                .forbidden)
            expectError(
                try await client.send(.patch, "/api/v1/tenants/acme", token: tenants.acmeMember, json: ["limits": ["pids": 64]]), .forbidden
            )
            expectError(
                try await client.send(.patch, "/api/v1/tenants/acme", token: tenants.globexAdmin, json: ["limits": ["pids": 64]]), .notFound
            )

            let after = try await client.send(.get, "/api/v1/tenants/acme", token: tenants.operatorToken)
            #expect(JSON(after.body)["limits"]["pids"].value as? Int == 256)
            #expect(JSON(after.body)["network"].string == "none")
            #expect(JSON(after.body)["graceSeconds"].value as? Int == nil)
        }
    }

    @Test func badLimitsAre422AndChangeNothing() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let memory = HostCapacity.measure(dataDirectory: server.dataDirectory.path).memoryMiB
            let bodies: [(String, String)] = [
                (#"{"limits": {"memoryMiB": -1}}"#, "memoryMiB must be 64 to"),
                (#"{"limits": {"memoryMiB": 0}}"#, "memoryMiB must be 64 to"),
                (#"{"limits": {"memoryMiB": \#(memory + 1)}}"#, "(this host's memory)"),
                (#"{"limits": {"pids": 100000000}}"#, "pids must be 16 to"),
                (#"{"limits": {"cpuWeight": 0}}"#, "cpuWeight must be 1 to 10,000"),
                (#"{"limits": {"diskGiB": 1000000000}}"#, "(this host's disk for workspaces)"),
                (#"{"limits": {"sessionsPerUser": 101}}"#, "sessionsPerUser must be 1 to 100"),
                (#"{"limits": {"clientsPerSession": -4}}"#, "clientsPerSession must be 1 to 64"),
                (#"{"limits": {"memoryMiB": 1e30}}"#, "'memoryMiB' must be a whole number"),
                (#"{"limits": {"pids": 100.5}}"#, "'pids' must be a whole number"),
                (#"{"limits": {"memoryMB": 512}}"#, "Unknown limit 'memoryMB'"),
                // The valid parts of a refused body are not written either.
                (#"{"name": "Renamed", "network": "none", "limits": {"pids": 256, "memoryMiB": 1}}"#, "memoryMiB must be 64 to"),
            ]
            for (body, message) in bodies {
                let response = try await client.send(.patch, "/api/v1/tenants/acme", token: tenants.operatorToken, raw: body)
                expectError(response, .unprocessableContent, code: "invalid_limits")
                let text = JSON(response.body)["error"]["message"].string ?? ""
                #expect(text.contains(message), "\(body): \(text)")
            }
            let network = try await client.send(.patch, "/api/v1/tenants/acme", token: tenants.operatorToken, json: ["network": "wifi"])
            expectError(network, .unprocessableContent, code: "invalid_network")

            let after = try await client.send(.get, "/api/v1/tenants/acme", token: tenants.operatorToken)
            #expect(JSON(after.body)["name"].string == "Acme")
            #expect(JSON(after.body)["network"].string == "internet")
            #expect(JSON(after.body)["limits"]["pids"].value as? Int == 512)
            #expect(JSON(after.body)["limits"]["memoryMiB"].value as? Int == 2_048)
        }
    }

    @Test func theSixthSessionIsRefusedWithSessionLimit() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            var ids: [String] = []
            for _ in 0..<5 {
                let started = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "terminal"])
                #expect(started.status == .created)
                ids.append(try #require(JSON(started.body)["id"].string))
            }
            let sixth = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "terminal"])
            expectError(sixth, .conflict, code: "session_limit")
            let message = JSON(sixth.body)["error"]["message"].string ?? ""
            #expect(message.hasPrefix("You already have 5 live sessions ("), "\(message)")
            #expect(ids.allSatisfy { message.contains($0.prefix(8)) })
            // Another user of the same tenant has their own five.
            let admin = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeAdmin, json: ["kind": "terminal"])
            #expect(admin.status == .created)
        }
    }

    @Test func theAdminViewShowsEachSessionsUseAgainstItsLimits() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let mebibyte = 1024 * 1024
            let measured = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "terminal"])
            let measuredID = try #require(JSON(measured.body)["id"].string)
            let unknown = try await client.send(.post, "/api/v1/sessions", token: tenants.acmeMember, json: ["kind": "terminal"])
            let unknownID = try #require(JSON(unknown.body)["id"].string)
            server.host.setUsage(
                SessionUsage(memoryBytes: 300 * mebibyte, memoryLimitBytes: 2_048 * mebibyte, pids: 12, pidsLimit: 512),
                of: try #require(Session.ID(measuredID)))

            let listed = try await client.send(.get, "/api/v1/tenants/acme/sessions", token: tenants.acmeAdmin)
            let items = JSON(listed.body)["items"].array
            let row = try #require(items.first { $0["id"].string == measuredID })
            #expect(row["usage"]["memoryBytes"].value as? Int == 300 * mebibyte)
            #expect(row["usage"]["memoryLimitBytes"].value as? Int == 2_048 * mebibyte)
            #expect(row["usage"]["pids"].value as? Int == 12)
            #expect(row["usage"]["pidsLimit"].value as? Int == 512)
            let bare = try #require(items.first { $0["id"].string == unknownID })
            #expect(bare["usage"].value is NSNull)

            let cookie: HTTPFields = [.cookie: "holdfast_session=\(tenants.acmeAdmin)"]
            let page = String(buffer: try await client.send(.get, "/admin", headers: cookie).body)
            #expect(page.contains("300 MiB of 2,048 MiB"))
            #expect(page.contains("12 of 512"))
            #expect(page.contains("unknown"))
        }
    }
}
