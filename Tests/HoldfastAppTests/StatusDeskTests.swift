import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastHTTP
import HoldfastTestSupport
import Logging
import Synchronization
import Testing

/// The maintenance clock: windows cross their edges on the clock's ticks, notices go out once
/// each, sessions are refused and closed only for windows of the sessions component, and the
/// in-session banners follow the windows.
@Suite("Status desk: maintenance over time")
struct StatusDeskTests {
    final class SessionsProbe: Sendable {
        let refusal = Mutex<CoreError?>(nil)
        let closes = Mutex(0)

        var hooks: StatusDesk.Sessions {
            .init(
                refuseNewSessions: { refusal in self.refusal.withLock { $0 = refusal } },
                closeAllForMaintenance: {
                    self.closes.withLock { $0 += 1 }
                    return 3
                })
        }
    }

    struct Fixture {
        let store = InMemoryStore()
        let clock = ManualClock(Date(timeIntervalSince1970: 1_795_000_000))
        let probe = SessionsProbe()
        let banners = SessionBanners()
        let operatorUser: User
        let desk: StatusDesk

        init() async throws {
            let repositories = self.store.repositories
            let tenant = Tenant(name: "Acme", slug: "acme", timeZone: "Asia/Tokyo", createdAt: .distantPast)
            try await repositories.tenants.create(tenant)
            self.operatorUser = User(tenantID: tenant.id, email: "op@acme.test", name: "Op", role: .operator, createdAt: .distantPast)
            try await repositories.users.create(self.operatorUser, passwordHash: "unused")
            try await repositories.users.create(
                User(tenantID: tenant.id, email: "ann@acme.test", name: "Ann", role: .member, createdAt: .distantPast),
                passwordHash: "unused")
            let clock = self.clock
            self.desk = StatusDesk(
                repositories: repositories, sessions: self.probe.hooks, banners: self.banners,
                baseURL: URL(string: "https://status.holdfast.test")!, now: { clock.now() }, logger: Logger(label: "test"))
        }

        func mails() -> [String] { self.store.support.allOutboxMessages.map(\.kind.rawValue) }
    }

    @Test func aSessionsWindowAnnouncesRemindsRefusesClosesAndEnds() async throws {
        let fixture = try await Fixture()
        let start = fixture.clock.now().addingTimeInterval(2 * 3600)
        let window = try await fixture.desk.schedule(
            title: "Kernel updates", details: "Hosts reboot.", startsAt: start, endsAt: start.addingTimeInterval(600),
            components: [.sessions], by: fixture.operatorUser)
        #expect(fixture.mails() == ["maintenance-created", "maintenance-created"])  // both users
        try await fixture.desk.tick()
        #expect(fixture.banners.current.banners.map(\.id) == [window.id.description])
        #expect(fixture.banners.current.banners.first?.startsAt == start)
        #expect(fixture.probe.refusal.withLock { $0 } == nil)

        fixture.clock.advance(by: 3600 + 60)  // 59 minutes to go
        try await fixture.desk.tick()
        try await fixture.desk.tick()
        #expect(fixture.mails().filter { $0 == "maintenance-reminder-1h" }.count == 2)
        #expect(fixture.probe.closes.withLock { $0 } == 0)

        fixture.clock.advance(by: 59 * 60)  // the start
        try await fixture.desk.tick()
        #expect(fixture.probe.closes.withLock { $0 } == 1)
        #expect(fixture.probe.refusal.withLock { $0?.code } == "maintenance_in_progress")
        #expect(fixture.mails().filter { $0 == "maintenance-started" }.count == 2)
        #expect(try await fixture.desk.status().state(of: .sessions) == .underMaintenance)
        try await fixture.desk.tick()
        #expect(fixture.probe.closes.withLock { $0 } == 1)  // once

        fixture.clock.advance(by: 600)  // the end
        try await fixture.desk.tick()
        #expect(fixture.probe.refusal.withLock { $0 } == nil)
        #expect(fixture.banners.current.banners.isEmpty)
        #expect(fixture.mails().filter { $0 == "maintenance-ended" }.count == 2)
        #expect(try await fixture.desk.status().state(of: .sessions) == .operational)
        #expect(fixture.mails().count == 8)
    }

    @Test func aWindowThatDoesNotTouchSessionsLeavesThemAlone() async throws {
        let fixture = try await Fixture()
        let start = fixture.clock.now().addingTimeInterval(600)
        _ = try await fixture.desk.schedule(
            title: "Mail relay move", details: nil, startsAt: start, endsAt: start.addingTimeInterval(600), components: [.support],
            by: fixture.operatorUser)
        fixture.clock.advance(by: 601)
        try await fixture.desk.tick()
        #expect(try await fixture.desk.status().state(of: .support) == .underMaintenance)
        #expect(fixture.probe.closes.withLock { $0 } == 0)
        #expect(fixture.probe.refusal.withLock { $0 } == nil)
        #expect(fixture.banners.current.banners.isEmpty)
    }

    @Test func aRescheduleKeepsTheCalendarUIDAndBumpsTheSequence() async throws {
        let fixture = try await Fixture()
        let start = fixture.clock.now().addingTimeInterval(86_400 * 2)
        let window = try await fixture.desk.schedule(
            title: "Storage; upgrade, phase 1", details: nil, startsAt: start, endsAt: start.addingTimeInterval(3600),
            components: [.storage], by: fixture.operatorUser)
        let before = try await fixture.desk.maintenanceCalendar()
        #expect(before.contains("UID:\(window.id)@status.holdfast.test\r\n"))
        #expect(before.contains("SEQUENCE:0\r\n"))
        #expect(before.contains("SUMMARY:Storage\\; upgrade\\, phase 1\r\n"))
        let moved = try await fixture.desk.reschedule(
            window.id, startsAt: start.addingTimeInterval(3600), endsAt: start.addingTimeInterval(7200), by: fixture.operatorUser)
        #expect(moved.sequence == 1)
        let after = try await fixture.desk.maintenanceCalendar()
        #expect(after.contains("UID:\(window.id)@status.holdfast.test\r\n"))
        #expect(after.contains("SEQUENCE:1\r\n"))
        #expect(fixture.mails().filter { $0 == "maintenance-rescheduled" }.count == 2)
        _ = try await fixture.desk.cancel(window.id, by: fixture.operatorUser)
        #expect(try await fixture.desk.maintenanceCalendar().contains("STATUS:CANCELLED\r\n"))
    }

    @Test func theQuietestWindowComesFromRecordedUsage() async throws {
        let fixture = try await Fixture()
        let repositories = fixture.store.repositories
        // Three weeks of history: busy everywhere except Sunday 02:00-05:00 in Tokyo (Saturday 17:00-20:00 UTC).
        let now = fixture.clock.now()
        var minute = UsageHour.start(of: now).addingTimeInterval(-21 * 86_400)
        let tokyo = TimeZone(identifier: "Asia/Tokyo")!
        while minute < now {
            let hour = UsageHistogram.hourOfWeek(of: minute, in: tokyo)
            let quiet = (6 * 24 + 2..<6 * 24 + 5).contains(hour)
            try await repositories.usage.record([UsageCount(tenantID: nil, activeSessions: quiet ? 1 : 20)], at: minute)
            minute.addTimeInterval(15 * 60)
        }
        try await repositories.settings.set(
            String(decoding: try JSONEncoder().encode(try BusinessCalendar.standard(timeZone: "Asia/Tokyo")), as: UTF8.self),
            for: SettingKey.supportCalendar, at: now)
        let plan = try await fixture.desk.recommendation(duration: 2 * 3600, tenantSlug: nil, by: fixture.operatorUser)
        let hour = UsageHistogram.hourOfWeek(of: plan.recommendation.startsAt, in: tokyo)
        #expect(hour == 6 * 24 + 2)
        #expect(plan.recommendation.expectedActiveSessions == 1)
        #expect(plan.recommendation.endsAt.timeIntervalSince(plan.recommendation.startsAt) == 7200)
        #expect(plan.weeksRecorded > 2.9)

        let tooLong = await #expect(throws: CoreError.self) {
            try await fixture.desk.recommendation(duration: 30 * 86_400, tenantSlug: nil, by: fixture.operatorUser)
        }
        #expect(tooLong?.code == "invalid_duration")
    }
}
