import ArgumentParser
import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastStore

/// `holdfast mail-gate`: files one e-mail read from stdin, the way an MTA pipes mail to a program
/// (Postfix `pipe`, an `/etc/aliases` line `support: "|holdfast mail-gate --data-dir …"`).
struct MailGateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mail-gate",
        abstract:
            "File one RFC 822 message from stdin as a ticket, or as a reply to the ticket whose tag and reply token its subject carries ([#N-token]).",
        discussion: """
            From: proves nothing: without the ticket's reply token a mail files a new, unverified ticket for the \
            user it names, and a support team address on a ticket's thread is refused (the team answers in the \
            console) unless --trust-authserv-id names the MTA that verified it. Exit 0 when filed. A refused message prints the reason for the sender on stdout and exits 67 \
            (unknown sender) or 65 (unreadable, too large, or from the team); nothing is saved. A failing database exits 75 (EX_TEMPFAIL), \
            so the MTA keeps the message and tries again.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(
        name: .customLong("trust-authserv-id"),
        help:
            "The name your receiving MTA puts in the Authentication-Results headers it adds (repeatable). A From domain it vouches for (DMARC, aligned DKIM or SPF pass) makes a new ticket verified and lets a team member with the reply token answer by mail. The MTA must remove such headers that arrive from outside."
    )
    var trustAuthservIDs: [String] = []

    func run() async throws {
        // At most one byte over the limit is read: enough for the parser to refuse a larger message.
        var input = Data()
        while input.count <= MailParser.maximumSize,
            let chunk = try FileHandle.standardInput.read(upToCount: MailParser.maximumSize + 1 - input.count), !chunk.isEmpty
        {
            input.append(chunk)
        }
        let configuration = try self.store.configuration()
        let logger = Console.logger(level: self.store.logLevel)
        let outcome: MailGateway.Outcome
        do {
            outcome = try await withOpenStore(configuration, logger: logger) { accounts, _ in
                let desk = SupportDesk(repositories: accounts.repositories, now: { Date() }, logger: logger)
                return try await MailGateway(
                    desk: desk, repositories: accounts.repositories, trustedAuthServIDs: Set(self.trustAuthservIDs), logger: logger
                )
                .receive(Array(input), at: Date())
            }
        } catch {
            FileHandle.standardError.write(Data("holdfast mail-gate: the message could not be saved, try again later: \(error)\n".utf8))
            throw ExitCode(75)
        }
        switch outcome {
        case .filed(let number, let unverified):
            Console.say(unverified ? "filed ticket #\(number), unverified (the mail carried no reply token)" : "filed ticket #\(number)")
        case .replied(let number):
            Console.say("added the message to ticket #\(number)")
        case .bounced(let text, let reason):
            Console.say(text)
            throw ExitCode(reason.rawValue)
        }
    }
}
