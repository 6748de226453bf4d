import Foundation

/// Writes the status Atom feed (`/status/feed.atom`, RFC 4287): incident updates and maintenance notices.
///
/// One entry per incident update and per maintenance notice that has gone out (`created`, `rescheduled`,
/// `started`, `ended`, `cancelled`; the lead reminders are mail and banner only, since a feed reader already saw
/// the `created` entry). Newest first, at most ``maximumEntries``.
///
/// Entry ids are tag URIs (RFC 4151) built from the host and the stored ids, so they never change between
/// renders and a reader shows each entry once: `tag:HOST,2026:incident/ID/update/N` (updates are append-only) and
/// `tag:HOST,2026:maintenance/ID/NOTICE`. A window keeps only its latest reschedule, so only that one has an
/// entry (its id carries the instant, so a later reschedule is a new entry), and maintenance entries describe
/// the window's current times.
public enum StatusFeed {
    /// The most entries in one rendering; older ones drop off the end.
    public static let maximumEntries = 50
    /// The date in every tag URI: fixed for good, because ids must never change.
    static let tagDate = "2026"
    /// The maintenance notices that make feed entries, in the order they happen (ties on time keep this order).
    static let feedNotices: [MaintenanceNotice] = [.created, .rescheduled, .started, .ended, .cancelled]

    /// One `<entry>`.
    public struct Entry: Sendable, Hashable {
        /// The stable tag URI.
        public var id: String
        public var title: String
        public var updated: Date
        /// Plain text.
        public var content: String
        /// `incident` or `maintenance`.
        public var category: String
        /// Orders entries with the same `updated`: later in the same story comes first.
        var rank: Int
    }

    /// The entries, newest first, at most ``maximumEntries``.
    /// - Parameters:
    ///   - host: The service's public host name, fixed by configuration: it is part of every id.
    ///   - timeZone: The zone in which maintenance times are written.
    public static func entries(incidents: [Incident], windows: [MaintenanceWindow], host: String, timeZone: TimeZone) -> [Entry] {
        var entries: [Entry] = []
        for incident in incidents {
            for (index, update) in incident.updates.enumerated() {
                entries.append(
                    Entry(
                        id: "tag:\(host),\(Self.tagDate):incident/\(incident.id)/update/\(index)",
                        title: "\(incident.title): \(update.status.rawValue)", updated: update.at, content: update.body,
                        category: "incident", rank: index))
            }
        }
        for window in windows {
            for (rank, notice) in Self.feedNotices.enumerated() where window.noticesSent.contains(notice) {
                guard let (at, suffix) = Self.occurrence(of: notice, in: window) else { continue }
                let text = MaintenanceNoticeText(notice, for: window, timeZone: timeZone)
                entries.append(
                    Entry(
                        id: "tag:\(host),\(Self.tagDate):maintenance/\(window.id)/\(suffix)", title: text.subject, updated: at,
                        content: text.body, category: "maintenance", rank: rank))
            }
        }
        let sorted = entries.sorted { ($0.updated, $0.rank, $0.id) > ($1.updated, $1.rank, $1.id) }
        return Array(sorted.prefix(Self.maximumEntries))
    }

    /// The feed document.
    /// - Parameters:
    ///   - baseURL: The service's public address (`https://holdfast.example`); its host goes into the ids, and the
    ///     links point to `/status` and `/status/feed.atom` under it.
    ///   - now: The feed's `updated` when it has no entries yet; otherwise the newest entry's time, so an unchanged
    ///     feed renders byte for byte the same.
    public static func render(
        incidents: [Incident], windows: [MaintenanceWindow], baseURL: URL, timeZone: TimeZone, now: Date
    ) -> String {
        let host = baseURL.host() ?? "localhost"
        var base = baseURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        let entries = self.entries(incidents: incidents, windows: windows, host: host, timeZone: timeZone)
        let page = XMLText.escaped(base + "/status")
        var lines = [
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
            "<feed xmlns=\"http://www.w3.org/2005/Atom\">",
            "  <id>\(XMLText.escaped("tag:\(host),\(Self.tagDate):status"))</id>",
            "  <title>Holdfast status</title>",
            "  <updated>\(UTCTimestamp.rfc3339(entries.first?.updated ?? now))</updated>",
            "  <link rel=\"self\" type=\"application/atom+xml\" href=\"\(XMLText.escaped(base + "/status/feed.atom"))\"/>",
            "  <link rel=\"alternate\" type=\"text/html\" href=\"\(page)\"/>",
            "  <author><name>Holdfast</name></author>",
        ]
        for entry in entries {
            lines += [
                "  <entry>",
                "    <id>\(XMLText.escaped(entry.id))</id>",
                "    <title type=\"text\">\(XMLText.escaped(entry.title))</title>",
                "    <updated>\(UTCTimestamp.rfc3339(entry.updated))</updated>",
                "    <link rel=\"alternate\" type=\"text/html\" href=\"\(page)\"/>",
                "    <category term=\"\(entry.category)\"/>",
                "    <content type=\"text\">\(XMLText.escaped(entry.content))</content>",
                "  </entry>",
            ]
        }
        lines.append("</feed>")
        return lines.joined(separator: "\n") + "\n"
    }

    /// When a notice happened and the last part of its entry id; `nil` if the window lacks the instant.
    private static func occurrence(of notice: MaintenanceNotice, in window: MaintenanceWindow) -> (Date, String)? {
        switch notice {
        case .created: (window.createdAt, "created")
        case .rescheduled: window.rescheduledAt.map { ($0, "rescheduled/\(UTCTimestamp.basic($0))") }
        case .started: (window.startsAt, "started")
        case .ended: (window.endsAt, "ended")
        case .cancelled: window.cancelledAt.map { ($0, "cancelled") }
        case .reminder24h, .reminder1h: nil
        }
    }

}
