/// The error every core rule and repository throws.
///
/// `code` is a stable machine-readable word that clients may switch on; `message` says,
/// in words a user understands, what went wrong and what to do next. The HTTP layer maps
/// `kind` to a status code; nothing below it knows about HTTP.
public struct CoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The broad class of failure, which decides how an edge reports it.
    public enum Kind: String, Hashable, Sendable {
        /// The input breaks a rule (bad e-mail, unknown role, …).
        case invalidInput
        /// The thing asked for does not exist, or the caller may not know that it exists.
        case notFound
        /// The input clashes with what is stored (a slug or e-mail already taken).
        case conflict
        /// The caller is known but lacks the right.
        case forbidden
        /// The caller is not known, or its credentials are wrong or expired.
        case unauthenticated
        /// Too many attempts; retry later.
        case rateLimited
        /// The input does not fit a limit (a workspace's disk quota).
        case tooLarge
        /// A dependency (database, disk) failed; not the caller's fault.
        case unavailable
    }

    public var kind: Kind
    public var code: String
    public var message: String

    public init(_ kind: Kind, code: String, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }

    public static func invalidInput(_ code: String, _ message: String) -> CoreError {
        CoreError(.invalidInput, code: code, message: message)
    }

    public static func notFound(_ message: String) -> CoreError {
        CoreError(.notFound, code: "not_found", message: message)
    }

    public static func conflict(_ code: String, _ message: String) -> CoreError {
        CoreError(.conflict, code: code, message: message)
    }

    public static func forbidden(_ message: String) -> CoreError {
        CoreError(.forbidden, code: "forbidden", message: message)
    }
}
