import Foundation

/// Instants as the feeds write them, in UTC to the whole second.
///
/// Plain integer arithmetic on the calendar's own day numbers (``LocalDate``) rather than a formatter: the output
/// is fixed by the RFCs, must not depend on the machine's locale, and is the same on every platform.
public enum UTCTimestamp {
    /// RFC 5545 `DATE-TIME` in UTC, as in `DTSTART`: `20261201T020000Z`.
    public static func basic(_ instant: Date) -> String {
        let (date, seconds) = self.split(instant)
        return "\(FixedDigits.pad(date.year, 4))\(FixedDigits.pad(date.month, 2))\(FixedDigits.pad(date.day, 2))T"
            + "\(FixedDigits.pad(seconds / 3600, 2))\(FixedDigits.pad(seconds / 60 % 60, 2))\(FixedDigits.pad(seconds % 60, 2))Z"
    }

    /// RFC 3339 in UTC, as in Atom's `updated`: `2026-12-01T02:00:00Z`.
    public static func rfc3339(_ instant: Date) -> String {
        let (date, seconds) = self.split(instant)
        return "\(date)T\(FixedDigits.pad(seconds / 3600, 2)):\(FixedDigits.pad(seconds / 60 % 60, 2)):\(FixedDigits.pad(seconds % 60, 2))Z"
    }

    /// The UTC date and the whole seconds into it (fractions dropped, also before 1970).
    private static func split(_ instant: Date) -> (LocalDate, Int) {
        let total = Int(instant.timeIntervalSince1970.rounded(.down))
        let day = Int((Double(total) / 86_400).rounded(.down))
        return (LocalDate(dayNumber: day), total - day * 86_400)
    }
}
