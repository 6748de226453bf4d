import Foundation
import HoldfastCore
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

@Suite("Status Atom feed (RFC 4287)")
struct StatusFeedTests {
    typealias F = StatusFixture
    let baseURL = URL(string: "https://status.holdfast.example/")!
    let utc = TimeZone(identifier: "UTC")!

    /// Parses the feed with Foundation's XML parser and collects the text of every element by name.
    final class Collector: NSObject, XMLParserDelegate {
        var texts: [String: [String]] = [:]
        var attributes: [[String: String]] = []
        private var stack: [(name: String, text: String)] = []

        func parser(
            _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            self.stack.append((elementName, ""))
            if elementName == "link" { self.attributes.append(attributes) }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if !self.stack.isEmpty { self.stack[self.stack.count - 1].text += string }
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            let element = self.stack.removeLast()
            self.texts[element.name, default: []].append(element.text)
        }
    }

    func parse(_ feed: String) throws -> Collector {
        let parser = XMLParser(data: Data(feed.utf8))
        let collector = Collector()
        parser.delegate = collector
        #expect(parser.parse(), "not well-formed: \(String(describing: parser.parserError))")
        return collector
    }

    func incident(_ title: String, at instant: Date) throws -> Incident {
        try Incident.open(title: title, components: [.sessions], impact: .majorOutage, body: "Looking into it.", at: instant)
    }

    @Test("Well-formed XML with feed id, title, updated (the newest entry) and self link")
    func wellFormed() throws {
        var incident = try self.incident("Sessions do not start", at: F.at(hours: -3))
        try incident.post(status: .resolved, body: "Fixed & verified <really>.", at: F.at(hours: -2))
        var window = try F.schedule()
        _ = window.tick(now: F.start)
        let feed = StatusFeed.render(
            incidents: [incident], windows: [window.window], baseURL: self.baseURL, timeZone: self.utc, now: F.at(hours: 1))
        #expect(feed.hasPrefix("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">"))
        let parsed = try self.parse(feed)
        #expect(parsed.texts["id"]?.first == "tag:status.holdfast.example,2026:status")
        #expect(parsed.texts["title"]?.first == "Holdfast status")
        #expect(parsed.texts["updated"]?.first == "2026-12-01T02:00:00Z")
        #expect(
            parsed.attributes.first == [
                "rel": "self", "type": "application/atom+xml", "href": "https://status.holdfast.example/status/feed.atom",
            ])
        #expect(parsed.texts["entry"]?.count == 4)
        #expect(parsed.texts["content"]?.contains("Fixed & verified <really>.") == true)
    }

    @Test("Titles and bodies come out escaped: a <script> is text, never markup")
    func escaping() throws {
        let incident = try Incident.open(
            title: "<script>alert('x')</script> & \"co\"", components: [.portal], impact: .degraded, body: "a < b > c \u{1}done",
            at: F.start)
        let feed = StatusFeed.render(incidents: [incident], windows: [], baseURL: self.baseURL, timeZone: self.utc, now: F.start)
        #expect(!feed.contains("<script>"))
        #expect(feed.contains("&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; &quot;co&quot;: investigating"))
        let parsed = try self.parse(feed)
        #expect(parsed.texts["title"]?.last == "<script>alert('x')</script> & \"co\": investigating")
        #expect(parsed.texts["content"] == ["a < b > c done"])
    }

    @Test("One entry per incident update and per maintenance notice sent, newest first, with stable ids")
    func entriesAndOrder() throws {
        var incident = try self.incident("Storage slow", at: F.at(hours: -5))
        try incident.post(status: .identified, body: "Disk full.", at: F.at(hours: -4))
        var window = try F.schedule(title: "Kernel upgrade")
        _ = window.tick(now: F.at(hours: -24))  // a reminder: mail and banner only, no feed entry
        _ = try window.reschedule(startsAt: F.at(hours: 1), endsAt: F.at(hours: 3), others: [], at: F.at(hours: -6))
        _ = window.tick(now: F.at(hours: 1))
        _ = window.tick(now: F.at(hours: 3))
        var cancelled = try F.schedule(title: "Portal move", components: [.portal], createdAt: F.at(hours: -47))
        _ = try cancelled.cancel(at: F.at(hours: -7))
        let entries = StatusFeed.entries(
            incidents: [incident], windows: [window.window, cancelled.window], host: "status.holdfast.example", timeZone: self.utc)
        let id = window.window.id
        #expect(
            entries.map(\.id) == [
                "tag:status.holdfast.example,2026:maintenance/\(id)/ended",
                "tag:status.holdfast.example,2026:maintenance/\(id)/started",
                "tag:status.holdfast.example,2026:incident/\(incident.id)/update/1",
                "tag:status.holdfast.example,2026:incident/\(incident.id)/update/0",
                "tag:status.holdfast.example,2026:maintenance/\(id)/rescheduled/20261130T200000Z",
                "tag:status.holdfast.example,2026:maintenance/\(cancelled.window.id)/cancelled",
                "tag:status.holdfast.example,2026:maintenance/\(cancelled.window.id)/created",
                "tag:status.holdfast.example,2026:maintenance/\(id)/created",
            ])
        #expect(entries.map(\.title).prefix(2) == ["Maintenance completed: Kernel upgrade", "Maintenance started: Kernel upgrade"])
        #expect(entries.map(\.updated) == entries.map(\.updated).sorted(by: >))
        // Rendering again gives the same ids.
        let again = StatusFeed.entries(
            incidents: [incident], windows: [cancelled.window, window.window], host: "status.holdfast.example", timeZone: self.utc)
        #expect(again.map(\.id) == entries.map(\.id))
    }

    @Test("At most 50 entries: the newest ones")
    func limit() throws {
        var incident = try self.incident("Flapping", at: F.start)
        for minute in 1...59 {
            try incident.post(status: .monitoring, body: "Update \(minute).", at: F.start.addingTimeInterval(Double(minute) * 60))
        }
        let feed = StatusFeed.render(incidents: [incident], windows: [], baseURL: self.baseURL, timeZone: self.utc, now: F.at(hours: 2))
        let parsed = try self.parse(feed)
        #expect(parsed.texts["entry"]?.count == 50)
        #expect(parsed.texts["content"]?.first == "Update 59." && parsed.texts["content"]?.last == "Update 10.")
        #expect(parsed.texts["updated"]?.first == "2026-12-01T02:59:00Z")
    }

    @Test("An empty feed is still valid, its updated time is now")
    func empty() throws {
        let feed = StatusFeed.render(incidents: [], windows: [], baseURL: self.baseURL, timeZone: self.utc, now: F.start)
        let parsed = try self.parse(feed)
        #expect(parsed.texts["entry"] == nil && parsed.texts["updated"] == ["2026-12-01T02:00:00Z"])
    }

    @Test("Timestamps are RFC 3339 in UTC, also before 1970 and with fractions dropped")
    func timestamps() {
        #expect(UTCTimestamp.rfc3339(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
        #expect(UTCTimestamp.rfc3339(Date(timeIntervalSince1970: -1.5)) == "1969-12-31T23:59:58Z")
        #expect(UTCTimestamp.rfc3339(Date(timeIntervalSince1970: 1_796_090_400.999)) == "2026-12-01T02:00:00Z")
        #expect(UTCTimestamp.basic(Date(timeIntervalSince1970: 951_782_400 + 86_399)) == "20000229T235959Z")
    }
}
