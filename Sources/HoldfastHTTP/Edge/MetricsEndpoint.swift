import Crypto
import Foundation
import HoldfastCore
import Hummingbird

/// `GET /metrics`, the Prometheus text exposition, for the host itself or a scraper that
/// shows the metrics token.
///
/// It answers before authentication: Prometheus sends the token as `Authorization: Bearer`,
/// which is no user's sign-in. A client on the loopback (behind a proxy on this host, the
/// client it names with `--trusted-proxy`) needs no token; any other needs the token, and
/// without one configured it gets `403 metrics_forbidden`.
struct MetricsEndpoint: RouterMiddleware {
    typealias Context = AppRequestContext

    let render: @Sendable () async -> String
    /// SHA-256 of the token a scraper must show, when one is configured.
    let tokenDigest: SHA256.Digest?

    init(render: @escaping @Sendable () async -> String, token: String?) {
        self.render = render
        self.tokenDigest = token.map { SHA256.hash(data: Data($0.utf8)) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path == "/metrics" else { return try await next(request, context) }
        guard request.method == .get || request.method == .head else {
            throw APIError(.methodNotAllowed, code: "method_not_allowed", message: "/metrics answers GET only.")
        }
        try self.authorise(request, client: context.client)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: await self.render()))
        )
    }

    private func authorise(_ request: Request, client: IPAddress?) throws {
        if let header = request.headers[.authorization] {
            guard let expected = self.tokenDigest, header.lowercased().hasPrefix("bearer "),
                SHA256.hash(data: Data(header.dropFirst("bearer ".count).trimmingCharacters(in: .whitespaces).utf8)) == expected
            else {
                throw APIError(.unauthorized, code: "invalid_token", message: "That is not the metrics token.")
            }
            return
        }
        // In-process (tests) there is no peer at all.
        guard client?.isLoopback ?? true else {
            throw APIError(
                .forbidden, code: "metrics_forbidden",
                message: self.tokenDigest == nil
                    ? "Metrics are served to this host only; give the server a metrics token to scrape it from elsewhere."
                    : "Metrics need the metrics token from here: send 'Authorization: Bearer TOKEN'.")
        }
    }
}
