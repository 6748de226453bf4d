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

    let origins: OriginPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[Name("Content-Security-Policy")!] = self.contentSecurityPolicy(host: request.head.authority)
        response.headers[Name("X-Frame-Options")!] = "DENY"
        response.headers[Name("X-Content-Type-Options")!] = "nosniff"
        // Not `no-referrer`: with it, browsers send `Origin: null` on our own POSTs, which the
        // cross-site check (`AuthenticationMiddleware`) must refuse.
        response.headers[Name("Referrer-Policy")!] = "same-origin"
        if self.origins.publicOrigin?.isSecure == true {
            response.headers[Name("Strict-Transport-Security")!] = "max-age=31536000"
        }
        return response
    }

    /// The policy, with the WebSocket origins of the host the page was reached at spelled out
    /// (older browsers do not count `ws:` as `'self'`).
    func contentSecurityPolicy(host: String?) -> String {
        var connect = ["'self'"]
        if let origin = self.origins.publicOrigin ?? host.flatMap({ WebOrigin(scheme: "http", hostHeader: $0) }) {
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
