import Foundation
import HoldfastCore
import Testing

@Suite("Maintenance calendar feed (RFC 5545)")
struct MaintenanceCalendarTests {
    typealias F = StatusFixture
    let host = "status.holdfast.example"
    let now = StatusFixture.at(hours: -10)

    /// Undoes folding (CRLF followed by one space) on the octets, as RFC 5545 §3.1 defines it, and splits into
    /// content lines.
    func unfolded(_ feed: String) -> [String] {
        var octets: [UInt8] = []
        let bytes = Array(feed.utf8)
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x0D, index + 2 < bytes.count, bytes[index + 1] == 0x0A, bytes[index + 2] == 0x20 {
                index += 3
            } else {
                octets.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: octets, as: UTF8.self).components(separatedBy: "\r\n").filter { !$0.isEmpty }
    }

    /// Undoes TEXT escaping.
    func unescaped(_ value: String) -> String {
        var result = ""
        var escaping = false
        for character in value {
            if escaping {
                result.append(character == "n" || character == "N" ? "\n" : character)
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// The value of the first `name` property in each `VEVENT`, in order.
    func values(_ name: String, in feed: String) -> [String] {
        self.unfolded(feed).filter { $0.hasPrefix(name + ":") }.map { String($0.dropFirst(name.count + 1)) }
    }

    @Test("The calendar has its header, one event per window, CRLF everywhere and UTC times")
    func shape() throws {
        let window = try F.schedule(details: "Reboot the hosts.").window
        let feed = MaintenanceCalendar.render(windows: [window], host: self.host, now: self.now)
        let lines = self.unfolded(feed)
        #expect(
            Array(lines.prefix(6)) == [
                "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Holdfast//Maintenance//EN", "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
                "X-WR-CALNAME:Holdfast maintenance",
            ])
        #expect(lines.last == "END:VCALENDAR")
        #expect(feed.hasSuffix("END:VCALENDAR\r\n"))
        // Every LF is part of a CRLF.
        let bytes = Array(feed.utf8)
        #expect(bytes.indices.allSatisfy { bytes[$0] != 0x0A || ($0 > 0 && bytes[$0 - 1] == 0x0D) })
        #expect(bytes.indices.allSatisfy { bytes[$0] != 0x0D || ($0 + 1 < bytes.count && bytes[$0 + 1] == 0x0A) })
        let event = Array(lines.drop { $0 != "BEGIN:VEVENT" })
        #expect(event.contains("UID:\(window.id)@status.holdfast.example"))
        #expect(event.contains("DTSTAMP:20261130T160000Z"))
        #expect(event.contains("DTSTART:20261201T020000Z") && event.contains("DTEND:20261201T040000Z"))
        #expect(event.contains("SUMMARY:Kernel upgrade") && event.contains("SEQUENCE:0") && event.contains("STATUS:CONFIRMED"))
        #expect(event.contains("LAST-MODIFIED:20261129T020000Z") && event.contains("CATEGORIES:MAINTENANCE"))
        #expect(
            self.values("DESCRIPTION", in: feed).map(self.unescaped) == [
                "Reboot the hosts.\n\nAffects sessions.\n\nLive sessions will be saved and closed at the start; nothing is lost."
            ])
    }

    @Test("A reschedule keeps the UID and raises SEQUENCE; a cancellation is published as CANCELLED")
    func rescheduleAndCancel() throws {
        var machine = try F.schedule()
        let before = MaintenanceCalendar.render(windows: [machine.window], host: self.host, now: self.now)
        _ = try machine.reschedule(startsAt: F.at(hours: 24), endsAt: F.at(hours: 25), others: [], at: self.now)
        let moved = MaintenanceCalendar.render(windows: [machine.window], host: self.host, now: self.now)
        #expect(self.values("UID", in: before) == self.values("UID", in: moved))
        #expect(self.values("SEQUENCE", in: moved) == ["1"] && self.values("DTSTART", in: moved) == ["20261202T020000Z"])
        #expect(self.values("LAST-MODIFIED", in: moved) == ["20261130T160000Z"])
        _ = try machine.cancel(at: self.now)
        let cancelled = MaintenanceCalendar.render(windows: [machine.window], host: self.host, now: self.now)
        #expect(self.values("STATUS", in: cancelled) == ["CANCELLED"] && self.values("SEQUENCE", in: cancelled) == ["2"])
    }

    @Test("Active windows are always in; cancelled and completed ones only for 7 days")
    func whichWindows() throws {
        let active = try F.schedule(title: "Active").window
        var cancelled = try F.schedule(title: "Cancelled", startsAt: F.at(hours: 5), components: [.portal])
        _ = try cancelled.cancel(at: F.at(hours: -40))
        var completed = try F.schedule(title: "Completed", startsAt: F.at(hours: -47), length: F.hour, components: [.storage])
        _ = completed.tick(now: F.at(hours: -46))
        let windows = [completed.window, cancelled.window, active]
        let titles = { (now: Date) in self.values("SUMMARY", in: MaintenanceCalendar.render(windows: windows, host: self.host, now: now)) }
        #expect(titles(F.at(hours: -10)) == ["Completed", "Active", "Cancelled"])
        // Completed at -46 h and cancelled at -40 h: each kept for 7 days from then.
        #expect(titles(F.at(hours: -46 + 7 * 24)) == ["Completed", "Active", "Cancelled"])
        #expect(titles(F.at(hours: -40 + 7 * 24)) == ["Active", "Cancelled"])
        #expect(titles(F.at(hours: -40 + 7 * 24 + 0.5)) == ["Active"])
        #expect(MaintenanceCalendar.includes(completed.window, at: F.at(hours: -46 + 7 * 24)))
        #expect(!MaintenanceCalendar.includes(completed.window, at: F.at(hours: -46 + 7 * 24 + 1)))
    }

    @Test("TEXT values escape backslash, semicolon, comma and line breaks, and drop other control characters")
    func escaping() throws {
        let details = "Path C:\\data; disks a, b\r\nline two\nline three\u{7}"
        let window = try F.schedule(title: "A; B, C \\ D", details: details).window
        let feed = MaintenanceCalendar.render(windows: [window], host: self.host, now: self.now)
        #expect(self.values("SUMMARY", in: feed) == [#"A\; B\, C \\ D"#])
        let description = try #require(self.values("DESCRIPTION", in: feed).first)
        #expect(description.hasPrefix(#"Path C:\\data\; disks a\, b\nline two\nline three\n\nAffects sessions."#))
        #expect(self.unescaped(description).hasPrefix("Path C:\\data; disks a, b\nline two\nline three\n\n"))
        #expect(!feed.utf8.contains(0x07))
    }

    @Test("Long multi-byte lines fold at 75 octets without splitting a UTF-8 sequence, and unfold to the text")
    func folding() throws {
        let title = String(repeating: "Wartung für Sitzungen — 維護作業 🛠️ ", count: 5).trimmingCharacters(in: .whitespaces)
        let details = String(repeating: "ü€😀a", count: 300)
        let window = try F.schedule(title: title, details: details).window
        let feed = MaintenanceCalendar.render(windows: [window], host: self.host, now: self.now)
        let physical = feed.utf8.split(separator: 0x0A).map { Array($0) }
        #expect(physical.count > 30)
        for line in physical {
            #expect(line.last == 0x0D)
            let content = line.dropLast()
            #expect(content.count <= 75)
            // Each physical line is valid UTF-8 on its own: no sequence was cut.
            #expect(String(validating: content, as: UTF8.self) != nil)
        }
        // Every physical line that starts with a space is a continuation: unfolding joins exactly those.
        let continuations = physical.filter { $0.first == 0x20 }
        #expect(continuations.count == physical.count - self.unfolded(feed).count)
        #expect(self.values("SUMMARY", in: feed).map(self.unescaped) == [title])
        #expect(self.values("DESCRIPTION", in: feed).first.map(self.unescaped)?.hasPrefix(details) == true)
    }

    @Test("Folds fall between visible characters; only a cluster longer than a line is split between code points")
    func foldingKeepsCharacters() throws {
        // 63 ASCII octets after "SUMMARY:" leave 4: room for U+1F6E0 but not for 🛠️ (U+1F6E0 U+FE0F, 7 octets),
        // which moves whole to the next line.
        let title = String(repeating: "x", count: 63) + "🛠️ done"
        let window = try F.schedule(title: title).window
        let feed = MaintenanceCalendar.render(windows: [window], host: self.host, now: self.now)
        #expect(feed.contains("SUMMARY:" + String(repeating: "x", count: 63) + "\r\n 🛠️ done\r\n"))
        // One "character" of 1 + 60 × 2 octets (a letter with 60 combining accents) must still fold.
        let long = "e" + String(repeating: "\u{301}", count: 60)
        let folded = try F.schedule(title: long).window
        let longFeed = MaintenanceCalendar.render(windows: [folded], host: self.host, now: self.now)
        #expect(longFeed.utf8.split(separator: 0x0A).allSatisfy { $0.count <= 76 })
        #expect(self.values("SUMMARY", in: longFeed) == [long])
    }

    @Test("A line of exactly 75 octets is not folded; 76 octets are")
    func foldingBoundary() throws {
        let exact = try F.schedule(title: String(repeating: "x", count: 75 - "SUMMARY:".count)).window
        let exactFeed = MaintenanceCalendar.render(windows: [exact], host: self.host, now: self.now)
        #expect(exactFeed.components(separatedBy: "\r\n").contains("SUMMARY:" + exact.title))
        let over = try F.schedule(title: String(repeating: "x", count: 76 - "SUMMARY:".count)).window
        let overFeed = MaintenanceCalendar.render(windows: [over], host: self.host, now: self.now)
        #expect(overFeed.contains("SUMMARY:" + String(repeating: "x", count: 67) + "\r\n x\r\n"))
    }

    @Test("Holdfast's own iCalendar reader understands the feed's dates")
    func readableByTheHolidayImport() throws {
        let window = try F.schedule(startsAt: F.at(hours: 23), length: 2 * F.hour).window
        let feed = MaintenanceCalendar.render(windows: [window], host: self.host, now: self.now)
        let dates = try ICalHolidayImport.holidays(fromFeed: feed, timeZone: TimeZone(identifier: "UTC")!)
        #expect(dates == [try LocalDate("2026-12-02")])
    }
}
