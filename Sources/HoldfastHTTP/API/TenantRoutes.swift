import Foundation
import HoldfastCore
import Hummingbird
import Logging

/// Tenants and their users: `/tenants`, `/tenants/{slug}`, `/tenants/{slug}/users`.
struct TenantRoutes {
    let authenticator: Authenticator
    let repositories: Repositories
    let now: @Sendable () -> Date
    let sessions: any SessionService
    let continuity: any ContinuityService
    /// What this host can give one session; measured when a limit is changed (memory, pid_max, disk).
    let hostCapacity: @Sendable () -> HostCapacity
    let audit: AuditRecorder

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("tenants", use: self.listTenants)
        group.post("tenants", use: self.createTenant)
        group.get("tenants/:slug", use: self.getTenant)
        group.patch("tenants/:slug", use: self.updateTenant)
        group.get("tenants/:slug/sessions", use: self.listSessions)
        group.get("tenants/:slug/users", use: self.listUsers)
        group.post("tenants/:slug/users", use: self.createUser)
    }

    /// Operators see every tenant; everyone else sees their own.
    @Sendable func listTenants(_ request: Request, context: AppRequestContext) async throws -> ListDTO<TenantDTO> {
        let user = try context.requireUser()
        let tenants: [Tenant]
        if user.role == .operator {
            tenants = try await self.repositories.tenants.list()
        } else {
            tenants = try await self.repositories.tenants.find(id: user.tenantID).map { [$0] } ?? []
        }
        return ListDTO(items: tenants.map(TenantDTO.init))
    }

    @Sendable func createTenant(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<TenantDTO> {
        let user = try context.requireUser()
        try AccessPolicy.requireTenantCreation(by: user)
        let body = try await request.decodeJSON(as: CreateTenantRequest.self, context: context)
        let tenant = try Tenant.validated(name: body.name, slug: body.slug, timeZone: body.timeZone, createdAt: self.now())
        try await self.repositories.tenants.create(tenant)
        context.logger.info("tenant created", metadata: ["tenant.id": "\(tenant.id)", "tenant.slug": "\(tenant.slug)"])
        await self.audit.record(
            .tenantCreated, by: user, tenant: tenant.id, target: tenant.slug, detail: "name: \(tenant.name); time zone: \(tenant.timeZone)",
            context: context)
        // The plans are made at sign-up (a failure is logged; the plan keeper retries within a minute).
        await self.continuity.tenantCreated(tenant)
        return EditedResponse(status: .created, headers: [.location: "/api/v1/tenants/\(tenant.slug)"], response: TenantDTO(tenant))
    }

    @Sendable func getTenant(_ request: Request, context: AppRequestContext) async throws -> TenantDTO {
        let user = try context.requireUser()
        let tenant = try await self.visibleTenant(context: context, user: user)
        return TenantDTO(tenant)
    }

    /// Changes a tenant's settings. Operators change anything; the tenant's own admins may only
    /// lower its limits and cut its network (see `Tenant.applying(_:capacity:by:)`). The whole body
    /// is checked before the one write, so a refused request changes nothing.
    @Sendable func updateTenant(_ request: Request, context: AppRequestContext) async throws -> TenantDTO {
        let user = try context.requireUser()
        var tenant = try await self.visibleTenant(context: context, user: user)
        let before = tenant
        guard user.role == .operator || user.role == .tenantAdmin else {
            throw CoreError.forbidden("Only an operator can change a tenant's settings; its admins may lower its limits.")
        }
        let body = try await request.decodeJSON(as: UpdateTenantRequest.self, context: context)
        let limitsChange = try Self.limitsChange(body)
        if body.changesMoreThanLimits || limitsChange.isEmpty {
            try AccessPolicy.requireTenantSettings(by: user)
        }
        let candidate = try Tenant.validated(
            name: body.name ?? tenant.name, slug: tenant.slug, timeZone: body.timeZone ?? tenant.timeZone, createdAt: tenant.createdAt
        )
        tenant.name = candidate.name
        tenant.timeZone = candidate.timeZone
        if case .set(let grace) = body.graceSeconds {
            if let grace {
                guard (60...86_400).contains(grace) else {
                    throw CoreError.invalidInput(
                        "invalid_grace",
                        "The grace period must be 60 to 86400 seconds (1 minute to 24 hours), or null for the server default.")
                }
            }
            tenant.graceSeconds = grace
        }
        if case .set(let retention) = body.retention {
            tenant.retention = try retention?.validated()
        }
        if !limitsChange.isEmpty {
            tenant = try tenant.applying(limitsChange, capacity: self.hostCapacity(), by: user)
        }
        try await self.repositories.tenants.update(tenant)
        context.logger.info(
            "tenant settings changed",
            metadata: [
                "tenant.id": "\(tenant.id)", "graceSeconds": "\(tenant.graceSeconds.map(String.init) ?? "default")",
                "network": "\(tenant.effectiveNetwork.rawValue)", "limits": "\(tenant.limits.map { "\($0)" } ?? "standard")",
                "by": "\(user.id)",
            ])
        await self.audit.record(
            .tenantUpdated, by: user, tenant: tenant.id, target: tenant.slug, detail: Self.changes(from: before, to: tenant),
            context: context)
        return TenantDTO(tenant)
    }

    /// A settings change in words, for the audit log.
    static func changes(from old: Tenant, to new: Tenant) -> String {
        func describe(_ value: (some CustomStringConvertible)?) -> String { value.map { "\($0)" } ?? "standard" }
        func json(_ value: (some Encodable)?) -> String {
            guard let value else { return "standard" }
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
        }
        let changes = AuditChanges.between([
            ("name", old.name, new.name), ("time zone", old.timeZone, new.timeZone),
            ("grace seconds", describe(old.graceSeconds), describe(new.graceSeconds)),
            ("retention", json(old.retention), json(new.retention)),
            ("network", describe(old.network?.rawValue), describe(new.network?.rawValue)),
            ("limits", json(old.limits), json(new.limits)),
        ])
        return changes.isEmpty ? "no change" : changes
    }

    /// The network and limits part of a settings change, with a wrong network word refused here.
    private static func limitsChange(_ body: UpdateTenantRequest) throws -> TenantLimitsChange {
        var change = TenantLimitsChange()
        if case .set(let word) = body.network {
            if let word {
                guard let network = NetworkAccess(rawValue: word) else {
                    throw CoreError.invalidInput(
                        "invalid_network", "The network must be \"none\" or \"internet\" (or null for the standard, internet).")
                }
                change.network = .value(network)
            } else {
                change.network = .standard
            }
        }
        if case .set(let limits) = body.limits {
            change.limits = limits.map { .value($0.values) } ?? .standard
        }
        return change
    }

    /// The tenant's live and held sessions, with their users, for the admin view.
    @Sendable func listSessions(_ request: Request, context: AppRequestContext) async throws -> ListDTO<TenantSessionDTO> {
        let user = try context.requireUser()
        let tenant = try await self.visibleTenant(context: context, user: user)
        let sessions = try await self.sessions.tenantSessions(tenant, by: user)
        let usage = try await self.sessions.usage(of: sessions, by: user)
        let emails = Dictionary(uniqueKeysWithValues: try await self.repositories.users.list(tenantID: tenant.id).map { ($0.id, $0.email) })
        return ListDTO(
            items: sessions.map {
                TenantSessionDTO(
                    session: SessionDTO($0), userEmail: emails[$0.userID] ?? "", usage: usage[$0.id].map(TenantSessionDTO.Usage.init))
            })
    }

    @Sendable func listUsers(_ request: Request, context: AppRequestContext) async throws -> ListDTO<UserDTO> {
        let caller = try context.requireUser()
        let tenant = try await self.visibleTenant(context: context, user: caller)
        try AccessPolicy.requireUserManagement(of: tenant, by: caller)
        return ListDTO(items: try await self.repositories.users.list(tenantID: tenant.id).map(UserDTO.init))
    }

    @Sendable func createUser(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<UserDTO> {
        let caller = try context.requireUser()
        let tenant = try await self.visibleTenant(context: context, user: caller)
        try AccessPolicy.requireUserManagement(of: tenant, by: caller)
        let body = try await request.decodeJSON(as: CreateUserRequest.self, context: context)
        let newUser = NewUser(email: body.email, name: body.name, password: body.password, role: body.role)
        let user = try newUser.validated(tenantID: tenant.id, createdAt: self.now())
        try AccessPolicy.requireGrant(of: user.role, by: caller)
        let hash = try await self.authenticator.hash(password: body.password)
        try await self.repositories.users.create(user, passwordHash: hash)
        context.logger.info(
            "user created", metadata: ["user.id": "\(user.id)", "tenant.id": "\(tenant.id)", "role": "\(user.role.rawValue)"])
        await self.audit.record(
            .userCreated, by: caller, tenant: tenant.id, target: user.email, detail: "role: \(user.role.rawValue)", context: context)
        return EditedResponse(status: .created, response: UserDTO(user))
    }

    /// The tenant named in the path, if the caller may know it exists; otherwise 404.
    private func visibleTenant(context: AppRequestContext, user: User) async throws -> Tenant {
        let slug = try context.parameters.require("slug")
        guard let tenant = try await self.repositories.tenants.find(slug: slug) else {
            throw CoreError.notFound("There is no tenant '\(slug)'.")
        }
        try AccessPolicy.requireVisibility(of: tenant, to: user)
        return tenant
    }
}
