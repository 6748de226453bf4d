import Foundation

/// Reads holiday dates from an iCalendar feed (RFC 5545), such as a published public-holiday calendar.
///
/// Only what a holiday list needs is read: the `DTSTART` and `DTEND` of each `VEVENT` (not those of the
/// `VTIMEZONE` rules or alarms). An all-day event (`DTSTART;VALUE=DATE:20261225`) covers its start date up
/// to, not including, its `DTEND` date, or just the start date without one. An event with date-times covers
/// every date it touches; a UTC time (`…Z`) is read on the calendar's wall clock, any other time as written.
/// Recurrence rules are not expanded: holiday feeds list each year's dates, and everything else is ignored.
public enum ICalHolidayImport {
    /// Longer events are rejected rather than expanded, so a stray `DTEND` cannot add thousands of holidays.
    static let maximumEventDays = 366

    /// The holiday dates in `feed`.
    /// - Parameter timeZone: The business calendar's zone, in which UTC date-times are read.
    /// - Throws: `invalid_ical` for a date that cannot be read or an event longer than a year.
    public static func holidays(fromFeed feed: String, timeZone: TimeZone) throws(CalendarError) -> Set<LocalDate> {
        var holidays = Set<LocalDate>()
        var components: [String] = []
        var start: Moment?
        var end: Moment?
        for (number, line) in self.unfoldedLines(feed) {
            guard let colon = self.valueSeparator(in: line) else { continue }
            let name = line[..<colon].prefix { $0 != ";" }.uppercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch name {
            case "BEGIN":
                components.append(value.uppercased())
                if components.last == "VEVENT" { (start, end) = (nil, nil) }
            case "END":
                if components.popLast() == "VEVENT", let start {
                    holidays.formUnion(try self.dates(from: start, to: end, line: number))
                }
            case "DTSTART" where components.last == "VEVENT":
                start = try Moment(value, timeZone: timeZone, property: name, line: number)
            case "DTEND" where components.last == "VEVENT":
                end = try Moment(value, timeZone: timeZone, property: name, line: number)
            default:
                continue
            }
        }
        return holidays
    }

    /// The dates an event covers: from its start date up to its end, which is exclusive when it falls at
    /// midnight (always so for an all-day `DTEND`) and inclusive otherwise.
    private static func dates(from start: Moment, to end: Moment?, line: Int) throws(CalendarError) -> [LocalDate] {
        let endDay = end.map { $0.isMidnight ? $0.date.dayNumber : $0.date.dayNumber + 1 } ?? 0
        let days = max(1, endDay - start.date.dayNumber)
        guard days <= self.maximumEventDays else {
            throw CalendarError(
                code: "invalid_ical",
                message: "line \(line): the event starting \(start.date) lasts \(days) days; "
                    + "check its DTEND or split it into events of at most a year"
            )
        }
        return (0..<days).map { start.date.adding(days: $0) }
    }

    /// Lines with folding undone (RFC 5545 §3.1: a line break followed by a space or tab continues the
    /// line), each with the number of its first physical line for error messages.
    private static func unfoldedLines(_ feed: String) -> [(number: Int, text: Substring)] {
        var lines: [(number: Int, text: Substring)] = []
        // `isNewline` also takes "\r\n", which Swift treats as one character.
        for (index, line) in feed.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if let first = line.first, first == " " || first == "\t", !lines.isEmpty {
                lines[lines.count - 1].text += line.dropFirst()
            } else {
                lines.append((index + 1, line))
            }
        }
        return lines
    }

    /// The colon between a property's name and parameters and its value; parameter values may quote colons.
    private static func valueSeparator(in line: Substring) -> Substring.Index? {
        var quoted = false
        for index in line.indices {
            switch line[index] {
            case "\"": quoted.toggle()
            case ":" where !quoted: return index
            default: continue
            }
        }
        return nil
    }

    /// A `DATE` or `DATE-TIME` value reduced to what holidays need: its wall date and whether it is midnight.
    private struct Moment {
        var date: LocalDate
        var isMidnight: Bool

        /// Parses `YYYYMMDD`, `YYYYMMDDTHHMMSS` or `YYYYMMDDTHHMMSSZ`.
        init(_ value: String, timeZone: TimeZone, property: String, line: Int) throws(CalendarError) {
            let invalid = CalendarError(
                code: "invalid_ical",
                message: "line \(line): \(property) \"\(value)\" is not a date or date-time; "
                    + "write it as YYYYMMDD or YYYYMMDDTHHMMSS"
            )
            let text = Substring(value)
            let isUTC = text.hasSuffix("Z")
            let digits = isUTC ? text.dropLast() : text
            guard digits.count == 8 || digits.count == 15 && digits.dropFirst(8).first == "T",
                let year = FixedDigits.parse(digits.prefix(4)), let month = FixedDigits.parse(digits.dropFirst(4).prefix(2)),
                let day = FixedDigits.parse(digits.dropFirst(6).prefix(2)),
                let date = try? LocalDate(year: year, month: month, day: day)
            else { throw invalid }
            guard digits.count == 15 else {
                (self.date, self.isMidnight) = (date, true)
                return
            }
            guard let hour = FixedDigits.parse(digits.dropFirst(9).prefix(2)), hour < 24,
                let minute = FixedDigits.parse(digits.dropFirst(11).prefix(2)), minute < 60,
                let second = FixedDigits.parse(digits.dropFirst(13)), second <= 60
            else { throw invalid }
            var wallTime = date.dayNumber * 86_400 + hour * 3600 + minute * 60 + second
            if isUTC {
                wallTime += timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(wallTime)))
            }
            let dayNumber = Int((Double(wallTime) / 86_400).rounded(.down))
            (self.date, self.isMidnight) = (LocalDate(dayNumber: dayNumber), wallTime == dayNumber * 86_400)
        }
    }
}
