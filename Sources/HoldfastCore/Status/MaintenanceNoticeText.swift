import Foundation

/// The words of a maintenance notice: a mail's subject and body, and the one-sentence in-session banner.
///
/// Times are on the reader's clock with the zone named (``SupportTimeText/dateAndTime(_:in:)``, as the support
/// desk's mails), and lengths in the command line's notation (``DurationText``). Reminders never say "tomorrow"
/// or "in one hour": a clock that was down may send them late, so they give the start itself and a bound that is
/// always true ("within a day", "within the hour").
public struct MaintenanceNoticeText: Sendable, Hashable {
    /// For the mail's subject line and the feed entry's title; ends with the window's title.
    public var subject: String
    /// One sentence, for the in-session banner; also the first line of `body`.
    public var banner: String
    /// Plain text with `\n` line ends.
    public var body: String

    /// Renders `notice` about `window` for a reader in `timeZone`.
    public init(_ notice: MaintenanceNotice, for window: MaintenanceWindow, timeZone: TimeZone) {
        let what = "maintenance of " + Self.list(window.components)
        let start = SupportTimeText.dateAndTime(window.startsAt, in: timeZone)
        let end = SupportTimeText.dateAndTime(window.endsAt, in: timeZone)
        let length = DurationText.format(seconds: Int(window.endsAt.timeIntervalSince(window.startsAt).rounded()))
        let touchesSessions = window.components.contains(.sessions)
        var advice: String? = touchesSessions ? Self.sessionsPromise + " Start a new session when the work is done." : nil
        switch notice {
        case .created:
            self.subject = "Planned maintenance: \(window.title)"
            self.banner = "Planned \(what) on \(start), for \(length)."
        case .reminder24h:
            self.subject = "Maintenance reminder: \(window.title)"
            self.banner = "Planned \(what) starts within a day: \(start), for \(length)."
        case .reminder1h:
            self.subject = "Maintenance starting soon: \(window.title)"
            self.banner = "Planned \(what) starts within the hour: \(start), for \(length)."
        case .started:
            self.subject = "Maintenance started: \(window.title)"
            self.banner = "The \(what) has started; it is planned to end \(end)."
            advice = touchesSessions ? "Live sessions are being saved and closed; nothing is lost." : nil
        case .ended:
            self.subject = "Maintenance completed: \(window.title)"
            self.banner = "The \(what) is complete; everything is available again."
            advice = nil
        case .rescheduled:
            self.subject = "Maintenance moved: \(window.title)"
            self.banner = "Planned \(what) has moved to \(start), for \(length)."
        case .cancelled:
            self.subject = "Maintenance cancelled: \(window.title)"
            let wasUnderway = window.cancelledAt.map { $0 >= window.startsAt } ?? false
            self.banner =
                wasUnderway
                ? "The \(what) was stopped early; everything is available again."
                : "Planned \(what) on \(start) is cancelled; nothing will be interrupted."
            advice = nil
        }
        var lines = [self.banner, "", window.title]
        if let details = window.details { lines.append(details) }
        if let advice { lines += ["", advice] }
        lines += ["", "— Holdfast"]
        self.body = lines.joined(separator: "\n")
    }

    /// What a window on `sessions` means for people, said wherever the window is announced (mail, banner, calendar).
    public static let sessionsPromise = "Live sessions will be saved and closed at the start; nothing is lost."

    /// Component names as a reader lists them: `sessions`, `portal and sessions`, `portal, sessions and storage`.
    static func list(_ components: Set<StatusComponent>) -> String {
        let names = StatusComponent.sorted(components).map(\.rawValue)
        guard names.count > 1 else { return names.first ?? "" }
        return names.dropLast().joined(separator: ", ") + " and " + names.last!
    }
}

extension MaintenanceNoticeText {
    /// The notice as a row for the transactional outbox, written in the same transaction as the window; the kind
    /// is `maintenance-<notice>` (for example `maintenance-reminder-1h`), for the operator's view and metrics.
    public static func mail(
        _ notice: MaintenanceNotice, for window: MaintenanceWindow, to recipient: MailAddress, timeZone: TimeZone, at now: Date
    ) -> OutboxMessage {
        let text = MaintenanceNoticeText(notice, for: window, timeZone: timeZone)
        return OutboxMessage(
            kind: OutboxKind(rawValue: "maintenance-\(notice.rawValue)"), to: recipient, subject: text.subject, body: text.body,
            createdAt: now)
    }
}
