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
        guard let uuid = UUID(uuidString: string) else { return nil }
        self.rawValue = uuid
    }

    public var description: String { self.rawValue.uuidString.lowercased() }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        guard let uuid = UUID(uuidString: string) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(string) is not a UUID")
        }
        self.rawValue = uuid
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }
}
