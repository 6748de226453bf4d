import Foundation
import Glibc
import HoldfastCore
import Logging
import ServiceLifecycle

/// Where mail goes: `file:DIR` writes each message as an `.eml` file (the default, under the
/// data directory), `smtp://HOST:PORT` hands it to an SMTP server.
public enum MailDestination: Sendable, Hashable, CustomStringConvertible {
    case directory(String)
    case smtp(host: String, port: Int)

    /// Parses `--smtp`: `file:DIR` or `smtp://HOST[:PORT]` (port 25 by default).
    public static func parse(_ text: String) throws -> MailDestination {
        if text.hasPrefix("file:") {
            let path = String(text.dropFirst("file:".count))
            guard !path.isEmpty else {
                throw CoreError.invalidInput("invalid_smtp", "--smtp file:DIR needs a folder, e.g. file:./holdfast-data/mail.")
            }
            return .directory(URL(fileURLWithPath: path).standardizedFileURL.path)
        }
        if text.hasPrefix("smtp://"), let url = URL(string: text), let host = url.host, !host.isEmpty,
            url.path.isEmpty || url.path == "/", url.user == nil
        {
            return .smtp(host: host, port: url.port ?? 25)
        }
        throw CoreError.invalidInput(
            "invalid_smtp",
            "'\(text)' is not a mail destination; use smtp://HOST:PORT or file:DIR (credentials are not supported in the URL).")
    }

    public var description: String {
        switch self {
        case .directory(let path): "file:\(path)"
        case .smtp(let host, let port): "smtp://\(host):\(port)"
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
        while !Task.isShuttingDownGracefully {
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
        case .smtp(let host, let port):
            let from = self.renderer.from.address
            let to = message.to.address
            try await Task.detached {
                try SMTPClient.send(bytes, from: from, to: to, host: host, port: port, timeout: 30)
            }.value
        }
    }
}

/// A minimal SMTP client (RFC 5321) for a relay that accepts mail without authentication, such
/// as the local MTA: EHLO, MAIL FROM, RCPT TO, DATA. Blocking; run it off the event loops.
enum SMTPClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func send(_ message: [UInt8], from: String, to: String, host: String, port: Int, timeout: Int) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else {
            throw Failure(description: "cannot resolve the SMTP server \(host)")
        }
        defer { freeaddrinfo(found) }
        let socket = Glibc.socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard socket >= 0 else { throw Failure(description: "socket() failed (errno \(errno))") }
        defer { close(socket) }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard connect(socket, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw Failure(description: "cannot connect to the SMTP server \(host):\(port) (errno \(errno))")
        }
        var reader = ReplyReader(socket: socket)
        try reader.expect(220, after: "connecting")
        for (command, code) in [("EHLO holdfast", 250), ("MAIL FROM:<\(from)>", 250), ("RCPT TO:<\(to)>", 250), ("DATA", 354)] {
            try write(socket, Array((command + "\r\n").utf8))
            try reader.expect(code, after: command)
        }
        // The renderer never starts a line with "."; the terminating line is ours.
        var body = message
        if !(body.suffix(2) == [13, 10]) { body += [13, 10] }
        try write(socket, body + Array(".\r\n".utf8))
        try reader.expect(250, after: "the message")
        try? write(socket, Array("QUIT\r\n".utf8))
    }

    private static func write(_ socket: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw Failure(description: "the SMTP server closed the connection (errno \(errno))") }
            offset += written
        }
    }

    /// Reads replies line by line; a multi-line reply (`250-…`) ends at its `250 ` line.
    struct ReplyReader {
        let socket: Int32
        var buffer: [UInt8] = []

        mutating func line() throws -> String {
            while true {
                if let end = self.buffer.firstIndex(of: 10) {
                    let line = String(decoding: self.buffer[..<end], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    self.buffer.removeSubrange(...end)
                    return line
                }
                var chunk = [UInt8](repeating: 0, count: 4096)
                let count = recv(self.socket, &chunk, chunk.count, 0)
                guard count > 0 else { throw Failure(description: "the SMTP server did not answer (errno \(errno))") }
                self.buffer += chunk[..<count]
            }
        }

        mutating func expect(_ code: Int, after step: String) throws {
            while true {
                let line = try self.line()
                guard line.count >= 3, let got = Int(line.prefix(3)) else {
                    throw Failure(description: "the SMTP server sent '\(line.prefix(200))' after \(step)")
                }
                if line.count > 3, line[line.index(line.startIndex, offsetBy: 3)] == "-" { continue }
                guard got == code else { throw Failure(description: "the SMTP server refused \(step): \(line.prefix(200))") }
                return
            }
        }
    }
}
