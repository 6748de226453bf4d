import Foundation
import HoldfastCore
import HoldfastTestSupport
import Testing

@testable import HoldfastHTTP

/// ``JSONWriter`` replaces `JSONEncoder` for ticket lists; clients must not see a difference.
@Suite("The JSON writer: the same values as JSONEncoder, dates to the millisecond")
struct JSONWriterTests {
    /// Quotes, backslashes, every control character, slashes, accents, emoji and joiners.
    static let pieces: [String] =
        ["\"", "\\", "/", "é", "日本", "👩‍💻", "\u{2028}", "<script>", " ", "a", "Z", "\u{7F}", "\u{FEFF}"]
        + (0..<32).map { String(UnicodeScalar(UInt8($0))) }

    @Test("Any string reads back the same, inside objects and arrays")
    func strings() throws {
        var random = SeededGenerator(seed: 3)
        for _ in 0..<2_000 {
            let text = (0..<Int.random(in: 0..<12, using: &random)).map { _ in
                Self.pieces[Int.random(in: 0..<Self.pieces.count, using: &random)]
            }.joined()
            var writer = JSONWriter()
            writer.object { writer in
                writer.field("text", text)
                writer.field("missing", String?.none)
                writer.key("list")
                writer.array { writer in
                    writer.string(text)
                    writer.int(-42)
                    writer.bool(true)
                    writer.null()
                }
            }
            struct Shape: Decodable {
                enum Member: Decodable, Equatable {
                    case text(String), number(Int), flag(Bool), none
                    init(from decoder: any Decoder) throws {
                        let value = try decoder.singleValueContainer()
                        if value.decodeNil() {
                            self = .none
                        } else if let flag = try? value.decode(Bool.self) {
                            self = .flag(flag)
                        } else if let number = try? value.decode(Int.self) {
                            self = .number(number)
                        } else {
                            self = .text(try value.decode(String.self))
                        }
                    }
                }
                var text: String
                var missing: String?
                var list: [Member]
            }
            let shape = try JSONDecoder().decode(Shape.self, from: Data(writer.bytes))
            #expect(shape.text == text)
            #expect(shape.missing == nil)
            #expect(shape.list == [.text(text), .number(-42), .flag(true), .none])
            // The whole document is valid JSON to a strict reader too.
            #expect(try JSONSerialization.jsonObject(with: Data(writer.bytes)) is [String: Any])
        }
    }

    @Test("Dates are ISO 8601 in UTC with milliseconds, read back to the same millisecond")
    func dates() throws {
        var random = SeededGenerator(seed: 5)
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = try #require(TimeZone(identifier: "UTC"))
        // From 1900 to 2200, plus the edges of days, leap days and the epoch.
        var instants: [Int64] = [0, -1, 1, 86_399_999, 86_400_000, 951_782_400_000, 951_868_799_999, -2_208_988_800_000]
        for _ in 0..<5_000 {
            instants.append(Int64(Int.random(in: 0..<9_467_280_000_000, using: &random)) - 2_208_988_800_000)
        }
        for milliseconds in instants {
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1_000)
            let text = APIDate.text(date)
            let (seconds, fraction) = milliseconds.quotientAndRemainder(dividingBy: 1_000)
            let whole = Date(timeIntervalSince1970: Double(fraction < 0 ? seconds - 1 : seconds))
            let parts = utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: whole)
            let expected = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.year!, parts.month!, parts.day!, parts.hour!, parts.minute!,
                parts.second!, Int((fraction + 1_000) % 1_000))
            #expect(text == expected)
            #expect(Date(apiText: text).map { Int64(($0.timeIntervalSince1970 * 1_000).rounded()) } == milliseconds)
        }
        // Below a millisecond it truncates, like the format style.
        #expect(APIDate.text(Date(timeIntervalSince1970: 1_764_236_731.1239)) == "2025-11-27T09:45:31.123Z")
    }

    @Test("A ticket list reads back as JSONEncoder's would")
    func ticketList() throws {
        struct Mirror: Codable, Equatable {
            var id, kind, channel, status, priority, subject, description, whatHappened, requesterId, tenantId: String
            var number: Int
            var occurredAt, createdAt: Date
            var sessionId: String?
            var firstResponseDueAt, firstRespondedAt: Date?
            var firstResponseBusinessMinutes: Int?
        }
        let ticket = TicketDTO(
            Ticket(
                id: .init(), number: 7, tenantID: .init(), requesterID: .init(), kind: .bug, channel: .web, status: .new,
                priority: .normal, subject: "It \"froze\" \\ again", description: "line one\nline two\t<b>", occurredAt: Date(),
                whatHappened: "ünïcödé 👩‍💻", sessionID: nil, createdAt: Date(), firstResponseTargetMinutes: 240,
                firstResponseDueAt: Date().addingTimeInterval(3_600), assigneeID: nil))
        var writer = JSONWriter()
        writer.object { writer in
            writer.key("items")
            writer.array { writer in
                ticket.write(to: &writer)
                ticket.write(to: &writer)
            }
        }
        struct List: Codable { var items: [Mirror] }
        let decoded = try JSONDecoder.api.decode(List.self, from: Data(writer.bytes))
        #expect(decoded.items.count == 2)
        let item = try #require(decoded.items.first)
        #expect(item.id == ticket.id && item.number == 7 && item.subject == ticket.subject)
        #expect(item.description == ticket.description && item.whatHappened == ticket.whatHappened)
        #expect(item.sessionId == nil && item.firstRespondedAt == nil && item.firstResponseBusinessMinutes == nil)
        #expect(abs(item.occurredAt.timeIntervalSince(ticket.occurredAt)) < 0.001)
        #expect(abs(try #require(item.firstResponseDueAt).timeIntervalSince(try #require(ticket.firstResponseDueAt))) < 0.001)
        // Every key is there, null when empty; a list's tickets carry no thread.
        let object = try #require(
            (try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [String: [[String: Any]]])?["items"]?.first)
        let keys = [
            "id", "number", "kind", "channel", "status", "priority", "subject", "description", "occurredAt", "whatHappened",
            "sessionId", "requesterId", "tenantId", "createdAt", "firstResponseDueAt", "firstRespondedAt",
            "firstResponseBusinessMinutes", "unverified",
        ]
        #expect(Set(object.keys) == Set(keys))
        #expect(object["unverified"] as? Bool == false)
    }

    @Test("A listed ticket's memorised JSON is used only at the same revision")
    func memo() throws {
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        func ticket(_ subject: String) -> Ticket {
            Ticket(
                id: .init(), number: 1, tenantID: .init(), requesterID: .init(), kind: .bug, channel: .web, status: .new,
                priority: .normal, subject: subject, description: "d", occurredAt: now, whatHappened: "w", sessionID: nil,
                createdAt: now, firstResponseTargetMinutes: nil, firstResponseDueAt: nil, assigneeID: nil)
        }
        struct List: Decodable {
            struct Item: Decodable { var id: String, subject: String, status: String }
            var items: [Item]
        }
        func listed(_ memo: TicketJSONMemo, _ tickets: [Ticket]) throws -> [List.Item] {
            try JSONDecoder().decode(List.self, from: Data(memo.list(tickets).bytes)).items
        }
        let memo = TicketJSONMemo(capacity: 3)
        var first = ticket("First")
        let second = ticket("Second")
        #expect(try listed(memo, [first, second]).map(\.subject) == ["First", "Second"])
        #expect(try listed(memo, [second, first]).map(\.subject) == ["Second", "First"])
        first.subject = "First, edited"
        first.status = .open
        first.revision += 1
        let again = try listed(memo, [first, second])
        #expect(again.map(\.subject) == ["First, edited", "Second"])
        #expect(again.first?.status == "open")
        // Past its capacity the memo starts over; the lists stay right.
        let many = (0..<5).map { ticket("Many \($0)") }
        #expect(try listed(memo, many).map(\.subject) == many.map(\.subject))
        #expect(try listed(memo, [first]).map(\.subject) == ["First, edited"])
        #expect(try listed(memo, []).isEmpty)
    }
}
