import Foundation
import HoldfastCore
import Testing

@Suite("SLA policies")
struct SLAPolicyTests {
    let urgentOutages = SLAPolicySet(policies: [
        SLAPolicy(name: "urgent outage", kinds: ["outage"], priorities: ["urgent"], firstResponseMinutes: 30),
        SLAPolicy(name: "urgent anything", priorities: ["urgent"], firstResponseMinutes: 60),
        SLAPolicy(name: "standard", kinds: ["bug", "outage", "question"], firstResponseMinutes: 240),
    ])

    @Test("The default set promises 4 business hours for bugs, outages and questions, and nothing else")
    func standardSet() {
        for kind in ["bug", "outage", "question"] {
            #expect(SLAPolicySet.standard.match(kind: kind, priority: "normal")?.firstResponseMinutes == 240)
            #expect(SLAPolicySet.standard.match(kind: kind, priority: "urgent")?.name == "standard")
        }
        #expect(SLAPolicySet.standard.match(kind: "feature", priority: "normal") == nil)
    }

    @Test("The first policy that covers a ticket wins, even when a later one also covers it")
    func firstMatchWins() {
        #expect(self.urgentOutages.match(kind: "outage", priority: "urgent")?.name == "urgent outage")
        #expect(self.urgentOutages.match(kind: "bug", priority: "urgent")?.name == "urgent anything")
        #expect(self.urgentOutages.match(kind: "feature", priority: "urgent")?.name == "urgent anything")
        #expect(self.urgentOutages.match(kind: "outage", priority: "low")?.name == "standard")
        #expect(self.urgentOutages.match(kind: "feature", priority: "low") == nil)
        #expect(SLAPolicySet(policies: []).match(kind: "bug", priority: "urgent") == nil)
    }

    @Test("The first response to a ticket filed on Friday at 16:00 is due on Monday at 12:00")
    func firstResponseDue() throws {
        let calendar = try BusinessCalendar.standard(timeZone: "Europe/London")
        let filed = try isoInstant("2026-03-06T16:00:00Z")
        #expect(
            try SLAPolicySet.standard.firstResponseDue(filedAt: filed, kind: "bug", priority: "normal", calendar: calendar)
                == isoInstant("2026-03-09T12:00:00Z")
        )
        #expect(
            try self.urgentOutages.firstResponseDue(filedAt: filed, kind: "outage", priority: "urgent", calendar: calendar)
                == isoInstant("2026-03-06T16:30:00Z")
        )
        let waiting = [try pauseRange("2026-03-09T09:00:00Z", "2026-03-09T10:00:00Z")]
        #expect(
            try SLAPolicySet.standard.firstResponseDue(
                filedAt: filed, kind: "question", priority: "low", calendar: calendar, pauses: waiting)
                == isoInstant("2026-03-09T13:00:00Z")
        )
        #expect(try SLAPolicySet.standard.firstResponseDue(filedAt: filed, kind: "feature", priority: "low", calendar: calendar) == nil)
    }

    @Test("A policy with a negative promise fails with a clear error rather than a due date in the past")
    func negativePromise() throws {
        let broken = SLAPolicySet(policies: [SLAPolicy(name: "broken", firstResponseMinutes: -1)])
        let error = #expect(throws: CalendarError.self) {
            try broken.firstResponseDue(
                filedAt: isoInstant("2026-03-06T16:00:00Z"), kind: "bug", priority: "normal", calendar: .standard()
            )
        }
        #expect(error?.code == "invalid_duration")
    }

    @Test("Policy sets round-trip through JSON, with nil meaning any kind or priority")
    func coding() throws {
        let data = try JSONEncoder().encode(self.urgentOutages)
        #expect(try JSONDecoder().decode(SLAPolicySet.self, from: data) == self.urgentOutages)
        let decoded = try JSONDecoder().decode(
            SLAPolicy.self, from: Data(#"{"name":"all","firstResponseMinutes":120}"#.utf8)
        )
        #expect(decoded.kinds == nil && decoded.priorities == nil)
        #expect(decoded.covers(kind: "anything", priority: "whatever"))
    }
}
