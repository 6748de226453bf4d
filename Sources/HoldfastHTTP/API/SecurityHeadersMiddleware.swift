import Hummingbird

/// Headers on every response that tell the browser what our pages may do: no script but our
/// own files, no framing by anyone, no guessing of content types, no full URLs leaked to other
/// sites, and — behind HTTPS — HTTPS only.
///
/// Styles may be inline (`'unsafe-inline'` for `style-src` only): xterm.js's renderer and the
/// continuity plans write `<style>` elements. Scripts never are.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    private typealias Name = HTTPFields.Element.Name
    private static let policyName = Name("Content-Security-Policy")!
    private static let frameOptions = Name("X-Frame-Options")!
    private static let contentTypeOptions = Name("X-Content-Type-Options")!
    private static let referrerPolicy = Name("Referrer-Policy")!
    private static let transportSecurity = Name("Strict-Transport-Security")!

    let origins: OriginPolicy
    /// The policy when the public origin is known; otherwise it names the host of each request.
    private let fixedPolicy: String?

    init(origins: OriginPolicy) {
        self.origins = origins
        self.fixedPolicy = origins.publicOrigin.map { Self.contentSecurityPolicy(origin: $0) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[Self.policyName] =
            self.fixedPolicy
            ?? Self.contentSecurityPolicy(origin: request.head.authority.flatMap { WebOrigin(scheme: "http", hostHeader: $0) })
        response.headers[Self.frameOptions] = "DENY"
        response.headers[Self.contentTypeOptions] = "nosniff"
        // Not `no-referrer`: with it, browsers send `Origin: null` on our own POSTs, which the
        // cross-site check (`AuthenticationMiddleware`) must refuse.
        response.headers[Self.referrerPolicy] = "same-origin"
        if self.origins.publicOrigin?.isSecure == true {
            response.headers[Self.transportSecurity] = "max-age=31536000"
        }
        return response
    }

    /// The policy, with the WebSocket origins of the page's own origin spelled out (older
    /// browsers do not count `ws:` as `'self'`).
    private static func contentSecurityPolicy(origin: WebOrigin?) -> String {
        var connect = ["'self'"]
        if let origin {
            let authority = origin.description.dropFirst(origin.scheme.count + "://".count)
            // Without a public URL a TLS proxy may serve the page as https: both schemes then.
            connect += origin.isSecure ? ["wss://\(authority)"] : ["ws://\(authority)", "wss://\(authority)"]
        }
        return [
            "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
            "connect-src \(connect.joined(separator: " "))", "font-src 'self'", "object-src 'none'", "base-uri 'none'",
            "form-action 'self'", "frame-ancestors 'none'",
        ].joined(separator: "; ")
    }
}
