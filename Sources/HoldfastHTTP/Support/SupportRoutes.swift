import Foundation
import HoldfastCore
import Hummingbird
import Logging

/// `/support/calendar` and `/support/promise`: the support team's business calendar and the
/// first-response promise it gives for a ticket filed at a given instant.
struct SupportRoutes {
    let repositories: Repositories
    let now: @Sendable () -> Date
    let audit: AuditRecorder

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("support/calendar", use: self.calendar)
        group.put("support/calendar", use: self.replaceCalendar)
        group.post("support/calendar/holidays", use: self.importHolidays)
        group.get("support/promise", use: self.promise)
    }

    @Sendable func calendar(_ request: Request, context: AppRequestContext) async throws -> CalendarDTO {
        _ = try context.requireUser()
        return CalendarDTO(calendar: try await self.repositories.settings.supportCalendar())
    }

    /// Replaces the calendar (operators): the whole document, validated before anything is stored.
    @Sendable func replaceCalendar(_ request: Request, context: AppRequestContext) async throws -> CalendarDTO {
        let user = try context.requireUser()
        guard user.role == .operator else {
            throw CoreError.forbidden("Only operators change the support calendar.")
        }
        let calendar = try await request.decodeJSON(as: BusinessCalendar.self, context: context)
        let before = try await self.repositories.settings.supportCalendar()
        let document = String(decoding: try JSONEncoder().encode(calendar), as: UTF8.self)
        try await self.repositories.settings.set(document, for: SettingKey.supportCalendar, at: self.now())
        context.logger.info("support calendar changed", metadata: ["user.id": "\(user.id)", "timeZone": "\(calendar.timeZone.identifier)"])
        await self.audit.record(
            .calendarReplaced, by: user, tenant: nil, target: "support calendar",
            detail: AuditChanges.between([
                ("time zone", before.timeZone.identifier, calendar.timeZone.identifier),
                ("weekly hours", "\(before.weeklyHours.count) stretches", "\(calendar.weeklyHours.count) stretches"),
                ("holidays", "\(before.holidays.count)", "\(calendar.holidays.count)"),
            ]), context: context)
        return CalendarDTO(calendar: calendar)
    }

    /// Adds the dates of an iCalendar feed (a published public-holiday calendar, as
    /// `Content-Type: text/calendar`) to the holidays (operators). Nothing changes when the feed
    /// cannot be read.
    @Sendable func importHolidays(_ request: Request, context: AppRequestContext) async throws -> CalendarDTO {
        let user = try context.requireUser()
        guard user.role == .operator else {
            throw CoreError.forbidden("Only operators change the support calendar.")
        }
        guard request.headers[.contentType]?.lowercased().hasPrefix("text/calendar") == true else {
            throw APIError(
                .unsupportedMediaType, code: "unsupported_media_type",
                message: "Send the iCalendar feed with 'Content-Type: text/calendar'.")
        }
        let body = try await request.body.collect(upTo: 2 << 20)
        guard let feed = body.getString(at: body.readerIndex, length: body.readableBytes), feed.contains("BEGIN:VCALENDAR") else {
            throw CoreError.invalidInput("invalid_ical", "The body is not an iCalendar feed (no BEGIN:VCALENDAR); send the .ics file.")
        }
        let current = try await self.repositories.settings.supportCalendar()
        let dates = try ICalHolidayImport.holidays(fromFeed: feed, timeZone: current.timeZone)
        guard !dates.isEmpty else {
            throw CoreError.invalidInput("invalid_ical", "The feed holds no events, so there are no holidays to add.")
        }
        let calendar = try BusinessCalendar(
            timeZone: current.timeZone.identifier, weeklyHours: current.weeklyHours, holidays: current.holidays.union(dates))
        let document = String(decoding: try JSONEncoder().encode(calendar), as: UTF8.self)
        try await self.repositories.settings.set(document, for: SettingKey.supportCalendar, at: self.now())
        context.logger.info("holidays imported", metadata: ["user.id": "\(user.id)", "dates": "\(dates.count)"])
        await self.audit.record(
            .holidaysImported, by: user, tenant: nil, target: "support calendar",
            detail: "\(calendar.holidays.count - current.holidays.count) new of \(dates.count) in the feed", context: context)
        return CalendarDTO(calendar: calendar)
    }

    /// When a ticket of `kind` filed at `at` (default now) is due its first response. Public:
    /// the ticket form shows it before anyone signs in or sends anything.
    @Sendable func promise(_ request: Request, context: AppRequestContext) async throws -> PromiseDTO {
        let query = request.uri.queryParameters
        let at: Date
        if let text = query.get("at") {
            guard let parsed = Date(apiText: String(text)) else {
                throw CoreError.invalidInput(
                    "invalid_at", "'at' must be an ISO 8601 instant with a zone, like 2026-11-27T16:30:00Z or 2026-11-27T17:30:00+01:00.")
            }
            at = parsed
        } else {
            at = self.now()
        }
        let kind = try TicketKind(validating: query.get("kind").map { String($0) } ?? "bug")
        let priority = try TicketPriority(validating: query.get("priority").map { String($0) } ?? "normal")
        let zone: TimeZone?
        if let name = query.get("zone") {
            guard let found = TimeZone(identifier: String(name)) else {
                throw CoreError.invalidInput("invalid_time_zone", "'\(name)' is not an IANA time zone; use a name like Europe/London.")
            }
            zone = found
        } else {
            zone = nil
        }
        let calendar = try await self.repositories.settings.supportCalendar()
        let policies = SLAPolicySet.standard
        guard let policy = policies.match(kind: kind.rawValue, priority: priority.rawValue),
            let due = try policies.firstResponseDue(filedAt: at, kind: kind.rawValue, priority: priority.rawValue, calendar: calendar)
        else {
            throw CoreError.notFound("No service level covers \(kind.rawValue) tickets of \(priority.rawValue) priority.")
        }
        let readerZone = zone ?? calendar.timeZone
        return PromiseDTO(
            at: at, kind: kind.rawValue, priority: priority.rawValue, firstResponseDueAt: due,
            businessMinutes: policy.firstResponseMinutes, timeZone: readerZone.identifier,
            text: "We will answer by \(SupportTimeText.dateAndTime(due, in: readerZone)).")
    }

}

struct CalendarDTO: ResponseEncodable {
    var calendar: BusinessCalendar

    func encode(to encoder: any Encoder) throws {
        try self.calendar.encode(to: encoder)
    }
}

struct PromiseDTO: ResponseEncodable {
    var at: Date
    var kind: String
    var priority: String
    var firstResponseDueAt: Date
    var businessMinutes: Int
    /// The zone `text` is written in: the `zone` asked for, or the support team's.
    var timeZone: String
    var text: String
}
