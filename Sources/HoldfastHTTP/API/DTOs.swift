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
    var createdAt: Date

    init(_ tenant: Tenant) {
        self.id = tenant.id.description
        self.name = tenant.name
        self.slug = tenant.slug
        self.timeZone = tenant.timeZone
        self.graceSeconds = tenant.graceSeconds
        self.retention = tenant.retention ?? .standard
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

    enum CodingKeys: String, CodingKey {
        case name, timeZone, graceSeconds, retention
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decodeIfPresent(String.self, forKey: .name)
        self.timeZone = try container.decodeIfPresent(String.self, forKey: .timeZone)
        self.graceSeconds =
            container.contains(.graceSeconds)
            ? .set(try container.decodeNil(forKey: .graceSeconds) ? nil : try container.decode(Int.self, forKey: .graceSeconds)) : .absent
        self.retention =
            container.contains(.retention)
            ? .set(try container.decodeNil(forKey: .retention) ? nil : try container.decode(RetentionPolicy.self, forKey: .retention))
            : .absent
    }
}

/// A session in the admin view: the session and whose it is.
struct TenantSessionDTO: Encodable, Sendable {
    var session: SessionDTO
    var userEmail: String

    func encode(to encoder: any Encoder) throws {
        try self.session.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.userEmail, forKey: .userEmail)
    }

    enum CodingKeys: String, CodingKey {
        case userEmail
    }
}
