/// Who may see and change what, across tenants. Pure rules, asked by every route.
///
/// A caller who has no business with a tenant is told it does not exist (`notFound`), so a
/// tenant admin cannot even learn which other tenants are on the service; a caller who
/// belongs to the tenant but lacks the role is told so plainly (`forbidden`).
public enum AccessPolicy {
    /// Checks that `caller` may list and create users of `tenant`.
    public static func requireUserManagement(of tenant: Tenant, by caller: User) throws {
        try self.requireVisibility(of: tenant, to: caller)
        guard caller.role == .operator || caller.role == .tenantAdmin else {
            throw CoreError.forbidden("Only a tenant admin or an operator can manage the users of '\(tenant.slug)'.")
        }
    }

    /// Checks that `caller` may learn that `tenant` exists at all.
    public static func requireVisibility(of tenant: Tenant, to caller: User) throws {
        guard caller.role == .operator || caller.tenantID == tenant.id else {
            throw CoreError.notFound("There is no tenant '\(tenant.slug)'.")
        }
    }

    /// Checks that `caller` may give a new user `role`: tenant admins make members and
    /// other tenant admins; only operators make agents and operators.
    public static func requireGrant(of role: Role, by caller: User) throws {
        switch (caller.role, role) {
        case (.operator, _), (.tenantAdmin, .member), (.tenantAdmin, .tenantAdmin):
            return
        default:
            throw CoreError.forbidden("Only an operator can create a user with the role '\(role.rawValue)'.")
        }
    }

    /// Checks that `caller` may watch, extend and close every session of `tenant`.
    public static func requireSessionAdministration(of tenant: Tenant, by caller: User) throws {
        try self.requireVisibility(of: tenant, to: caller)
        guard caller.role == .operator || caller.role == .tenantAdmin else {
            throw CoreError.forbidden("Only a tenant admin or an operator can manage the sessions of '\(tenant.slug)'.")
        }
    }

    /// Checks that `caller` may change a tenant's service settings, such as its grace period (operators only).
    public static func requireTenantSettings(by caller: User) throws {
        guard caller.role == .operator else {
            throw CoreError.forbidden("Only an operator can change a tenant's settings.")
        }
    }

    /// Checks that `caller` may create tenants (operators only).
    public static func requireTenantCreation(by caller: User) throws {
        guard caller.role == .operator else {
            throw CoreError.forbidden("Only an operator can create tenants.")
        }
    }
}

extension AccessPolicy {
    /// Checks that `caller` may see or close `session`: its owner, a tenant admin of its
    /// tenant, or an operator. Anyone else is told it does not exist.
    public static func requireOversight(of session: Session, by caller: User) throws {
        let allowed =
            session.userID == caller.id || caller.role == .operator
            || (caller.role == .tenantAdmin && caller.tenantID == session.tenantID)
        guard allowed else {
            throw CoreError.notFound("There is no session \(session.id).")
        }
    }

    /// Checks that `caller` may type into `session`: only its owner. An admin may close a
    /// user's session but never see or drive their terminal.
    public static func requireAttach(to session: Session, by caller: User) throws {
        try self.requireOversight(of: session, by: caller)
        guard session.userID == caller.id else {
            throw CoreError.forbidden("Only the session's owner can attach to it; administrators can close it instead.")
        }
    }
}
