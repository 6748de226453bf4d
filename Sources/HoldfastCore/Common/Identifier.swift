import Foundation

/// A typed identifier: a UUID that cannot be mixed up with another kind of id.
///
/// The phantom `Tag` keeps a `UserID` from being passed where a `TenantID` is expected,
/// at no run-time cost. On the wire and in the store it is the UUID's lower-case string.
public struct Identifier<Tag>: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: UUID

    public init(rawValue: UUID) {
        self.rawValue = rawValue
    }

    /// A fresh random identifier.
    public init() {
        self.rawValue = UUID()
    }

    /// Parses the string form; `nil` when it is not a UUID.
    public init?(_ string: String) {
        guard let uuid = UUIDText.parse(string) else { return nil }
        self.rawValue = uuid
    }

    public var description: String { UUIDText.lowercase(self.rawValue) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let uuid = UUIDText.parse(string) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(string) is not a UUID")
        }
        self.rawValue = uuid
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }
}

/// The 36-character text form of a UUID (`8-4-4-4-12` hex digits), read and written without
/// Foundation's `sscanf` and without the upper-case string that `lowercased()` copies again.
///
/// Every listed ticket carries four or five ids, read from the store and written to JSON, so
/// this is on the hot path of every list. It accepts exactly what `UUID(uuidString:)` accepts.
public enum UUIDText {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func parse(_ text: String) -> UUID? {
        var text = text
        return text.withUTF8 { bytes -> UUID? in
            guard bytes.count == 36 else { return nil }
            var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            let parsed = withUnsafeMutableBytes(of: &value) { out -> Bool in
                var index = 0
                for byte in 0..<16 {
                    if index == 8 || index == 13 || index == 18 || index == 23 {
                        guard bytes[index] == UInt8(ascii: "-") else { return false }
                        index += 1
                    }
                    guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else { return false }
                    out[byte] = high << 4 | low
                    index += 2
                }
                return true
            }
            return parsed ? UUID(uuid: value) : nil
        }
    }

    public static func lowercase(_ uuid: UUID) -> String {
        withUnsafeBytes(of: uuid.uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var index = 0
                for (position, byte) in bytes.enumerated() {
                    if position == 4 || position == 6 || position == 8 || position == 10 {
                        out[index] = UInt8(ascii: "-")
                        index += 1
                    }
                    out[index] = digits[Int(byte >> 4)]
                    out[index + 1] = digits[Int(byte & 0x0f)]
                    index += 2
                }
                return 36
            }
        }
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
