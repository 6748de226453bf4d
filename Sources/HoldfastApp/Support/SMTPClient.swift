import Foundation
import HoldfastCore
import NIOCore
import NIOPosix
import NIOSSL

/// A small SMTP client (RFC 5321) with STARTTLS (RFC 3207), TLS from the first byte, and
/// `AUTH PLAIN` (RFC 4954) over TLS only: EHLO, [STARTTLS, EHLO], [AUTH], MAIL FROM, RCPT TO,
/// DATA. One message per connection; the whole conversation has one deadline.
enum SMTPClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func send(_ message: [UInt8], from: String, to: String, relay: SMTPRelay, timeout: Duration) async throws {
        let tls = try relay.security == .none ? nil : Self.context(caFile: relay.caFile)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await Self.converse(message, from: from, to: to, relay: relay, tls: tls) }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw Failure(description: "the SMTP server \(relay.host):\(relay.port) did not finish within \(timeout)")
            }
            try await group.next()
            group.cancelAll()
        }
    }

    private static func context(caFile: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile {
            configuration.trustRoots = .file(caFile)
        }
        return try NIOSSLContext(configuration: configuration)
    }

    private static func converse(_ message: [UInt8], from: String, to: String, relay: SMTPRelay, tls: NIOSSLContext?) async throws {
        // The certificate must name the host; an address is checked against the certificate's IP entries.
        let serverName = IPAddress(relay.host) == nil ? relay.host : nil
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .connect(host: relay.host, port: relay.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if relay.security == .implicitTLS, let tls {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                        }
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw Failure(description: "cannot connect to the SMTP server \(relay.host):\(relay.port) (\(error))")
        }
        try await channel.executeThenClose { inbound, outbound in
            var replies = Replies(inbound.makeAsyncIterator())
            func say(_ command: String, expect code: Int, shown: String? = nil) async throws -> [String] {
                try await outbound.write(ByteBuffer(string: command + "\r\n"))
                return try await replies.expect(code, after: shown ?? command)
            }
            _ = try await replies.expect(220, after: "connecting")
            var capabilities = try await say("EHLO holdfast", expect: 250)
            if relay.security == .startTLS, let tls {
                guard Self.offers("STARTTLS", in: capabilities) else {
                    throw Failure(description: "the SMTP server \(relay.host) does not offer STARTTLS, and smtp+starttls:// requires it")
                }
                _ = try await say("STARTTLS", expect: 220)
                let raw = channel.channel
                try await raw.eventLoop.submit {
                    try raw.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: tls, serverHostname: serverName), position: .first)
                }.get()
                capabilities = try await say("EHLO holdfast", expect: 250)
            }
            if let credentials = relay.credentials {
                guard relay.security != .none else {
                    throw Failure(description: "SMTP credentials are sent only over TLS")
                }
                guard Self.offers("AUTH", in: capabilities, option: "PLAIN") else {
                    throw Failure(description: "the SMTP server \(relay.host) does not offer AUTH PLAIN")
                }
                let token = Data("\0\(credentials.username)\0\(credentials.password)".utf8).base64EncodedString()
                _ = try await say("AUTH PLAIN \(token)", expect: 235, shown: "AUTH PLAIN as \(credentials.username)")
            }
            _ = try await say("MAIL FROM:<\(from)>", expect: 250)
            _ = try await say("RCPT TO:<\(to)>", expect: 250)
            _ = try await say("DATA", expect: 354)
            // The renderer never starts a line with "."; the terminating line is ours.
            var body = message
            if body.suffix(2) != [13, 10] { body += [13, 10] }
            try await outbound.write(ByteBuffer(bytes: body + Array(".\r\n".utf8)))
            _ = try await replies.expect(250, after: "the message")
            try? await outbound.write(ByteBuffer(string: "QUIT\r\n"))
        }
    }

    /// Whether an EHLO reply lists `keyword` (and, for `AUTH`, the mechanism `option`).
    static func offers(_ keyword: String, in lines: [String], option: String? = nil) -> Bool {
        lines.dropFirst().contains { line in
            let words = line.dropFirst(4).uppercased().split(separator: " ")
            guard words.first.map(String.init) == keyword else { return false }
            return option.map { words.dropFirst().contains(Substring($0)) } ?? true
        }
    }

    /// Reads replies line by line; a multi-line reply (`250-…`) ends at its `250 ` line.
    struct Replies {
        var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        var buffer: [UInt8] = []

        init(_ iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) {
            self.iterator = iterator
        }

        mutating func line() async throws -> String {
            while true {
                if let end = self.buffer.firstIndex(of: 10) {
                    let line = String(decoding: self.buffer[..<end], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    self.buffer.removeSubrange(...end)
                    return line
                }
                guard self.buffer.count < 64 * 1024, let chunk = try await self.iterator.next() else {
                    throw Failure(description: "the SMTP server closed the connection")
                }
                self.buffer += chunk.readableBytesView
            }
        }

        /// The lines of one reply, which must carry `code`.
        mutating func expect(_ code: Int, after step: String) async throws -> [String] {
            var lines: [String] = []
            while true {
                let line = try await self.line()
                guard line.count >= 3, let got = Int(line.prefix(3)) else {
                    throw Failure(description: "the SMTP server sent '\(line.prefix(200))' after \(step)")
                }
                lines.append(line)
                if line.count > 3, line[line.index(line.startIndex, offsetBy: 3)] == "-" { continue }
                guard got == code else { throw Failure(description: "the SMTP server refused \(step): \(line.prefix(200))") }
                return lines
            }
        }
    }
}
