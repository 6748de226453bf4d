import Foundation

/// A customer organisation: the unit of isolation for users, sessions, backups and plans.
public struct Tenant: Sendable, Codable, Hashable {
    public typealias ID = Identifier<Tenant>

    public var id: ID
    /// The display name, e.g. "Acme Research".
    public var name: String
    /// The stable URL name, e.g. `acme`; lower-case letters, digits and dashes.
    public var slug: String
    /// IANA zone in which the tenant's times are shown and its quiet hours computed.
    public var timeZone: String
    /// How long a dropped session is held for this tenant; `nil` means the server default.
    public var graceSeconds: Int?
    /// Which snapshots of its users' workspaces are kept; `nil` means `RetentionPolicy.standard`.
    public var retention: RetentionPolicy?
    /// What its sessions may reach on the network; `nil` means `NetworkAccess.standard`.
    public var network: NetworkAccess?
    /// Its sessions' and users' bounds; `nil` means `SessionLimits.standard`.
    public var limits: SessionLimits?
    public var createdAt: Date

    public init(
        id: ID = ID(),
        name: String,
        slug: String,
        timeZone: String = "Europe/London",
        graceSeconds: Int? = nil,
        retention: RetentionPolicy? = nil,
        network: NetworkAccess? = nil,
        limits: SessionLimits? = nil,
        createdAt: Date
    ) {
        self.id = id
        self.name = name
        self.slug = slug
        self.timeZone = timeZone
        self.graceSeconds = graceSeconds
        self.retention = retention
        self.network = network
        self.limits = limits
        self.createdAt = createdAt
    }

    /// The network access in force: the tenant's own, or the standard one.
    public var effectiveNetwork: NetworkAccess { self.network ?? .standard }

    /// The limits in force: the tenant's own, or the standard ones.
    public var effectiveLimits: SessionLimits { self.limits ?? .standard }

    /// Builds a tenant from untrusted input, checking every field.
    /// - Throws: `CoreError.invalidInput` naming the field and the rule it breaks.
    public static func validated(
        name: String,
        slug: String,
        timeZone: String?,
        createdAt: Date
    ) throws -> Tenant {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(name.count) else {
            throw CoreError.invalidInput("invalid_name", "The tenant name must be 1 to 200 characters long.")
        }
        try Self.validate(slug: slug)
        let zone = timeZone ?? "Europe/London"
        guard TimeZone(identifier: zone) != nil else {
            throw CoreError.invalidInput(
                "invalid_time_zone",
                "'\(zone)' is not an IANA time zone; use a name like Europe/London or America/New_York."
            )
        }
        return Tenant(name: name, slug: slug, timeZone: zone, createdAt: createdAt)
    }

    /// Checks the URL-name rule: 2–63 characters of `a-z`, `0-9` and `-`, starting with a letter.
    public static func validate(slug: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        guard (2...63).contains(slug.count), slug.allSatisfy(allowed.contains),
            slug.first?.isLetter == true, slug.last != "-"
        else {
            throw CoreError.invalidInput(
                "invalid_slug",
                "The slug '\(slug)' must be 2 to 63 characters of a-z, 0-9 and '-', start with a letter and not end with '-'."
            )
        }
    }
}
