import Foundation
import HoldfastCore
import Hummingbird

/// A user as the API shows it (never the password hash).
struct UserDTO: ResponseCodable, Equatable {
    var id: String
    var tenantId: String
    var email: String
    var name: String
    var role: String
    var createdAt: Date

    init(_ user: User) {
        self.id = user.id.description
        self.tenantId = user.tenantID.description
        self.email = user.email
        self.name = user.name
        self.role = user.role.rawValue
        self.createdAt = user.createdAt
    }
}

/// A tenant as the API shows it.
struct TenantDTO: ResponseCodable, Equatable {
    var id: String
    var name: String
    var slug: String
    var timeZone: String
    var graceSeconds: Int?
    /// The policy in force (the standard one when the tenant has none of its own).
    var retention: RetentionPolicy
    /// The network access in force, `none` or `internet`.
    var network: String
    /// The limits in force (the standard ones where the tenant has none of its own).
    var limits: SessionLimits
    var createdAt: Date

    init(_ tenant: Tenant) {
        self.id = tenant.id.description
        self.name = tenant.name
        self.slug = tenant.slug
        self.timeZone = tenant.timeZone
        self.graceSeconds = tenant.graceSeconds
        self.retention = tenant.retention ?? .standard
        self.network = tenant.effectiveNetwork.rawValue
        self.limits = tenant.effectiveLimits
        self.createdAt = tenant.createdAt
    }
}

/// A list wrapped in an object, so fields (paging, totals) can be added without breaking clients.
struct ListDTO<Item: Encodable & Sendable>: ResponseEncodable {
    var items: [Item]
}

struct LoginRequest: Decodable {
    var email: String
    var password: String
}

struct LoginResponse: ResponseEncodable {
    var token: String
    var expiresAt: Date
    var user: UserDTO
    var tenant: TenantDTO?
}

struct MeResponse: ResponseEncodable {
    var user: UserDTO
    var tenant: TenantDTO?
}

struct CreateTenantRequest: Decodable {
    var name: String
    var slug: String
    var timeZone: String?
}

struct CreateUserRequest: Decodable {
    var email: String
    var name: String?
    var password: String
    var role: String
}

/// A PATCH field that can be absent (leave it), `null` (reset it) or a value.
enum Patch<Value: Decodable & Sendable>: Sendable {
    case absent
    case set(Value?)
}

struct UpdateTenantRequest: Decodable {
    var name: String?
    var timeZone: String?
    var graceSeconds: Patch<Int>
    var retention: Patch<RetentionPolicy>
    /// The word as sent, checked by the route so that a wrong one is a 422 that lists the right ones.
    var network: Patch<String>
    var limits: Patch<LimitValues>

    enum CodingKeys: String, CodingKey {
        case name, timeZone, graceSeconds, retention, network, limits
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decodeIfPresent(String.self, forKey: .name)
        self.timeZone = try container.decodeIfPresent(String.self, forKey: .timeZone)
        self.graceSeconds = try Self.patch(Int.self, .graceSeconds, in: container)
        self.retention = try Self.patch(RetentionPolicy.self, .retention, in: container)
        self.network = try Self.patch(String.self, .network, in: container)
        self.limits = try Self.patch(LimitValues.self, .limits, in: container)
    }

    private static func patch<Value>(
        _ type: Value.Type, _ key: CodingKeys, in container: KeyedDecodingContainer<CodingKeys>
    ) throws
        -> Patch<Value>
    {
        guard container.contains(key) else { return .absent }
        return .set(try container.decodeNil(forKey: key) ? nil : try container.decode(Value.self, forKey: key))
    }

    /// Whether the body asks for more than the network access and limits, which only operators change.
    var changesMoreThanLimits: Bool {
        if self.name != nil || self.timeZone != nil { return true }
        if case .set = self.graceSeconds { return true }
        if case .set = self.retention { return true }
        return false
    }
}

/// `"limits": {"memoryMiB": 1024, …}`: any of the six limits, by name.
///
/// Read by hand rather than as `[String: Int]` so that a fraction or an absurd number (`1e30`,
/// which does not fit an integer) is a 422 naming the limit, like any other value out of range,
/// and not a 400 about JSON.
struct LimitValues: Decodable, Sendable {
    var values: [String: Int]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        var values: [String: Int] = [:]
        for key in container.allKeys {
            let number = try container.decode(Double.self, forKey: key)
            guard number.rounded() == number, abs(number) < 1e15 else {
                throw CoreError.invalidInput(
                    "invalid_limits", "The limit '\(key.stringValue)' must be a whole number in range. Nothing was changed.")
            }
            values[key.stringValue] = Int(number)
        }
        self.values = values
    }
}

/// A session in the admin view: the session, whose it is, and its use of its limits.
struct TenantSessionDTO: Encodable, Sendable {
    /// Memory and processes against the session's limits; all `null` parts unknown.
    struct Usage: Encodable, Sendable {
        var memoryBytes: Int?
        var memoryLimitBytes: Int?
        var pids: Int?
        var pidsLimit: Int?

        init(_ usage: SessionUsage) {
            self.memoryBytes = usage.memoryBytes
            self.memoryLimitBytes = usage.memoryLimitBytes
            self.pids = usage.pids
            self.pidsLimit = usage.pidsLimit
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            // Explicit nulls: a client reads "unknown", not "missing from this version".
            try container.encode(self.memoryBytes, forKey: .memoryBytes)
            try container.encode(self.memoryLimitBytes, forKey: .memoryLimitBytes)
            try container.encode(self.pids, forKey: .pids)
            try container.encode(self.pidsLimit, forKey: .pidsLimit)
        }

        enum CodingKeys: String, CodingKey {
            case memoryBytes, memoryLimitBytes, pids, pidsLimit
        }
    }

    var session: SessionDTO
    var userEmail: String
    /// `nil` when the host cannot tell (a session starting, closing, or on a host without cgroups).
    var usage: Usage?

    func encode(to encoder: any Encoder) throws {
        try self.session.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.userEmail, forKey: .userEmail)
        try container.encode(self.usage, forKey: .usage)
    }

    enum CodingKeys: String, CodingKey {
        case userEmail, usage
    }
}
