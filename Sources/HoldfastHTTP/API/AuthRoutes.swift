import Foundation
import HoldfastCore
import Hummingbird

/// `POST /auth/login`, `POST /auth/logout`, `GET /auth/me`.
struct AuthRoutes {
    let authenticator: Authenticator
    let repositories: Repositories
    let cookie: SessionCookie

    func add(to group: RouterGroup<AppRequestContext>) {
        group.post("auth/login", use: self.login)
        group.post("auth/logout", use: self.logout)
        group.get("auth/me", use: self.me)
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(as: LoginRequest.self, context: context)
        let signIn = try await self.authenticator.signIn(email: body.email, password: body.password, address: context.clientAddress)
        let tenant = try await self.repositories.tenants.find(id: signIn.user.tenantID)
        let payload = LoginResponse(
            token: signIn.token, expiresAt: signIn.expiresAt, user: UserDTO(signIn.user), tenant: tenant.map(TenantDTO.init)
        )
        var response = try payload.response(from: request, context: context)
        response.setCookie(self.cookie.issue(token: signIn.token, lifetime: signIn.expiresAt.timeIntervalSince(self.authenticator.now())))
        response.headers[.cacheControl] = "no-store"
        return response
    }

    @Sendable func logout(_ request: Request, context: AppRequestContext) async throws -> Response {
        _ = try context.requireUser()
        if let digest = context.tokenDigest {
            try await self.authenticator.signOut(digest: digest)
        }
        var response = Response(status: .noContent)
        response.setCookie(self.cookie.cleared())
        return response
    }

    @Sendable func me(_ request: Request, context: AppRequestContext) async throws -> MeResponse {
        let user = try context.requireUser()
        let tenant = try await self.repositories.tenants.find(id: user.tenantID)
        return MeResponse(user: UserDTO(user), tenant: tenant.map(TenantDTO.init))
    }
}
