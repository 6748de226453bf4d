import Foundation
import HoldfastCore
import HoldfastHTTP
import Logging

/// The e-mail channel: one RFC 5322 message, as an MTA pipes it to `holdfast mail-gate`, becomes
/// a new ticket, or a reply on the ticket whose tag and reply token its subject carries
/// (`[#42-token]`, as in every mail the customer got about it).
///
/// Everything is decided before anything is written (``MailGate/plan(_:sender:thread:at:)``), and
/// the ticket or reply is saved with its mails in one transaction, so a refused message leaves
/// nothing behind.
public struct MailGateway: Sendable {
    /// What became of one message.
    public enum Outcome: Sendable, Equatable {
        /// A new ticket was filed for the sender; `unverified` unless the mail proved who sent it.
        case filed(number: Int, unverified: Bool)
        /// The message was added to an existing ticket.
        case replied(number: Int)
        /// Nothing was saved; the text says why, in words for the sender (the MTA mails it back).
        case bounced(String, reason: BounceReason)
    }

    /// Why a message bounced, for the exit status the MTA reads (sysexits.h).
    public enum BounceReason: Int32, Sendable {
        /// The sender has no account (`EX_NOUSER`).
        case unknownSender = 67
        /// The message is unreadable or breaks a rule (`EX_DATAERR`).
        case refused = 65
    }

    let desk: SupportDesk
    let repositories: Repositories
    /// The MTAs whose `Authentication-Results` count (``MailAuthentication``); none by default.
    let trustedAuthServIDs: Set<String>
    let logger: Logger

    public init(desk: SupportDesk, repositories: Repositories, trustedAuthServIDs: Set<String> = [], logger: Logger) {
        self.desk = desk
        self.repositories = repositories
        self.trustedAuthServIDs = trustedAuthServIDs
        self.logger = logger
    }

    /// Reads `message` and files it. A message that breaks a rule (too large, no From, broken
    /// MIME, no text, a subject too long) bounces; a failing store throws, so the MTA keeps the
    /// message and tries again later.
    public func receive(_ message: [UInt8], at now: Date) async throws -> Outcome {
        let parsed: MailMessage
        do {
            parsed = try MailParser.parse(message)
        } catch let error as CoreError {
            return .bounced(MailGateBounce.rejected(error), reason: .refused)
        }
        let sender = try await self.repositories.users.credentials(email: parsed.from.address)?.user
        var thread: Ticket?
        if let number = parsed.threadTag?.number {
            thread = try await self.repositories.tickets.find(number: number)
        }
        let messageID = parsed.messageID ?? "none"
        do {
            let verified = MailAuthentication.fromIsVerified(parsed, trusting: self.trustedAuthServIDs)
            switch MailGate.plan(parsed, sender: sender, thread: thread, fromVerified: verified, at: now) {
            case .bounce(let text, .unknownSender):
                self.logger.notice("mail refused: unknown sender", metadata: ["mail.message-id": "\(messageID)"])
                return .bounced(text, reason: .unknownSender)
            case .bounce(let text, .teamByMail):
                self.logger.notice("mail refused: a team address on a ticket's thread", metadata: ["mail.message-id": "\(messageID)"])
                return .bounced(text, reason: .refused)
            case .newTicket(let new):
                guard let sender else { return .bounced(MailGateBounce.unknownSender(parsed.from.address), reason: .unknownSender) }
                if parsed.threadTag != nil {
                    // A tag without the ticket's token: guessed, stale or forged. Nothing is added there.
                    self.logger.notice(
                        "mail tag without a valid reply token: filed as a new ticket",
                        metadata: ["mail.message-id": "\(messageID)", "tag.number": "\(parsed.threadTag?.number ?? 0)"])
                }
                let view = try await self.desk.file(new, requesterEmail: nil, by: sender)
                return .filed(number: view.ticket.number, unverified: view.ticket.unverified)
            case .reply(let ticket, let body, let author):
                let writer: User
                switch author {
                case .sender:
                    guard let sender else { return .bounced(MailGateBounce.unknownSender(parsed.from.address), reason: .unknownSender) }
                    writer = sender
                case .requester:
                    guard let requester = try await self.repositories.users.find(id: ticket.requesterID) else {
                        return .bounced(MailGateBounce.unknownSender(parsed.from.address), reason: .unknownSender)
                    }
                    writer = requester
                }
                let view = try await self.desk.reply(
                    to: ticket.id, body: body, visibility: .public, status: nil, channel: .email, by: writer)
                return .replied(number: view.ticket.number)
            }
        } catch let error as CoreError where error.kind == .invalidInput || error.kind == .forbidden || error.kind == .conflict {
            return .bounced(MailGateBounce.rejected(error), reason: .refused)
        }
    }
}
