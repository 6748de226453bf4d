import Foundation

/// An e-mail address with an optional display name, as in `Jane Doe <jane@example.com>`.
public struct MailAddress: Sendable, Codable, Hashable, CustomStringConvertible {
    /// The addr-spec, `local@domain`, as written.
    public var address: String
    /// The display name, decoded (RFC 2047) and unquoted; `nil` when there is none.
    public var name: String?

    public init(address: String, name: String? = nil) {
        self.address = address
        self.name = name
    }

    public var description: String { self.name.map { "\($0) <\(self.address)>" } ?? self.address }
}

/// A file attached to a received mail: listed on the ticket so the team knows it was sent, never stored.
public struct MailAttachment: Sendable, Codable, Hashable {
    /// The file name the sender gave, if any.
    public var filename: String?
    /// The MIME type, lower-cased, e.g. `application/pdf`.
    public var contentType: String
    /// The decoded size in bytes.
    public var size: Int

    public init(filename: String?, contentType: String, size: Int) {
        self.filename = filename
        self.contentType = contentType
        self.size = size
    }
}

/// One received mail, reduced to what the support desk uses; ``MailParser/parse(_:)`` makes it.
public struct MailMessage: Sendable, Codable, Hashable {
    public var from: MailAddress
    /// The subject, RFC 2047 words decoded; empty when the mail has none.
    public var subject: String
    /// The `Message-ID` without angle brackets.
    public var messageID: String?
    /// The `In-Reply-To` id without angle brackets.
    public var inReplyTo: String?
    /// The `Date` header; `nil` when missing or unreadable (it is the sender's claim, not trusted for the SLA).
    public var date: Date?
    /// The body as plain text with `\n` line ends: the text/plain part, or the HTML part converted to text.
    /// Stored as text, never interpreted as HTML.
    public var text: String
    public var attachments: [MailAttachment]
    /// The `Authentication-Results` headers, topmost (added last, by the nearest MTA) first; see
    /// ``MailAuthentication``.
    public var authenticationResults: [String]

    public init(
        from: MailAddress, subject: String, messageID: String? = nil, inReplyTo: String? = nil, date: Date? = nil,
        text: String, attachments: [MailAttachment] = [], authenticationResults: [String] = []
    ) {
        self.authenticationResults = authenticationResults
        self.from = from
        self.subject = subject
        self.messageID = messageID
        self.inReplyTo = inReplyTo
        self.date = date
        self.text = text
        self.attachments = attachments
    }

    /// The ticket tag in the subject (`[#123-token]`, or `[#123]` without a token).
    public var threadTag: MailSubject.Tag? { MailSubject.tag(in: self.subject) }
}

/// Rules about mail subjects: the thread tag and reply prefixes.
public enum MailSubject {
    /// A ticket tag as found in a subject: the number, and the reply token when there is one.
    public struct Tag: Sendable, Hashable {
        public var number: Int
        public var token: String?

        public init(number: Int, token: String?) {
            self.number = number
            self.token = token
        }
    }

    /// The first tag in `subject`: `[#N]` or `[#N-TOKEN]`, N of 1 to 9 digits and TOKEN letters and digits.
    public static func tag(in subject: String) -> Tag? {
        guard let range = self.tagRange(in: subject) else { return nil }
        let inside = subject[range].dropFirst(2).dropLast()
        let parts = inside.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let number = Int(parts[0]) else { return nil }
        return Tag(number: number, token: parts.count == 2 ? String(parts[1]).lowercased() : nil)
    }

    /// The tag of mails to the customer: `[#123-token]`, so a reply to any of them joins the ticket.
    public static func tag(_ ticket: Ticket) -> String { "[#\(ticket.number)-\(ticket.replyToken)]" }

    /// The tag of mails to the team, which carry no token (the team answers in the console).
    public static func teamTag(_ number: Int) -> String { "[#\(number)]" }

    /// A subject fit for a new ticket: reply and forward prefixes (`Re:`, `Fwd:`, `Fw:`, `AW:`, `WG:`, `SV:`,
    /// `Antw:`, also `Re[2]:`) and any thread tag removed, whitespace collapsed.
    public static func cleaned(_ subject: String) -> String {
        var text = subject
        while let range = self.tagRange(in: text) { text.removeSubrange(range) }
        text = text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        let prefixes = ["re", "fwd", "fw", "aw", "wg", "sv", "antw", "tr", "vs"]
        while true {
            guard let colon = text.firstIndex(of: ":") else { break }
            var word = text[..<colon].lowercased()
            if let bracket = word.firstIndex(of: "["), word.hasSuffix("]") { word = String(word[..<bracket]) }
            guard prefixes.contains(word.trimmingCharacters(in: .whitespaces)) else { break }
            text = String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        }
        return text
    }

    private static func tagRange(in subject: String) -> Range<String.Index>? {
        var search = subject.startIndex..<subject.endIndex
        while let open = subject.range(of: "[#", range: search) {
            let digits = subject[open.upperBound...].prefix { $0.isASCII && $0.isNumber }
            var end = digits.endIndex
            if end < subject.endIndex, subject[end] == "-" {
                let token = subject[subject.index(after: end)...].prefix(64).prefix(while: ReplyToken.isTokenCharacter)
                if !token.isEmpty { end = token.endIndex }
            }
            if (1...9).contains(digits.count), end < subject.endIndex, subject[end] == "]" {
                return open.lowerBound..<subject.index(after: end)
            }
            search = open.upperBound..<subject.endIndex
        }
        return nil
    }
}

/// Helpers for the text of replies that arrive by mail.
public enum MailReplyText {
    /// The new part of a reply: the trailing quoted block (`>` lines), the attribution line above it
    /// ("On Mon, 30 Nov 2026 at 10:00, Jane <jane@example.com> wrote:", also wrapped over two lines), and an
    /// Outlook-style "-----Original Message-----" tail are dropped. Quotes in the middle (inline answers) stay.
    /// When nothing would be left, the text is returned unchanged rather than losing the message.
    public static func strippingQuote(_ text: String) -> String {
        var lines = Text.normaliseLineEnds(text).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let marker = lines.firstIndex(where: { self.isOriginalMessageMarker($0) }) {
            lines.removeSubrange(marker...)
        }
        func dropTrailing(_ predicate: (String) -> Bool) {
            while let last = lines.last, predicate(last) { lines.removeLast() }
        }
        let isBlank = { (line: String) in line.trimmingCharacters(in: .whitespaces).isEmpty }
        dropTrailing { isBlank($0) || $0.hasPrefix(">") }
        if let last = lines.last?.trimmingCharacters(in: .whitespaces) {
            if self.isAttribution(last) {
                lines.removeLast()
            } else if self.isAttributionEnd(last), lines.count >= 2,
                self.isAttributionStart(lines[lines.count - 2].trimmingCharacters(in: .whitespaces))
            {
                lines.removeLast(2)
            }
        }
        dropTrailing(isBlank)
        let result = lines.joined(separator: "\n")
        return result.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? text : result
    }

    private static func isAttribution(_ line: String) -> Bool {
        self.isAttributionStart(line) && self.isAttributionEnd(line)
    }

    private static func isAttributionStart(_ line: String) -> Bool {
        ["On ", "Am ", "Le ", "El ", "Op "].contains { line.hasPrefix($0) }
    }

    private static func isAttributionEnd(_ line: String) -> Bool {
        ["wrote:", "schrieb:", "a écrit :", "a écrit:", "escribió:", "schreef:"].contains { line.hasSuffix($0) }
    }

    private static func isOriginalMessageMarker(_ line: String) -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        return trimmed.hasPrefix("-----Original Message-----") || trimmed.hasPrefix("-----Ursprüngliche Nachricht-----")
    }
}
