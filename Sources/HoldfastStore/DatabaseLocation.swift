import Foundation

/// Where the store lives, parsed from `--database`.
public enum DatabaseLocation: Sendable, Hashable, CustomStringConvertible {
    /// A SQLite file: the embedded default, one node.
    case sqlite(path: String)
    /// A PostgreSQL database, for many nodes: `postgres://USER[:PASSWORD]@HOST:PORT/DB`.
    case postgres(url: String)

    /// Parses `sqlite:PATH` or `postgres://…` (also `postgresql://…`).
    public init(parsing text: String) throws {
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw StoreError.badLocation(text) }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text)
        } else {
            throw StoreError.badLocation(text)
        }
    }

    /// Whether the location holds a password (a PostgreSQL URL with `USER:PASSWORD@`).
    public var hasPassword: Bool {
        self.password != nil
    }

    /// The location without a password, safe to print and log.
    public var description: String {
        switch self {
        case .sqlite(let path):
            return "sqlite:\(path)"
        case .postgres(let url):
            guard let password = self.password else { return url }
            return url.replacingCharacters(in: password, with: "***")
        }
    }

    /// Where the password of `postgres://USER:PASSWORD@HOST…` is, between the user's `:` and the `@`.
    private var password: Range<String.Index>? {
        guard case .postgres(let url) = self, let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://"),
            let colon = url[scheme.upperBound..<at].firstIndex(of: ":")
        else { return nil }
        return url.index(after: colon)..<at
    }
}
