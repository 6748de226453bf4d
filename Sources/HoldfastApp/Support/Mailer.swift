import Foundation
import Glibc
import HoldfastCore
import Logging
import ServiceLifecycle

/// Where mail goes: `file:DIR` writes each message as an `.eml` file (the default, under the
/// data directory), `smtp://HOST:PORT` hands it to an SMTP server.
public enum MailDestination: Sendable, Hashable, CustomStringConvertible {
    case directory(String)
    case smtp(SMTPRelay)

    /// Parses `--smtp`: `file:DIR`, or `smtp://`, `smtp+starttls://` or `smtps://` `HOST[:PORT]`
    /// (see ``SMTPRelay``); credentials and a CA file come from their own settings, never the URL.
    public static func parse(_ text: String, credentials: SMTPCredentials? = nil, caFile: String? = nil) throws -> MailDestination {
        if text.hasPrefix("file:") {
            let path = String(text.dropFirst("file:".count))
            guard !path.isEmpty else {
                throw CoreError.invalidInput("invalid_smtp", "--smtp file:DIR needs a folder, e.g. file:./holdfast-data/mail.")
            }
            return .directory(URL(fileURLWithPath: path).standardizedFileURL.path)
        }
        if var relay = SMTPRelay.parse(text) {
            relay.credentials = credentials
            relay.caFile = caFile
            return .smtp(try relay.validated())
        }
        throw CoreError.invalidInput(
            "invalid_smtp",
            "'\(text)' is not a mail destination; use smtp://HOST:PORT, smtp+starttls://HOST:587, smtps://HOST:465 or file:DIR "
                + "(credentials go in --smtp-credentials-file or HOLDFAST_SMTP_USERNAME and HOLDFAST_SMTP_PASSWORD, not the URL).")
    }

    public var description: String {
        switch self {
        case .directory(let path): "file:\(path)"
        case .smtp(let relay): relay.description
        }
    }
}

/// Delivers the outbox: every couple of seconds it takes the messages that are due, sends each,
/// and marks it sent, or failed with the next attempt (backoff up to an hour; given up after 48 h).
/// A message is marked sent only after the destination accepted it, so a crash in between sends
/// it again rather than never (receivers can drop the duplicate by its stable Message-ID).
struct Mailer: Service {
    let outbox: any OutboxRepository
    let destination: MailDestination
    let renderer: OutgoingMailRenderer
    var schedule = RetrySchedule()
    var period: Duration = .seconds(2)
    let now: @Sendable () -> Date
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await self.deliverDue()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.period) }
        }
    }

    /// One round: sends what is due now. Returns how many were sent.
    @discardableResult
    func deliverDue() async -> Int {
        let due: [OutboxMessage]
        do {
            due = try await self.outbox.due(at: self.now(), limit: 50)
        } catch {
            self.logger.error("could not read the mail outbox", metadata: ["error": "\(error)"])
            return 0
        }
        var sent = 0
        for message in due {
            let now = self.now()
            let bytes = self.renderer.render(message, at: now)
            do {
                try await self.deliver(bytes, of: message)
                try await self.outbox.markSent(id: message.id, at: now)
                sent += 1
            } catch {
                let next = self.schedule.nextAttempt(after: message, failedAt: now)
                self.logger.warning(
                    next == nil ? "mail given up" : "mail not delivered; will retry",
                    metadata: ["mail.id": "\(message.id)", "error": "\(error)", "next": "\(next.map { "\($0)" } ?? "never")"])
                try? await self.outbox.markFailed(id: message.id, error: "\(error)", nextAttemptAt: next, at: now)
            }
        }
        return sent
    }

    private func deliver(_ bytes: [UInt8], of message: OutboxMessage) async throws {
        switch self.destination {
        case .directory(let directory):
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let name = "\(Int(message.createdAt.timeIntervalSince1970 * 1000))-\(message.id).eml"
            let temporary = directory + "/." + name + ".partial"
            guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
                throw CoreError(.unavailable, code: "mail_write_failed", message: "Could not write \(temporary).")
            }
            guard rename(temporary, directory + "/" + name) == 0 else {
                throw CoreError(.unavailable, code: "mail_write_failed", message: "Could not move \(temporary) into place.")
            }
        case .smtp(let relay):
            try await SMTPClient.send(bytes, from: self.renderer.from.address, to: message.to.address, relay: relay, timeout: .seconds(60))
        }
    }
}
