import Foundation

/// A change to a tenant's network access and session limits, as the settings API receives it.
///
/// Every part is optional: what is absent stays as it is. Limits are merged over the ones in
/// force, so a caller can lower one limit without restating the other five.
public struct TenantLimitsChange: Sendable, Hashable {
    /// A new setting, or a reset to the standard one.
    public enum Setting<Value: Sendable & Hashable>: Sendable, Hashable {
        case standard
        case value(Value)
    }

    /// `nil`: leave the network access as it is.
    public var network: Setting<NetworkAccess>?
    /// `nil`: leave the limits as they are. A value names only the limits to change (by their
    /// wire names, `SessionLimits.fieldNames`); the others keep the values in force.
    public var limits: Setting<[String: Int]>?

    public init(network: Setting<NetworkAccess>? = nil, limits: Setting<[String: Int]>? = nil) {
        self.network = network
        self.limits = limits
    }

    public var isEmpty: Bool { self.network == nil && self.limits == nil }
}

extension Tenant {
    /// The tenant with `change` applied, checked in full before anything is returned: the caller
    /// stores the result or nothing, never half of it.
    ///
    /// Operators may set any limit the host can give. A tenant's own admins may only make their
    /// sessions poorer (CONTRACT: "limits may only be lowered by the tenant's admins"): lower a
    /// limit, or cut the network to `none`; raising is an operator's decision because it spends the
    /// host's memory and disk that other tenants share.
    /// - Throws: `CoreError.invalidInput("invalid_limits", …)` for an unknown limit or a value out
    ///   of range (checked first: a bad value is bad whoever sends it); `CoreError.forbidden` when a
    ///   tenant admin raises anything, or when the caller is neither an operator nor one of the
    ///   tenant's admins.
    public func applying(_ change: TenantLimitsChange, capacity: HostCapacity, by caller: User) throws -> Tenant {
        guard caller.role == .operator || (caller.role == .tenantAdmin && caller.tenantID == self.id) else {
            throw CoreError.forbidden("Only an operator or a tenant admin of '\(self.slug)' can change its network access and limits.")
        }
        var changed = self
        switch change.limits {
        case nil:
            break
        case .standard:
            changed.limits = nil
        case .value(let values):
            let unknown = values.keys.filter { !SessionLimits.fieldNames.contains($0) }.sorted()
            guard unknown.isEmpty else {
                throw CoreError.invalidInput(
                    "invalid_limits",
                    "Unknown limit \(unknown.map { "'\($0)'" }.joined(separator: ", ")); the limits are "
                        + SessionLimits.fieldNames.joined(separator: ", ") + ". Nothing was changed.")
            }
            var limits = self.effectiveLimits
            for (field, value) in values {
                limits[field: field] = value
            }
            try limits.validate(against: capacity, fields: Array(values.keys))
            changed.limits = limits
        }
        switch change.network {
        case nil: break
        case .standard: changed.network = nil
        case .value(let network): changed.network = network
        }
        if caller.role != .operator {
            try self.requireOnlyLowered(to: changed)
        }
        return changed
    }

    /// Refuses a change that gives the tenant's sessions more than they have now.
    private func requireOnlyLowered(to changed: Tenant) throws {
        let current = self.effectiveLimits
        let raised = changed.effectiveLimits.raised(over: current)
        var refusals = raised.map {
            "\($0) from \(SessionLimits.grouped(current[field: $0])) to \(SessionLimits.grouped(changed.effectiveLimits[field: $0]))"
        }
        if changed.effectiveNetwork == .internet && self.effectiveNetwork == .none {
            refusals.append("network from none to internet")
        }
        guard refusals.isEmpty else {
            throw CoreError.forbidden(
                "A tenant admin may only lower limits (and set the network to none); raising "
                    + refusals.joined(separator: ", ") + " needs an operator. Nothing was changed.")
        }
    }
}
