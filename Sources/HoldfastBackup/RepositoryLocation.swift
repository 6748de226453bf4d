import Foundation
import HoldfastCore

/// Where the tenants' restic repositories live: a local folder or an S3 bucket.
///
/// Each tenant gets its own repository below this location (`DIR/<tenant id>` or
/// `s3:…/PREFIX/<tenant id>`), so one tenant's password never opens another tenant's data.
public enum RepositoryLocation: Sendable, Hashable, CustomStringConvertible {
    /// A folder on this machine (or a mounted network share), absolute.
    case local(directory: String)
    /// An S3 (or S3-compatible) endpoint in restic's notation: `s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]`.
    case s3(url: String)

    /// Parses the command-line form: `local:/DIR` or `s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]`.
    ///
    /// Credentials never belong in the URL (restic would print them in errors): pass them as
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` instead.
    /// - Throws: `CoreError.invalidInput` with code `invalid_backup_repository`, naming the accepted forms.
    public static func parse(_ text: String) throws(CoreError) -> RepositoryLocation {
        guard !text.contains(where: { $0.isWhitespace || $0.isNewline || $0 == "\0" }) else {
            throw Self.invalid(text, because: "it contains white space")
        }
        if text.hasPrefix("local:") {
            return try Self.parseLocal(String(text.dropFirst("local:".count)), original: text)
        }
        if text.hasPrefix("s3:") {
            return try Self.parseS3(String(text.dropFirst("s3:".count)), original: text)
        }
        throw Self.invalid(text, because: "it starts with neither 'local:' nor 's3:'")
    }

    /// The restic repository of one tenant.
    public func repository(for tenant: Tenant.ID) -> String {
        switch self {
        case .local(let directory): return "\(directory)/\(tenant)"
        case .s3(let url): return "\(url)/\(tenant)"
        }
    }

    public var description: String {
        switch self {
        case .local(let directory): return "local:\(directory)"
        case .s3(let url): return url
        }
    }

    private static func parseLocal(_ path: String, original: String) throws(CoreError) -> RepositoryLocation {
        guard path.hasPrefix("/") else {
            throw Self.invalid(original, because: "the folder must be an absolute path, like local:/var/lib/holdfast/backups")
        }
        var directory = Substring(path)
        while directory.count > 1, directory.hasSuffix("/") { directory = directory.dropLast() }
        let components = directory.split(separator: "/")
        guard !components.contains(where: { $0 == "." || $0 == ".." }) else {
            throw Self.invalid(original, because: "the folder may not contain '.' or '..'")
        }
        guard directory != "/" else {
            throw Self.invalid(original, because: "the folder may not be '/'")
        }
        return .local(directory: String(directory))
    }

    private static func parseS3(_ rest: String, original: String) throws(CoreError) -> RepositoryLocation {
        guard rest.hasPrefix("http://") || rest.hasPrefix("https://") else {
            throw Self.invalid(original, because: "the endpoint must start with http:// or https://")
        }
        guard let components = URLComponents(string: rest), let host = components.host, !host.isEmpty else {
            throw Self.invalid(original, because: "the endpoint is not a URL with a host")
        }
        guard components.user == nil, components.password == nil else {
            throw Self.invalid(original, because: "credentials may not be part of the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        guard components.query == nil, components.fragment == nil else {
            throw Self.invalid(original, because: "the URL may not have a query (?…) or a fragment (#…)")
        }
        let segments = components.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var path = Array(segments)
        while path.last == "" { path.removeLast() }
        guard let bucket = path.first, !bucket.isEmpty else {
            throw Self.invalid(original, because: "the URL names no bucket (s3:http://HOST:PORT/BUCKET)")
        }
        guard !path.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw Self.invalid(original, because: "the bucket and prefix may not contain empty, '.' or '..' parts")
        }
        var url = "\(components.scheme ?? "https")://\(host)"
        if let port = components.port { url += ":\(port)" }
        url += "/" + path.joined(separator: "/")
        return .s3(url: "s3:" + url)
    }

    private static func invalid(_ text: String, because reason: String) -> CoreError {
        .invalidInput(
            "invalid_backup_repository",
            "'\(text)' is not a backup repository location: \(reason). "
                + "Write it as local:/ABSOLUTE/DIR or s3:https://HOST[:PORT]/BUCKET[/PREFIX]."
        )
    }
}
