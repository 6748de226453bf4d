import Foundation
import HoldfastCore
import HoldfastStore
import Testing

/// Incidents, maintenance windows, usage history, troubleshooters, plans and drills: what the
/// status page, the planner and the continuity plans rely on, on every store.
@Suite("Status and continuity repository contract", .serialized)
struct StatusRepositoryContractTests {
    static let start = Date(timeIntervalSince1970: 1_795_000_000)

    static func at(_ minutes: Double) -> Date { Self.start.addingTimeInterval(minutes * 60) }

    @Test(arguments: StoreKind.allCases)
    func incidentsRoundTripWithTheirMailsAndResolvedOnesAgeOut(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            var old = try Incident.open(
                title: "Slow logins", components: [.portal], impact: .degraded, body: "Looking into it.", at: Self.at(0))
            try old.post(status: .resolved, body: "Fixed.", at: Self.at(30))
            let open = try Incident.open(
                title: "Sessions drop", components: [.sessions, .storage], impact: .majorOutage, body: "Investigating.", at: Self.at(60))
            let mail = OutboxMessage(
                kind: "incident-opened", to: MailAddress(address: "ops@acme.test"), subject: "Incident", body: "Sessions drop",
                createdAt: Self.at(60))
            try await repositories.incidents.save(old, outbox: [])
            try await repositories.incidents.save(open, outbox: [mail])
            #expect(try await repositories.incidents.find(id: open.id) == open)
            #expect(try await repositories.outbox.find(id: mail.id) == mail)
            #expect(try await repositories.incidents.list(resolvedSince: Self.at(0)) == [open, old])
            #expect(try await repositories.incidents.list(resolvedSince: Self.at(31)) == [open])

            var updated = open
            try updated.post(status: .identified, body: "A bad deploy.", at: Self.at(70))
            try await repositories.incidents.save(updated, outbox: [])
            #expect(try await repositories.incidents.find(id: open.id)?.updates.count == 2)

            // A mail that exists already fails the whole save: the incident is not changed either.
            try updated.post(status: .monitoring, body: "Rolled back.", at: Self.at(80))
            await #expect(throws: CoreError.self) { try await repositories.incidents.save(updated, outbox: [mail]) }
            #expect(try await repositories.incidents.find(id: open.id)?.status == .identified)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func windowsAreListedByStartFromTheirEnd(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let (later, _) = try MaintenanceStateMachine.schedule(
                title: "Storage upgrade", startsAt: Self.at(3000), endsAt: Self.at(3120), components: [.storage], others: [],
                at: Self.at(0))
            let (sooner, _) = try MaintenanceStateMachine.schedule(
                title: "Kernel updates", details: "Hosts reboot.", startsAt: Self.at(1500), endsAt: Self.at(1560),
                components: [.sessions], others: [], at: Self.at(0))
            try await repositories.maintenance.save(later.window, outbox: [])
            try await repositories.maintenance.save(sooner.window, outbox: [])
            #expect(try await repositories.maintenance.list(endingSince: Self.at(0)) == [sooner.window, later.window])
            #expect(try await repositories.maintenance.list(endingSince: Self.at(1561)) == [later.window])

            var moved = sooner
            _ = try moved.reschedule(startsAt: Self.at(4000), endsAt: Self.at(4060), others: [later.window], at: Self.at(10))
            try await repositories.maintenance.save(moved.window, outbox: [])
            #expect(try await repositories.maintenance.find(id: sooner.window.id) == moved.window)
            #expect(try await repositories.maintenance.list(endingSince: Self.at(0)).map(\.id) == [later.window.id, sooner.window.id])
            #expect(try await repositories.maintenance.find(id: MaintenanceWindow.ID()) == nil)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func usageAddsUpPerHourAndScope(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let hour = UsageHour.start(of: Self.start)
            for minute in 0..<3 {
                try await repositories.usage.record(
                    [UsageCount(tenantID: nil, activeSessions: 5 + minute), UsageCount(tenantID: desk.acme.id, activeSessions: 2)],
                    at: hour.addingTimeInterval(Double(minute) * 60 + 5))
            }
            try await repositories.usage.record([UsageCount(tenantID: nil, activeSessions: 1)], at: hour.addingTimeInterval(3600))
            #expect(
                try await repositories.usage.hours(tenantID: nil, since: hour) == [
                    UsageHour(tenantID: nil, hourStart: hour, sum: 18, minutes: 3),
                    UsageHour(tenantID: nil, hourStart: hour.addingTimeInterval(3600), sum: 1, minutes: 1),
                ])
            #expect(
                try await repositories.usage.hours(tenantID: desk.acme.id, since: hour) == [
                    UsageHour(tenantID: desk.acme.id, hourStart: hour, sum: 6, minutes: 3)
                ])
            #expect(try await repositories.usage.hours(tenantID: desk.globex.id, since: hour).isEmpty)
            #expect(try await repositories.usage.hours(tenantID: nil, since: hour.addingTimeInterval(1)).count == 1)
            #expect(try await repositories.usage.deleteHours(before: hour.addingTimeInterval(3600)) == 2)
            #expect(try await repositories.usage.hours(tenantID: nil, since: .distantPast).map(\.sum) == [1])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func troubleshootersPlansAndDrillsBelongToTheirTenant(kind: StoreKind) async throws {
        try await withStore(kind) { repositories, _ in
            let desk = try await SupportDesk.seed(repositories)
            let people = [
                Troubleshooter(name: "Ann Lee", role: "On-call", email: "ann@acme.test", phone: "+442079460000"),
                Troubleshooter(name: "Bo Chen", role: "Head of IT", email: "bo@acme.test"),
            ]
            #expect(try await repositories.continuity.troubleshooters(tenantID: desk.acme.id).isEmpty)
            try await repositories.continuity.setTroubleshooters(people, tenantID: desk.acme.id, at: Self.at(0))
            try await repositories.continuity.setTroubleshooters(people.reversed(), tenantID: desk.acme.id, at: Self.at(1))
            #expect(try await repositories.continuity.troubleshooters(tenantID: desk.acme.id) == people.reversed())
            #expect(try await repositories.continuity.troubleshooters(tenantID: desk.globex.id).isEmpty)

            let drill = DrillResult(
                tenantSlug: "acme", startedAt: Self.at(5), finishedAt: Self.at(7), rtoSeconds: 120, rtoTargetSeconds: 3600,
                snapshotsRestored: 2, filesVerified: 40, bytesVerified: 4_000, passed: true, failures: [])
            let inputs = PlanInputs(
                tenantSlug: "acme", tenantName: "Acme", troubleshooters: people, snapshotIntervalSeconds: 300, latestDrill: drill,
                deployment: PlanInputs.Deployment(
                    dataDirectory: "/srv/data", database: .sqlite(path: "/srv/data/holdfast.sqlite"),
                    serverBackupLocation: .local(directory: "/srv/data/backups"),
                    backupRepository: .local(directory: "/srv/data/backups/acme"), passwordFile: "/srv/data/secrets/acme.password",
                    restoresDirectory: "/srv/data/restores"),
                support: PlanInputs.Support(calendar: try BusinessCalendar.standard(), firstResponseMinutes: 240))
            let first = ContinuityPlanGenerator.generate(kind: .disasterRecovery, inputs: inputs, version: 1, now: Self.at(8))
            let second = ContinuityPlanGenerator.generate(kind: .disasterRecovery, inputs: inputs, version: 2, now: Self.at(9))
            let continuity = ContinuityPlanGenerator.generate(kind: .businessContinuity, inputs: inputs, version: 1, now: Self.at(8))
            try await repositories.continuity.savePlan(first, digest: "d1", tenantID: desk.acme.id)
            try await repositories.continuity.savePlan(continuity, digest: "d1", tenantID: desk.acme.id)
            try await repositories.continuity.savePlan(second, digest: "d2", tenantID: desk.acme.id)
            let taken = await #expect(throws: CoreError.self) {
                try await repositories.continuity.savePlan(second, digest: "d3", tenantID: desk.acme.id)
            }
            #expect(taken?.code == "plan_version_taken")
            #expect(
                try await repositories.continuity.latestPlan(tenantID: desk.acme.id, kind: .disasterRecovery)
                    == StoredPlan(plan: second, digest: "d2"))
            #expect(try await repositories.continuity.plan(tenantID: desk.acme.id, kind: .disasterRecovery, version: 1)?.plan == first)
            #expect(
                try await repositories.continuity.planVersions(tenantID: desk.acme.id, kind: .disasterRecovery).map(\.plan.version) == [
                    2, 1,
                ])
            #expect(try await repositories.continuity.latestPlan(tenantID: desk.acme.id, kind: .businessContinuity)?.plan == continuity)
            #expect(try await repositories.continuity.latestPlan(tenantID: desk.globex.id, kind: .disasterRecovery) == nil)

            var later = drill
            later.id = DrillResult.ID()
            later.startedAt = Self.at(100)
            try await repositories.continuity.record(drill, tenantID: desk.acme.id)
            try await repositories.continuity.record(later, tenantID: desk.acme.id)
            #expect(try await repositories.continuity.drills(tenantID: desk.acme.id, limit: 5) == [later, drill])
            #expect(try await repositories.continuity.drills(tenantID: desk.acme.id, limit: 1) == [later])
            #expect(try await repositories.continuity.drills(tenantID: desk.globex.id, limit: 5).isEmpty)
        }
    }
}
