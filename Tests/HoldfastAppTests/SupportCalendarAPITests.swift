import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastTestSupport
import Hummingbird
import HummingbirdTesting
import Testing

/// The support calendar (operators change it) and the public first-response promise.
@Suite("Support calendar and promise")
struct SupportCalendarAPITests {
    @Test func thePromiseFollowsTheStandardCalendarUntilAnOperatorChangesIt() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            // Friday 27 November 2026, 15:30 in London: 1.5 h today, 2.5 h on Monday from 09:00.
            let friday = try await client.send(.get, "/api/v1/support/promise?at=2026-11-27T15:30:00Z&kind=bug")
            #expect(friday.status == .ok, "\(String(buffer: friday.body))")
            #expect(JSON(friday.body)["firstResponseDueAt"].string == "2026-11-30T11:30:00.000Z")
            #expect(JSON(friday.body)["text"].string == "We will answer by Monday 30 November, 11:30 (Europe/London).")
            let inNewYork = try await client.send(
                .get, "/api/v1/support/promise?at=2026-11-27T15:30:00Z&kind=outage&zone=America/New_York")
            #expect(JSON(inNewYork.body)["text"].string == "We will answer by Monday 30 November, 06:30 (America/New_York).")

            let calendar: [String: Any] = [
                "timeZone": "America/New_York",
                "weeklyHours": ["mon", "tue", "wed", "thu", "fri"].map { ["day": $0, "opens": "08:00", "closes": "18:00"] },
                "holidays": ["2026-11-30"],
            ]
            let replaced = try await client.send(.put, "/api/v1/support/calendar", token: tenants.operatorToken, json: calendar)
            #expect(replaced.status == .ok, "\(String(buffer: replaced.body))")
            #expect(JSON(replaced.body)["timeZone"].string == "America/New_York")
            let read = try await client.send(.get, "/api/v1/support/calendar", token: tenants.acmeMember)
            #expect(JSON(read.body)["holidays"].array.map(\.string) == ["2026-11-30"])
            // 10:30 New York on Friday: 4 hours later is 14:30 the same day.
            let same = try await client.send(.get, "/api/v1/support/promise?at=2026-11-27T15:30:00Z&kind=question")
            #expect(JSON(same.body)["firstResponseDueAt"].string == "2026-11-27T19:30:00.000Z")
            // Friday 16:00 New York: 2 h on Friday, Monday is a holiday, 2 h on Tuesday from 08:00.
            let late = try await client.send(.get, "/api/v1/support/promise?at=2026-11-27T21:00:00Z&kind=bug")
            #expect(JSON(late.body)["firstResponseDueAt"].string == "2026-12-01T15:00:00.000Z")
        }
    }

    @Test func badCalendarsAndPromisesAreRefusedAndChangeNothing() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let cases: [([String: Any], String)] = [
                (["timeZone": "Mars/Olympus", "weeklyHours": [["day": "mon", "opens": "09:00", "closes": "17:00"]]], "invalid_time_zone"),
                (
                    [
                        "timeZone": "Europe/Paris",
                        "weeklyHours": [
                            ["day": "mon", "opens": "09:00", "closes": "13:00"], ["day": "mon", "opens": "12:00", "closes": "17:00"],
                        ],
                    ], "invalid_hours"
                ),
                (["timeZone": "Europe/Paris", "weeklyHours": [["day": "mon", "opens": "17:00", "closes": "09:00"]]], "invalid_hours"),
                (
                    [
                        "timeZone": "Europe/Paris", "weeklyHours": [["day": "mon", "opens": "09:00", "closes": "17:00"]],
                        "holidays": ["2026-02-30"],
                    ],
                    "invalid_date"
                ),
            ]
            for (body, code) in cases {
                let response = try await client.send(.put, "/api/v1/support/calendar", token: tenants.operatorToken, json: body)
                expectError(response, .unprocessableContent, code: code)
            }
            let notJSON = try await client.send(
                .put, "/api/v1/support/calendar", token: tenants.operatorToken, raw: "{", contentType: "application/json")
            expectError(notJSON, .badRequest)
            let byAdmin = try await client.send(
                .put, "/api/v1/support/calendar", token: tenants.acmeAdmin,
                json: ["timeZone": "Europe/Paris", "weeklyHours": [["day": "mon", "opens": "09:00", "closes": "17:00"]]])
            expectError(byAdmin, .forbidden)
            let still = try await client.send(.get, "/api/v1/support/calendar", token: tenants.operatorToken)
            #expect(JSON(still.body)["timeZone"].string == "Europe/London")

            expectError(try await client.send(.get, "/api/v1/support/promise?at=yesterday"), .unprocessableContent, code: "invalid_at")
            expectError(try await client.send(.get, "/api/v1/support/promise?kind=complaint"), .unprocessableContent, code: "invalid_kind")
            expectError(
                try await client.send(.get, "/api/v1/support/promise?zone=Nowhere/Land"), .unprocessableContent, code: "invalid_time_zone")
            expectError(try await client.send(.get, "/api/v1/support/calendar"), .unauthorized)
        }
    }

    @Test func holidaysComeInFromAnICalFeedAndABrokenFeedChangesNothing() async throws {
        try await TestServer.run { server, client in
            let tenants = try await TwoTenants.make(server, client)
            let feed = [
                "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//UK Gov//Bank Holidays//EN",
                "BEGIN:VEVENT", "UID:xmas@gov.uk", "DTSTART;VALUE=DATE:20261225", "DTEND;VALUE=DATE:20261226", "SUMMARY:Christmas Day",
                "END:VEVENT", "BEGIN:VEVENT", "UID:boxing@gov.uk", "DTSTART;VALUE=DATE:20261228", "SUMMARY:Boxing Day (substitute)",
                "END:VEVENT", "END:VCALENDAR", "",
            ].joined(separator: "\r\n")
            let asJSON = try await client.send(.post, "/api/v1/support/calendar/holidays", token: tenants.operatorToken, raw: feed)
            #expect(asJSON.status == .unsupportedMediaType)
            let byMember = try await client.send(
                .post, "/api/v1/support/calendar/holidays", token: tenants.acmeAdmin, raw: feed, contentType: "text/calendar")
            #expect(byMember.status == .forbidden)
            let imported = try await client.send(
                .post, "/api/v1/support/calendar/holidays", token: tenants.operatorToken, raw: feed, contentType: "text/calendar")
            #expect(imported.status == .ok, "\(String(buffer: imported.body))")
            #expect(JSON(imported.body)["holidays"].array.map(\.string) == ["2026-12-25", "2026-12-28"])
            // Thursday 24 December 16:00 London: 1 h, then Friday 25 and Monday 28 are holidays: Tuesday 12:00.
            let promise = try await client.send(.get, "/api/v1/support/promise?at=2026-12-24T16:00:00Z&kind=bug")
            #expect(JSON(promise.body)["firstResponseDueAt"].string == "2026-12-29T12:00:00.000Z")

            let broken = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:2026-13-45\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            let refused = try await client.send(
                .post, "/api/v1/support/calendar/holidays", token: tenants.operatorToken, raw: broken, contentType: "text/calendar")
            #expect(refused.status == .unprocessableContent)
            #expect(JSON(refused.body)["error"]["code"].string == "invalid_ical")
            let read = try await client.send(.get, "/api/v1/support/calendar", token: tenants.operatorToken)
            #expect(JSON(read.body)["holidays"].array.map(\.string) == ["2026-12-25", "2026-12-28"])
        }
    }
}
