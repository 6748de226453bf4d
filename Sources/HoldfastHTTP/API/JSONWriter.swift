import Foundation
import HoldfastCore
import Hummingbird
import NIOCore

/// Writes JSON straight into bytes, for the responses that lists make hot.
///
/// `JSONEncoder` goes through `Encodable`'s containers, boxes every value and formats each date
/// through a closure; for a page of 50 tickets that was a quarter of the request's time. The
/// writer appends in one pass and formats dates with ``APIDate``. The output is the same JSON
/// value as ``JSONEncoder/api`` would write (keys in the order written, `/` not escaped).
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// Whether the container being written still has no member (so the next one needs no comma).
    private var isFirst = true

    init(capacity: Int = 1_024) {
        self.bytes.reserveCapacity(capacity)
    }

    mutating func object(_ body: (inout JSONWriter) -> Void) {
        self.container(UInt8(ascii: "{"), UInt8(ascii: "}"), body)
    }

    mutating func array(_ body: (inout JSONWriter) -> Void) {
        self.container(UInt8(ascii: "["), UInt8(ascii: "]"), body)
    }

    private mutating func container(_ open: UInt8, _ close: UInt8, _ body: (inout JSONWriter) -> Void) {
        self.separate()
        self.bytes.append(open)
        self.isFirst = true
        body(&self)
        self.bytes.append(close)
        self.isFirst = false
    }

    /// Starts a member of an object: the value written next belongs to `key`.
    mutating func key(_ key: StaticString) {
        self.separate()
        self.bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { self.bytes.append(contentsOf: $0) }
        self.bytes.append(UInt8(ascii: "\""))
        self.bytes.append(UInt8(ascii: ":"))
        self.isFirst = true  // the value follows the colon without a comma
    }

    mutating func string(_ value: String) {
        self.separate()
        self.bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { self.appendEscaped($0) }
        self.bytes.append(UInt8(ascii: "\""))
    }

    mutating func int(_ value: Int) {
        self.separate()
        self.bytes.append(contentsOf: String(value).utf8)
    }

    mutating func bool(_ value: Bool) {
        self.separate()
        self.bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func null() {
        self.separate()
        self.bytes.append(contentsOf: "null".utf8)
    }

    /// Appends a value written before by another writer (one complete JSON value).
    mutating func raw(_ value: [UInt8]) {
        self.separate()
        self.bytes.append(contentsOf: value)
    }

    mutating func date(_ value: Date) {
        self.separate()
        self.bytes.append(UInt8(ascii: "\""))
        APIDate.append(value, to: &self.bytes)
        self.bytes.append(UInt8(ascii: "\""))
    }

    mutating func field(_ key: StaticString, _ value: String) {
        self.key(key)
        self.string(value)
    }

    mutating func field(_ key: StaticString, _ value: String?) {
        self.key(key)
        if let value { self.string(value) } else { self.null() }
    }

    mutating func field(_ key: StaticString, _ value: Int?) {
        self.key(key)
        if let value { self.int(value) } else { self.null() }
    }

    mutating func field(_ key: StaticString, _ value: Bool) {
        self.key(key)
        self.bool(value)
    }

    mutating func field(_ key: StaticString, _ value: Date?) {
        self.key(key)
        if let value { self.date(value) } else { self.null() }
    }

    private mutating func separate() {
        if self.isFirst {
            self.isFirst = false
        } else {
            self.bytes.append(UInt8(ascii: ","))
        }
    }

    /// RFC 8259 §7: the quote, the backslash and the control characters are escaped; everything
    /// else (including non-ASCII UTF-8) is copied as it is, in runs.
    private mutating func appendEscaped(_ text: UnsafeBufferPointer<UInt8>) {
        var start = 0
        for index in text.indices {
            let byte = text[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            self.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[start..<index]))
            start = index + 1
            switch byte {
            case UInt8(ascii: "\""): self.bytes.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): self.bytes.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): self.bytes.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): self.bytes.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): self.bytes.append(contentsOf: #"\t"#.utf8)
            case 0x08: self.bytes.append(contentsOf: #"\b"#.utf8)
            case 0x0C: self.bytes.append(contentsOf: #"\f"#.utf8)
            default:
                self.bytes.append(contentsOf: #"\u00"#.utf8)
                self.bytes.append(UInt8(ascii: "0") + byte >> 4)
                self.bytes.append(byte & 0x0F < 10 ? UInt8(ascii: "0") + byte & 0x0F : UInt8(ascii: "a") + byte & 0x0F - 10)
            }
        }
        self.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[start...]))
    }
}

extension JSONWriter {
    /// The bytes as a `200 OK` JSON response, or with `status`.
    func response(status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: self.bytes)))
    }
}

/// The API's text for an instant: ISO 8601 in UTC with milliseconds, `2026-11-27T09:30:00.000Z`.
///
/// The same text as `Date.ISO8601FormatStyle(includingFractionalSeconds: true)` gives, without
/// its calendar (the date from ``LocalDate/init(dayNumber:)``); except that a time stored as whole milliseconds keeps them (the format style
/// truncates `x.122` read back as `x.12199999` to `.121`).
enum APIDate {
    static func text(_ date: Date) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        self.append(date, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func append(_ instant: Date, to bytes: inout [UInt8]) {
        // Whole milliseconds, rounding down, but a microsecond's float error does not lose one.
        let milliseconds = Int64((instant.timeIntervalSince1970 * 1_000 + 0.001).rounded(.down))
        let (days, millisecondOfDay) = milliseconds.floorDivided(by: 86_400_000)
        let date = LocalDate(dayNumber: Int(days))
        guard (0...9_999).contains(date.year) else {
            // Beyond four-digit years (never a real ticket or session): the format style's text.
            bytes.append(contentsOf: instant.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)).utf8)
            return
        }
        let second = millisecondOfDay / 1_000
        Self.appendDigits(Int64(date.year), width: 4, then: UInt8(ascii: "-"), to: &bytes)
        Self.appendDigits(Int64(date.month), width: 2, then: UInt8(ascii: "-"), to: &bytes)
        Self.appendDigits(Int64(date.day), width: 2, then: UInt8(ascii: "T"), to: &bytes)
        Self.appendDigits(second / 3_600, width: 2, then: UInt8(ascii: ":"), to: &bytes)
        Self.appendDigits(second / 60 % 60, width: 2, then: UInt8(ascii: ":"), to: &bytes)
        Self.appendDigits(second % 60, width: 2, then: UInt8(ascii: "."), to: &bytes)
        Self.appendDigits(millisecondOfDay % 1_000, width: 3, then: UInt8(ascii: "Z"), to: &bytes)
    }

    /// `value` in exactly `width` decimal digits, then the separator `then`.
    private static func appendDigits(_ value: Int64, width: Int, then separator: UInt8, to bytes: inout [UInt8]) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
        bytes.append(separator)
    }
}

extension Int64 {
    /// Quotient and remainder rounding toward minus infinity, so the remainder is never negative.
    fileprivate func floorDivided(by divisor: Int64) -> (Int64, Int64) {
        let quotient = self / divisor
        let remainder = self % divisor
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }
}
