import Foundation
import Hummingbird

/// A web origin, `scheme://host:port`, as browsers compare them (RFC 6454).
public struct WebOrigin: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int

    /// Parses an origin or a URL (`https://holdfast.example.com/`, `http://127.0.0.1:8080`); `nil`
    /// for anything else: `null`, a scheme other than http(s), a user part, a missing host.
    public init?(_ text: String) {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, text.count <= 2048, let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host?.lowercased(), !host.isEmpty,
            components.user == nil, components.password == nil
        else { return nil }
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
        guard (1...65535).contains(self.port) else { return nil }
    }

    /// The origin a request was addressed to by its `Host` header (`example.com:8080`), under
    /// `scheme`; `nil` when the header is not a plain host and port.
    init?(scheme: String, hostHeader: String) {
        guard hostHeader.count <= 1024, !hostHeader.contains("/"), !hostHeader.contains("@"),
            !hostHeader.contains(where: { $0.isWhitespace })
        else { return nil }
        self.init("\(scheme)://\(hostHeader)")
    }

    public var isSecure: Bool { self.scheme == "https" }

    /// As the `Origin` header writes it: the port only when it is not the scheme's default.
    public var description: String {
        let defaultPort = self.scheme == "https" ? 443 : 80
        let host = self.host.contains(":") && !self.host.hasPrefix("[") ? "[\(self.host)]" : self.host
        return self.port == defaultPort ? "\(self.scheme)://\(host)" : "\(self.scheme)://\(host):\(self.port)"
    }
}

/// Which requests come from the service's own pages, and so may act with the sign-in cookie.
///
/// A browser sends `Origin` with every WebSocket upgrade and every POST, PUT, PATCH and DELETE,
/// and `Sec-Fetch-Site` with every request; another site can neither forge nor drop them. Scripts
/// and the CLI send neither, and they authenticate with a bearer token, which no other site can
/// make a browser send.
public struct OriginPolicy: Sendable {
    /// The service's public origin (`--public-url`); without one, the `Host` a request was
    /// addressed to stands for it, under either scheme (a TLS proxy may sit in front).
    public var publicOrigin: WebOrigin?

    public init(publicOrigin: WebOrigin? = nil) {
        self.publicOrigin = publicOrigin
    }

    public enum Verdict: Sendable, Equatable {
        /// The request names our own origin.
        case sameOrigin
        /// No `Origin` header: not a browser's cross-site request (a script, the CLI, a navigation).
        case absent
        /// Another site, a `null` origin (a sandboxed frame, a `data:` page) or a malformed one.
        case foreign(String)
    }

    /// What the request's `Origin` header says about where it comes from.
    public func check(origin: String?, host: String?) -> Verdict {
        guard let origin else { return .absent }
        guard let parsed = WebOrigin(origin) else { return .foreign(String(origin.prefix(200))) }
        if let publicOrigin = self.publicOrigin {
            return parsed == publicOrigin ? .sameOrigin : .foreign(parsed.description)
        }
        guard let host else { return .foreign(parsed.description) }
        let addressed = ["http", "https"].compactMap { WebOrigin(scheme: $0, hostHeader: host) }
        return addressed.contains(parsed) ? .sameOrigin : .foreign(parsed.description)
    }

    /// `text` when it is a path on this site to go to after signing in, `nil` otherwise.
    ///
    /// Browsers read `//host`, `/\host` and `/<tab>/host` as another site, so a path must start
    /// with exactly one `/`, and hold no backslash, whitespace or control character at all.
    public static func localPath(_ text: String?) -> String? {
        guard let text, text.count <= 2048, text.hasPrefix("/"), !text.hasPrefix("//"),
            !text.unicodeScalars.contains(where: { $0 == "\\" || $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f })
        else { return nil }
        return text
    }

    /// Whether a state-changing request that acts with the sign-in cookie comes from our pages:
    /// its `Origin` names us, or, without one, `Sec-Fetch-Site` says `same-origin`. A cookie
    /// request with neither header is refused: a browser always sends one of them, and a
    /// script should send its bearer token instead.
    public func allowsCookieWrite(origin: String?, fetchSite: String?, host: String?) -> Bool {
        self.allowsCookieWrite(self.check(origin: origin, host: host), fetchSite: fetchSite)
    }

    /// The same, for a request whose `Origin` was already checked.
    public func allowsCookieWrite(_ verdict: Verdict, fetchSite: String?) -> Bool {
        switch verdict {
        case .sameOrigin: return true
        case .foreign: return false
        case .absent: return fetchSite?.lowercased() == "same-origin"
        }
    }
}

extension HTTPRequest.Method {
    /// GET, HEAD and OPTIONS change nothing here; every other method may.
    var isSafe: Bool { self == .get || self == .head || self == .options }
}
