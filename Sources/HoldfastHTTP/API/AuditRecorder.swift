import Foundation
import HoldfastCore
import Logging

/// Appends the routes' privileged actions to the audit log, with who acted and from where.
///
/// An action is recorded once it has succeeded. Should the log itself fail to take it, the event
/// goes to the server log in full at error level: the change is already made, and refusing the
/// answer would only hide that it was.
public struct AuditRecorder: Sendable {
    let repository: any AuditRepository
    let now: @Sendable () -> Date
    let logger: Logger

    public init(repository: any AuditRepository, now: @escaping @Sendable () -> Date, logger: Logger) {
        self.repository = repository
        self.now = now
        self.logger = logger
    }

    func record(
        _ action: AuditAction, by user: User, tenant: Tenant.ID?, target: String, detail: String = "", context: AppRequestContext
    ) async {
        let event = AuditEvent(
            at: self.now(), tenantID: tenant, actorID: user.id, actor: user.email, action: action, target: target, detail: detail,
            from: context.clientAddress)
        do {
            try await self.repository.append(event)
        } catch {
            self.logger.error(
                "audit event not recorded",
                metadata: [
                    "error": "\(error)", "audit.action": "\(action.rawValue)", "audit.actor": "\(user.email)", "audit.target": "\(target)",
                    "audit.detail": "\(detail)", "audit.from": "\(event.from)",
                ])
        }
    }
}

/// What changed between two values, as an audit event's detail: `name: Acme → Acme Ltd; grace: default → 600`.
enum AuditChanges {
    static func between(_ pairs: [(field: String, old: String, new: String)]) -> String {
        pairs.filter { $0.old != $0.new }.map { "\($0.field): \($0.old) → \($0.new)" }.joined(separator: "; ")
    }
}
