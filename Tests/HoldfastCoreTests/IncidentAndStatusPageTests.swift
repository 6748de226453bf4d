import Foundation
import HoldfastCore
import Testing

@Suite("Incidents and the status page")
struct IncidentAndStatusPageTests {
    typealias F = StatusFixture
    let now = StatusFixture.start

    func incident(
        _ title: String = "Sessions do not start", components: Set<StatusComponent> = [.sessions], impact: IncidentImpact = .majorOutage,
        at instant: Date = StatusFixture.start
    ) throws -> Incident {
        try Incident.open(title: title, components: components, impact: impact, body: "We are looking into it.", at: instant)
    }

    @Test("Opening records the first message as update 0; the rules have their codes")
    func open() throws {
        let incident = try self.incident()
        #expect(incident.status == .investigating && incident.isOpen && incident.resolvedAt == nil)
        #expect(incident.updates == [IncidentUpdate(at: self.now, status: .investigating, body: "We are looking into it.")])
        #expect(
            F.code { _ = try Incident.open(title: " ", components: [.portal], impact: .degraded, body: "x", at: self.now) }
                == "invalid_title")
        #expect(
            F.code { _ = try Incident.open(title: "t", components: [], impact: .degraded, body: "x", at: self.now) } == "invalid_components"
        )
        #expect(
            F.code { _ = try Incident.open(title: "t", components: [.portal], impact: .degraded, body: "\n", at: self.now) }
                == "invalid_body")
        #expect(F.code { _ = try IncidentImpact(validating: "meltdown") } == "invalid_impact")
        #expect(F.code { _ = try IncidentStatus(validating: "fixed") } == "invalid_status")
        let postmortem = try Incident.open(
            title: "Night outage", components: [.storage], impact: .partialOutage, status: .resolved, body: "It happened.", at: self.now)
        #expect(!postmortem.isOpen && postmortem.resolvedAt == self.now)
    }

    @Test("Updates append, set the status and impact; resolved sets resolvedAt and takes no more updates")
    func updates() throws {
        var incident = try self.incident()
        try incident.post(status: .identified, body: "A bad config.", impact: .partialOutage, at: F.at(hours: 1))
        #expect(incident.status == .identified && incident.impact == .partialOutage && incident.resolvedAt == nil)
        try incident.post(status: .monitoring, body: "Fixed, watching.", at: F.at(hours: 2))
        #expect(incident.impact == .partialOutage)
        #expect(F.code { try incident.post(status: .resolved, body: " ", at: F.at(hours: 3)) } == "invalid_body")
        #expect(
            F.code { try incident.post(status: .resolved, body: String(repeating: "b", count: 10_001), at: F.at(hours: 3)) }
                == "invalid_body")
        #expect(incident.isOpen)
        try incident.post(status: .resolved, body: String(repeating: "b", count: 10_000), at: F.at(hours: 3))
        #expect(!incident.isOpen && incident.resolvedAt == F.at(hours: 3))
        #expect(incident.updates.map(\.status) == [.investigating, .identified, .monitoring, .resolved])
        let before = incident
        do {
            try incident.post(status: .investigating, body: "It is back.", at: F.at(hours: 4))
            Issue.record("a resolved incident took an update")
        } catch let error as CoreError {
            #expect(error.kind == .conflict && error.code == "incident_resolved")
            #expect(error.message.contains("open a new incident"))
        }
        #expect(incident == before)
    }

    @Test("Nothing open: every component is operational, and no maintenance is listed")
    func allOperational() throws {
        var resolved = try self.incident()
        try resolved.post(status: .resolved, body: "Fixed.", at: F.at(hours: 1))
        let page = StatusPage.compute(incidents: [resolved], windows: [], at: F.at(hours: 2))
        #expect(page.components.map(\.component) == StatusComponent.allCases)
        #expect(page.components.allSatisfy { $0.state == .operational } && page.overall == .operational)
        #expect(page.openIncidents.isEmpty && page.currentMaintenance.isEmpty && page.upcomingMaintenance.isEmpty)
    }

    @Test("The worst open incident wins per component; other components stay operational")
    func worstIncidentWins() throws {
        let slow = try self.incident("Slow", components: [.sessions, .portal], impact: .degraded, at: F.at(hours: -2))
        let down = try self.incident("Down", components: [.sessions], impact: .majorOutage, at: F.at(hours: -1))
        let page = StatusPage.compute(incidents: [slow, down], windows: [], at: self.now)
        #expect(page.state(of: .sessions) == .majorOutage)
        #expect(page.state(of: .portal) == .degraded)
        #expect(page.state(of: .storage) == .operational && page.state(of: .support) == .operational)
        #expect(page.overall == .majorOutage)
        #expect(page.openIncidents.map(\.title) == ["Down", "Slow"])
    }

    @Test(
        "Maintenance underway shows unless an outage is worse; a slowdown does not hide it",
        arguments: [
            (IncidentImpact?.none, ComponentState.underMaintenance), (.degraded, .underMaintenance), (.partialOutage, .partialOutage),
            (.majorOutage, .majorOutage),
        ])
    func maintenancePrecedence(impact: IncidentImpact?, expected: ComponentState) throws {
        var window = try F.schedule(components: [.storage])
        _ = window.tick(now: self.now)
        let incidents = try impact.map { [try self.incident(components: [.storage], impact: $0)] } ?? []
        let page = StatusPage.compute(incidents: incidents, windows: [window.window], at: F.at(hours: 1))
        #expect(page.state(of: .storage) == expected)
        #expect(page.state(of: .sessions) == .operational)
        #expect(page.currentMaintenance.map(\.id) == [window.window.id])
    }

    @Test("Upcoming and current maintenance follow the clock even between ticks; cancelled and finished ones are left out")
    func maintenanceLists() throws {
        let unticked = try F.schedule(components: [.portal]).window  // state still scheduled, but its start has passed
        let later = try F.schedule(title: "Later", startsAt: F.at(hours: 30), components: [.portal]).window
        let soon = try F.schedule(title: "Soon", startsAt: F.at(hours: 5), components: [.support]).window
        var cancelled = try F.schedule(title: "Off", startsAt: F.at(hours: 6), components: [.storage])
        _ = try cancelled.cancel(at: F.at(hours: -1))
        var overran = try F.schedule(title: "Over", startsAt: F.at(hours: -47), length: F.hour, components: [.storage])
        _ = overran.tick(now: F.at(hours: -46.5))  // in progress, but its end has passed without a tick
        let page = StatusPage.compute(
            incidents: [], windows: [later, cancelled.window, soon, unticked, overran.window], at: F.at(hours: 1))
        #expect(page.currentMaintenance.map(\.title) == ["Kernel upgrade"])
        #expect(page.upcomingMaintenance.map(\.title) == ["Soon", "Later"])
        #expect(page.state(of: .portal) == .underMaintenance)
        #expect(page.state(of: .storage) == .operational && page.state(of: .support) == .operational)
        #expect(page.overall == .underMaintenance)
    }

    @Test("The page encodes with wire words")
    func wire() throws {
        let page = StatusPage.compute(incidents: [try self.incident(impact: .partialOutage)], windows: [], at: self.now)
        let json = String(decoding: try JSONEncoder().encode(page), as: UTF8.self)
        #expect(json.contains(#""state":"partial-outage""#) && json.contains(#""component":"sessions""#))
        #expect(try JSONDecoder().decode(StatusPage.self, from: Data(json.utf8)) == page)
    }
}
