import Foundation
import HoldfastCore

/// An SMTP server the support desk hands its mail to, and how.
///
/// - `smtp://HOST[:PORT]` (25): plain, for the local MTA on this host.
/// - `smtp+starttls://HOST[:PORT]` (587): STARTTLS required before anything else is said.
/// - `smtps://HOST[:PORT]` (465): TLS from the first byte.
///
/// With TLS the server's certificate is verified against the system's roots, or the CA file
/// given with `--smtp-ca-file`, and must name the host. Credentials (`AUTH PLAIN`) are sent only
/// over TLS: with `smtp://` they are refused when the server starts.
public struct SMTPRelay: Sendable, Hashable, CustomStringConvertible {
    public enum Security: String, Sendable, Hashable {
        case none = "smtp"
        case startTLS = "smtp+starttls"
        case implicitTLS = "smtps"

        var defaultPort: Int {
            switch self {
            case .none: 25
            case .startTLS: 587
            case .implicitTLS: 465
            }
        }
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var credentials: SMTPCredentials?
    /// PEM file of the CA that signed the server's certificate; `nil` trusts the system's roots.
    public var caFile: String?

    public init(host: String, port: Int, security: Security, credentials: SMTPCredentials? = nil, caFile: String? = nil) {
        self.host = host
        self.port = port
        self.security = security
        self.credentials = credentials
        self.caFile = caFile
    }

    /// Parses the URL part of `--smtp`; `nil` when `text` is no SMTP URL.
    static func parse(_ text: String) -> SMTPRelay? {
        guard let schemeEnd = text.range(of: "://"), let security = Security(rawValue: String(text[..<schemeEnd.lowerBound])),
            let url = URL(string: "smtp://" + text[schemeEnd.upperBound...]), let host = url.host, !host.isEmpty,
            url.path.isEmpty || url.path == "/", url.user == nil, url.query == nil
        else { return nil }
        return SMTPRelay(host: host, port: url.port ?? security.defaultPort, security: security)
    }

    /// Refuses settings that would send credentials in the clear.
    func validated() throws -> SMTPRelay {
        if self.credentials != nil, self.security == .none {
            throw CoreError.invalidInput(
                "smtp_credentials_need_tls",
                "SMTP credentials are sent only over TLS: use --smtp smtp+starttls://\(self.host):587 or smtps://\(self.host):465.")
        }
        return self
    }

    /// Where mail goes, without the credentials.
    public var description: String {
        "\(self.security.rawValue)://\(self.host):\(self.port)" + (self.credentials.map { " as \($0.username)" } ?? "")
    }
}

/// A user name and password for `AUTH PLAIN`; never printed.
public struct SMTPCredentials: Sendable, Hashable, CustomStringConvertible {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// `USERNAME` on the first line and `PASSWORD` on the second, as in `--smtp-credentials-file`.
    public init(fileContents text: String) throws {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
        }
        guard lines.count >= 2, !lines[0].isEmpty, !lines[1].isEmpty else {
            throw CoreError.invalidInput(
                "invalid_smtp_credentials",
                "The SMTP credentials file holds the user name on its first line and the password on its second.")
        }
        self.init(username: lines[0], password: lines[1])
    }

    public var description: String { "\(self.username):***" }
}
