import Foundation
import HoldfastCore
import Logging

extension SupportDesk {
    /// Sends the breach warnings due now: "due soon" when less than the warning window of business
    /// time is left, "breached" once the due time passed, each once per ticket, and only while
    /// the support calendar is open (nobody is there to act at night). A ticket's assignee gets
    /// the warning; an unassigned ticket's goes to every agent and operator. Returns the number of
    /// tickets warned.
    ///
    /// A ticket changed by someone else meanwhile (its revision moved on) is skipped; the next
    /// sweep sees it again.
    @discardableResult
    public func sendBreachWarnings(warnWithin window: TimeInterval = TicketQueue.defaultWarningWindow) async throws -> Int {
        let now = self.now()
        let calendar = try await self.repositories.settings.supportCalendar()
        guard calendar.isOpen(at: now) else { return 0 }
        var team: [User.ID]?
        var warned = 0
        var offset = 0
        let pageSize = 200
        pages: while true {
            let page = try await self.repositories.tickets.queue(tenantIDs: nil, limit: pageSize, offset: offset)
            for ticket in page {
                // The queue lists tickets awaiting a first response first, earliest due first.
                guard ticket.isAwaitingFirstResponse, ticket.firstResponseDueAt != nil else { break pages }
                guard try TicketQueue.breachWarning(for: ticket, calendar: calendar, warnWithin: window, at: now) != nil else { continue }
                if team == nil { team = try await self.supportTeam() }
                var machine = TicketStateMachine(ticket: ticket, calendar: calendar)
                let actions = try machine.tick(warnWithin: window, fallbackRecipients: team ?? [], at: now)
                var outbox: [OutboxMessage] = []
                for case .notify(let userID, let notice) in actions {
                    if let mail = try await self.mail(notice, about: machine.ticket, to: userID, author: nil, at: now) {
                        outbox.append(mail)
                    }
                }
                do {
                    try await self.repositories.tickets.save(machine.ticket, replies: [], outbox: outbox)
                    warned += 1
                    self.logger.info(
                        "breach warning sent",
                        metadata: ["ticket.id": "\(ticket.id)", "ticket.number": "\(ticket.number)", "recipients": "\(outbox.count)"])
                } catch let error as CoreError where error.kind == .conflict {
                    continue
                }
            }
            guard page.count == pageSize else { break }
            offset += pageSize
        }
        return warned
    }

    /// Every agent and operator: who hears about an unassigned ticket.
    private func supportTeam() async throws -> [User.ID] {
        var team: [User.ID] = []
        for tenant in try await self.repositories.tenants.list() {
            team += try await self.repositories.users.list(tenantID: tenant.id).filter(AccessPolicy.isSupportTeam).map(\.id)
        }
        return team
    }
}
