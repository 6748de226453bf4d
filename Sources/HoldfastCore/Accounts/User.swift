import Foundation

/// What a user may do. Roles are ordered by reach, but rights are not simply cumulative:
/// an agent answers tickets for every tenant yet cannot manage any tenant's users.
public enum Role: String, Sendable, Codable, Hashable, CaseIterable {
    /// Uses sessions; sees only their own things.
    case member
    /// Manages the users and sessions of their own tenant.
    case tenantAdmin = "tenant-admin"
    /// Support staff: works the ticket queue of every tenant.
    case agent
    /// Runs the service: every tenant, maintenance, plans, drills.
    case `operator`

    /// Parses the wire form, with an error that lists the valid roles.
    public init(validating text: String) throws {
        guard let role = Role(rawValue: text) else {
            let names = Role.allCases.map(\.rawValue).joined(separator: ", ")
            throw CoreError.invalidInput("invalid_role", "'\(text)' is not a role; use one of: \(names).")
        }
        self = role
    }
}

/// A person who signs in. The password hash is not part of this value: it is read only by login.
public struct User: Sendable, Codable, Hashable {
    public typealias ID = Identifier<User>

    public var id: ID
    public var tenantID: Tenant.ID
    /// Lower-cased; unique across the whole service, because login asks for an e-mail only.
    public var email: String
    public var name: String
    public var role: Role
    public var createdAt: Date

    public init(
        id: ID = ID(),
        tenantID: Tenant.ID,
        email: String,
        name: String,
        role: Role,
        createdAt: Date
    ) {
        self.id = id
        self.tenantID = tenantID
        self.email = email
        self.name = name
        self.role = role
        self.createdAt = createdAt
    }

    /// Normalises an e-mail address for storage and lookup, or throws when it is not one.
    ///
    /// Deliberately simple (one `@`, a dot in the domain, no spaces): the real check is the
    /// mail that reaches the person; this only stops typos and junk.
    public static func normalised(email: String) throws -> String {
        let email = email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
            !email.contains(where: { $0.isWhitespace || $0.isNewline })
        else {
            throw CoreError.invalidInput("invalid_email", "'\(email)' is not an e-mail address.")
        }
        return email
    }

    /// Checks a new password against the minimum the service accepts.
    public static func validate(password: String) throws {
        guard password.count >= 10 else {
            throw CoreError.invalidInput("weak_password", "The password must be at least 10 characters long.")
        }
        guard password.utf8.count <= 72 else {
            // bcrypt ignores everything after 72 bytes; refuse rather than silently truncate.
            throw CoreError.invalidInput("password_too_long", "The password must be at most 72 bytes long.")
        }
    }
}

/// A new user as the API and the CLI receive it, before it is checked.
public struct NewUser: Sendable, Hashable {
    public var email: String
    public var name: String?
    public var password: String
    public var role: String

    public init(email: String, name: String? = nil, password: String, role: String) {
        self.email = email
        self.name = name
        self.password = password
        self.role = role
    }

    /// Checks every field and returns the user to store (the password is hashed by the caller).
    public func validated(tenantID: Tenant.ID, createdAt: Date) throws -> User {
        let email = try User.normalised(email: self.email)
        try User.validate(password: self.password)
        let role = try Role(validating: self.role)
        let name = (self.name ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard name.count <= 200 else {
            throw CoreError.invalidInput("invalid_name", "The name must be at most 200 characters long.")
        }
        let displayName = name.isEmpty ? String(email.prefix(while: { $0 != "@" })) : name
        return User(tenantID: tenantID, email: email, name: displayName, role: role, createdAt: createdAt)
    }
}
