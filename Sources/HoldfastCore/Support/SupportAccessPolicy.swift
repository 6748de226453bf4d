/// Who may see and change tickets and suggestions.
///
/// The team (agents and operators) works tickets of every tenant. A customer sees their own tickets; a tenant
/// admin also sees their tenant's, and may reply as the customer. Anyone else is told the ticket does not
/// exist, so ticket numbers leak nothing about other tenants.
extension AccessPolicy {
    /// Whether `caller` is on the support team.
    public static func isSupportTeam(_ caller: User) -> Bool {
        caller.role == .agent || caller.role == .operator
    }

    /// On whose behalf `caller` acts on `ticket`, or `notFound` when they have no business with it.
    ///
    /// A team member who filed a ticket for themselves still acts as the team: the role decides, so an agent's
    /// reply is always a candidate first response.
    public static func ticketSide(of caller: User, on ticket: Ticket) throws -> TicketSide {
        if self.isSupportTeam(caller) { return .team }
        if ticket.requesterID == caller.id || (caller.role == .tenantAdmin && caller.tenantID == ticket.tenantID) {
            return .customer
        }
        throw CoreError.notFound("There is no ticket #\(ticket.number).")
    }

    /// Checks that `caller` may read `ticket` (and its public replies).
    public static func requireVisibility(of ticket: Ticket, to caller: User) throws {
        _ = try self.ticketSide(of: caller, on: ticket)
    }

    /// The replies `caller` may read: everything for the team, public replies only for the customer side.
    public static func visibleReplies(_ replies: [TicketReply], of ticket: Ticket, to caller: User) throws -> [TicketReply] {
        switch try self.ticketSide(of: caller, on: ticket) {
        case .team: replies
        case .customer: replies.filter { $0.visibility == .public }
        }
    }

    /// Checks that `caller` may file a ticket for `requester` through `channel`.
    ///
    /// Customers file for themselves by form, API or mail; only the team files by phone, and only the team
    /// files for somebody else.
    public static func requireFiling(for requester: User, by caller: User, channel: TicketChannel) throws {
        if self.isSupportTeam(caller) { return }
        guard channel != .phone else {
            throw CoreError.forbidden("Only the support team files phone tickets; use the form or send a mail.")
        }
        guard requester.id == caller.id else {
            throw CoreError.forbidden("You can file tickets only for yourself; ask the support team to file one for someone else.")
        }
    }

    /// Checks that `caller` may use the agent console: the queue, assignment, and internal notes.
    public static func requireAgentConsole(by caller: User) throws {
        guard self.isSupportTeam(caller) else {
            throw CoreError.forbidden("Only agents and operators can work the ticket queue.")
        }
    }

    /// Checks that `caller` may see `suggestion`: the service-wide board is public to every signed-in user, a
    /// tenant's own board to its users and the team.
    public static func requireVisibility(of suggestion: Suggestion, to caller: User) throws {
        guard let tenantID = suggestion.tenantID, !self.isSupportTeam(caller), caller.tenantID != tenantID else { return }
        throw CoreError.notFound("There is no suggestion \(suggestion.id).")
    }

    /// Checks that `caller` may change a suggestion's status and merge duplicates (the team only).
    public static func requireSuggestionModeration(by caller: User) throws {
        guard self.isSupportTeam(caller) else {
            throw CoreError.forbidden("Only agents and operators can change a suggestion's status or merge suggestions.")
        }
    }
}
