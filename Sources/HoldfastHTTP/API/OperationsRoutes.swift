import Foundation
import Hummingbird

/// `/healthz` and `/openapi.yaml`: for load balancers and API users (`/metrics` is
/// `MetricsEndpoint`).
struct OperationsRoutes {
    /// Answers whether the store can be queried right now.
    let health: @Sendable () async -> Bool
    let openAPIDocument: ByteBuffer

    func add(to router: Router<AppRequestContext>) {
        router.get("healthz", use: self.healthz)
        router.get("openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: self.openAPIDocument))
        }
    }

    @Sendable func healthz(_ request: Request, context: AppRequestContext) async throws -> Response {
        struct Health: Encodable {
            var status: String
            var database: String
        }
        let ok = await self.health()
        let body = Health(status: ok ? "ok" : "degraded", database: ok ? "ok" : "unreachable")
        var response = try JSONEncoder().encode(body).withUnsafeBytes { bytes in
            Response(status: ok ? .ok : .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        response.headers[.contentType] = "application/json"
        response.headers[.cacheControl] = "no-store"
        return response
    }
}
