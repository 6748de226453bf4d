import Foundation

/// Writes the maintenance calendar feed (`/status/maintenance.ics`, RFC 5545) that people subscribe to.
///
/// Which windows are in it: every scheduled and in-progress window, and cancelled or completed ones for
/// ``keepFinished`` (a week) after they were cancelled or ended. Keeping a cancelled window for a while, with
/// `STATUS:CANCELLED` and a higher `SEQUENCE`, is what makes subscribed calendars remove it: a calendar client
/// that simply stops seeing an event may keep its old copy. After a week every client has refreshed.
///
/// Each window is one `VEVENT` whose `UID` (`<window id>@<host>`) never changes, so a reschedule updates the
/// subscriber's event instead of adding a second one. Times are in UTC; clients show them on their own clock.
public enum MaintenanceCalendar {
    /// How long a cancelled or completed window stays in the feed.
    public static let keepFinished: TimeInterval = 7 * 86_400

    /// Whether `window` belongs in the feed at `now` (see the type's documentation).
    public static func includes(_ window: MaintenanceWindow, at now: Date) -> Bool {
        switch window.state {
        case .scheduled, .inProgress:
            true
        case .completed:
            now.timeIntervalSince(window.endsAt) <= self.keepFinished
        case .cancelled:
            now.timeIntervalSince(window.cancelledAt ?? window.updatedAt) <= self.keepFinished
        }
    }

    /// The calendar: CRLF line ends, lines folded at 75 octets.
    ///
    /// - Parameters:
    ///   - windows: Stored windows; the ones that do not belong (see ``includes(_:at:)``) are left out.
    ///   - host: The service's public host name, fixed by configuration: it is part of every `UID`.
    ///   - now: The `DTSTAMP`: when this copy of the feed was made.
    public static func render(windows: [MaintenanceWindow], host: String, now: Date) -> String {
        var lines = [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Holdfast//Maintenance//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:Holdfast maintenance",
            // RFC 7986 and its older Microsoft spelling: ask subscribers to refresh hourly.
            "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
            "X-PUBLISHED-TTL:PT1H",
        ]
        let included = windows.filter { self.includes($0, at: now) }
            .sorted { ($0.startsAt, $0.id.description) < ($1.startsAt, $1.id.description) }
        for window in included {
            lines += [
                "BEGIN:VEVENT",
                "UID:" + self.escaped("\(window.id)@\(host)"),
                "DTSTAMP:" + UTCTimestamp.basic(now),
                "DTSTART:" + UTCTimestamp.basic(window.startsAt),
                "DTEND:" + UTCTimestamp.basic(window.endsAt),
                "SUMMARY:" + self.escaped(window.title),
                "DESCRIPTION:" + self.escaped(self.description(of: window)),
                "SEQUENCE:\(window.sequence)",
                "STATUS:" + (window.state == .cancelled ? "CANCELLED" : "CONFIRMED"),
                "CREATED:" + UTCTimestamp.basic(window.createdAt),
                "LAST-MODIFIED:" + UTCTimestamp.basic(window.updatedAt),
                "CATEGORIES:MAINTENANCE",
                "END:VEVENT",
            ]
        }
        lines.append("END:VCALENDAR")
        return lines.map(self.folded).joined(separator: "\r\n") + "\r\n"
    }

    /// The event's text: the details, then what is affected.
    static func description(of window: MaintenanceWindow) -> String {
        var parts = window.details.map { [$0] } ?? []
        parts.append("Affects \(MaintenanceNoticeText.list(window.components)).")
        if window.components.contains(.sessions) {
            parts.append(MaintenanceNoticeText.sessionsPromise)
        }
        return parts.joined(separator: "\n\n")
    }

    /// A `TEXT` value (RFC 5545 §3.3.11): backslash, semicolon and comma escaped, line breaks (CRLF, LF or CR)
    /// as `\n`, and other control characters dropped, since `TEXT` cannot carry them.
    static func escaped(_ text: String) -> String {
        var result = String.UnicodeScalarView()
        var afterCR = false
        for scalar in text.unicodeScalars {
            defer { afterCR = scalar == "\r" }
            switch scalar {
            case "\\", ";", ",":
                result.append("\\")
                result.append(scalar)
            case "\n" where afterCR:
                continue
            case "\n", "\r":
                result.append(contentsOf: "\\n".unicodeScalars)
            case "\t":
                result.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                continue
            default:
                result.append(scalar)
            }
        }
        return String(result)
    }

    /// Folds a content line (RFC 5545 §3.1): at most 75 octets per physical line, CRLF plus one space before each
    /// continuation, and never inside a UTF-8 sequence.
    ///
    /// Breaks fall between characters as people see them (grapheme clusters), not just between code points: the
    /// RFC allows a break between a letter and its accent or an emoji and its variation selector, but a client that
    /// unfolds on characters instead of octets would not find the line break there. Only a cluster too long for a
    /// line of its own is broken between its code points.
    static func folded(_ line: String) -> String {
        var result = String.UnicodeScalarView()
        var octets = 0
        func append(_ scalars: some Sequence<Unicode.Scalar>, size: Int) {
            if octets + size > 75 {
                result.append(contentsOf: "\r\n ".unicodeScalars)
                octets = 1
            }
            result.append(contentsOf: scalars)
            octets += size
        }
        for character in line {
            let size = character.utf8.count
            if size <= 74 {
                append(character.unicodeScalars, size: size)
            } else {
                for scalar in character.unicodeScalars { append(CollectionOfOne(scalar), size: UTF8.width(scalar)) }
            }
        }
        return String(result)
    }
}
