import Foundation
import HoldfastCore
import Testing

@Suite("Maintenance notice texts")
struct MaintenanceNoticeTextTests {
    typealias F = StatusFixture

    @Test("Created: components, start on the reader's clock with the zone, and the length; sessions get the promise")
    func created() throws {
        let window = try F.schedule(details: "New kernel on every host.").window
        let text = MaintenanceNoticeText(.created, for: window, timeZone: F.london)
        #expect(text.subject == "Planned maintenance: Kernel upgrade")
        #expect(text.banner == "Planned maintenance of sessions on Tuesday 1 December, 02:00 (Europe/London), for 2h.")
        #expect(
            text.body == """
                Planned maintenance of sessions on Tuesday 1 December, 02:00 (Europe/London), for 2h.

                Kernel upgrade
                New kernel on every host.

                Live sessions will be saved and closed at the start; nothing is lost. Start a new session when the work is done.

                — Holdfast
                """)
    }

    @Test("Times follow the reader's zone, across the date line")
    func otherZone() throws {
        let window = try F.schedule(length: 90 * 60, components: [.storage, .portal]).window
        let text = MaintenanceNoticeText(.created, for: window, timeZone: TimeZone(identifier: "Australia/Sydney")!)
        #expect(text.banner == "Planned maintenance of portal and storage on Tuesday 1 December, 13:00 (Australia/Sydney), for 1h30m.")
        #expect(!text.body.contains("Live sessions"))
    }

    @Test("Every notice kind has its own subject and a banner that is one line")
    func everyKind() throws {
        var machine = try F.schedule(components: [.portal, .sessions, .storage])
        _ = try machine.reschedule(startsAt: F.start, endsAt: F.at(hours: 3), others: [], at: F.at(hours: -30))
        let texts = MaintenanceNotice.allCases.map { MaintenanceNoticeText($0, for: machine.window, timeZone: F.london) }
        #expect(Set(texts.map(\.subject)).count == MaintenanceNotice.allCases.count)
        #expect(
            texts.allSatisfy { !$0.banner.contains("\n") && $0.body.hasPrefix($0.banner + "\n") && $0.subject.hasSuffix("Kernel upgrade") })
        let banners = Dictionary(uniqueKeysWithValues: zip(MaintenanceNotice.allCases, texts.map(\.banner)))
        #expect(
            banners[.reminder24h]
                == "Planned maintenance of portal, sessions and storage starts within a day: Tuesday 1 December, 02:00 (Europe/London), for 3h."
        )
        #expect(banners[.reminder1h]?.contains("starts within the hour") == true)
        #expect(
            banners[.started]
                == "The maintenance of portal, sessions and storage has started; it is planned to end Tuesday 1 December, 05:00 (Europe/London)."
        )
        #expect(banners[.ended] == "The maintenance of portal, sessions and storage is complete; everything is available again.")
        #expect(
            banners[.rescheduled]
                == "Planned maintenance of portal, sessions and storage has moved to Tuesday 1 December, 02:00 (Europe/London), for 3h.")
    }

    @Test("A cancellation before the start says nothing will be interrupted; during the work, that it stopped early")
    func cancelled() throws {
        var before = try F.schedule()
        _ = try before.cancel(at: F.at(hours: -1))
        #expect(
            MaintenanceNoticeText(.cancelled, for: before.window, timeZone: F.london).banner
                == "Planned maintenance of sessions on Tuesday 1 December, 02:00 (Europe/London) is cancelled; nothing will be interrupted."
        )
        var during = try F.schedule()
        _ = during.tick(now: F.start)
        _ = try during.cancel(at: F.at(hours: 1))
        #expect(
            MaintenanceNoticeText(.cancelled, for: during.window, timeZone: F.london).banner
                == "The maintenance of sessions was stopped early; everything is available again.")
    }
}

extension MaintenanceNoticeTextTests {
    @Test("A notice becomes an outbox row with its own kind, the subject and the body, due at once")
    func outboxRow() throws {
        let window = try F.schedule().window
        let recipient = MailAddress(address: "ana@example.com", name: "Ana")
        let message = MaintenanceNoticeText.mail(.reminder1h, for: window, to: recipient, timeZone: F.london, at: F.at(hours: -1))
        let text = MaintenanceNoticeText(.reminder1h, for: window, timeZone: F.london)
        #expect(message.kind.rawValue == "maintenance-reminder-1h" && message.to == recipient)
        #expect(message.subject == text.subject && message.body == text.body)
        #expect(message.isDue(at: F.at(hours: -1)))
    }
}
