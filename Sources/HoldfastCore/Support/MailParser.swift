import Foundation

/// Reads one RFC 5322 message, as an MTA pipes it to `holdfast mail-gate`, into a ``MailMessage``.
///
/// It reads what real mail clients send: folded headers, RFC 2047 encoded words (B and Q) in the subject and
/// display names, nested `multipart/*` (mixed, alternative, related), `7bit`/`8bit`/`binary`,
/// `quoted-printable` and `base64` bodies, and UTF-8, US-ASCII, ISO-8859-1 and Windows-1252 text. The body is the
/// first text/plain part that is not an attachment, else the first text/html part converted to plain text.
/// Other parts are listed as attachments (name, type, decoded size) and then dropped.
///
/// Every failure is a `CoreError.invalidInput` whose message the mail gate can print or send back:
/// `mail_too_large`, `mail_no_from`, `mail_malformed` (saying what is broken), `mail_empty_body`.
public enum MailParser {
    /// The largest message accepted: 25 MiB. The mail gate should read at most one byte more than this.
    public static let maximumSize = 25 * 1024 * 1024
    /// Deeper MIME nesting is refused: real clients nest three or four levels, and recursion must stay bounded.
    static let maximumDepth = 16

    /// Parses a whole message.
    /// - Throws: `CoreError.invalidInput` with code `mail_too_large` (checked first, before any parsing),
    ///   `mail_no_from`, `mail_malformed` or `mail_empty_body`.
    public static func parse(_ bytes: some Collection<UInt8>) throws -> MailMessage {
        guard bytes.count <= self.maximumSize else {
            throw CoreError.invalidInput(
                "mail_too_large",
                "The message is \(ByteText.format(Int64(bytes.count))) and the limit is 25 MiB; "
                    + "send the text without large attachments, or share the files by a link."
            )
        }
        let entity = Entity(bytes: Array(bytes))
        guard let fromHeader = entity.header("from"), let from = self.address(fromHeader) else {
            throw CoreError.invalidInput(
                "mail_no_from", "The message has no From address, so there is nobody to file it for; send it from your own mailbox.")
        }
        var body = BodyCollector()
        try body.collect(entity, depth: 0)
        let text = body.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else {
            throw CoreError.invalidInput(
                "mail_empty_body", "The message has no text; write what happened in the body of the mail.")
        }
        return MailMessage(
            from: from,
            subject: EncodedWords.decode(entity.header("subject") ?? "").trimmingCharacters(in: .whitespaces),
            messageID: entity.header("message-id").map(self.stripAngles),
            inReplyTo: entity.header("in-reply-to").map(self.stripAngles),
            date: entity.header("date").flatMap(MailDate.parse),
            text: text,
            attachments: body.attachments,
            authenticationResults: entity.fields.filter { $0.name == "authentication-results" }.map(\.value)
        )
    }

    /// The first address of a `From`-style header: `Name <addr>`, `"Quoted, Name" <addr>`, `addr (Comment)`
    /// or a bare `addr`; `nil` when there is no `local@domain` in it.
    public static func address(_ header: String) -> MailAddress? {
        let value = header.trimmingCharacters(in: .whitespaces)
        if let open = value.lastIndex(of: "<"), let close = value[open...].firstIndex(of: ">") {
            let address = value[value.index(after: open)..<close].trimmingCharacters(in: .whitespaces)
            guard self.isAddrSpec(address) else { return nil }
            var name = String(value[..<open]).trimmingCharacters(in: .whitespaces)
            if name.hasPrefix("\""), name.hasSuffix("\""), name.count >= 2 {
                name = String(name.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"")
                    .replacingOccurrences(of: "\\\\", with: "\\")
            }
            name = EncodedWords.decode(name).trimmingCharacters(in: .whitespaces)
            return MailAddress(address: address, name: name.isEmpty ? nil : name)
        }
        var address = value.prefix { $0 != "," }.trimmingCharacters(in: .whitespaces)
        var name: String?
        if let paren = address.firstIndex(of: "("), address.hasSuffix(")") {
            name = EncodedWords.decode(String(address[address.index(after: paren)..<address.index(before: address.endIndex)]))
            address = address[..<paren].trimmingCharacters(in: .whitespaces)
        }
        return self.isAddrSpec(address) ? MailAddress(address: address, name: name) : nil
    }

    private static func isAddrSpec(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
            && !text.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" })
    }

    private static func stripAngles(_ text: String) -> String {
        text.trimmingCharacters(in: CharacterSet(charactersIn: " \t<>"))
    }
}

// MARK: - Entities

/// One MIME entity: its unfolded header fields and its raw (still encoded) body bytes.
struct Entity {
    /// Header fields in order, names lower-cased, values unfolded.
    var fields: [(name: String, value: String)] = []
    var body: ArraySlice<UInt8>

    init(bytes: some Collection<UInt8>) {
        let bytes = Array(bytes)
        // The header ends at the first empty line (CRLF CRLF, or LF LF from a Unix MTA).
        var lineStart = 0
        var headerEnd = bytes.count
        var bodyStart = bytes.count
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x0A {
                let line = bytes[lineStart..<index]
                if line.isEmpty || line == [0x0D] {
                    headerEnd = lineStart
                    bodyStart = index + 1
                    break
                }
                lineStart = index + 1
            }
            index += 1
        }
        self.body = bytes[bodyStart...]
        self.fields = Self.unfold(Text.decodeHeader(bytes[..<headerEnd]))
    }

    /// Splits header text into fields, joining continuation lines (those that start with a space or tab).
    private static func unfold(_ text: String) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        // Normalise first: Swift treats "\r\n" as one Character, so splitting on "\n" alone would miss it.
        for line in Text.normaliseLineEnds(text).split(separator: "\n", omittingEmptySubsequences: true) {
            if line.first == " " || line.first == "\t" {
                if !fields.isEmpty { fields[fields.count - 1].value += " " + line.trimmingCharacters(in: .whitespaces) }
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                fields.append((name, line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
        }
        return fields
    }

    func header(_ name: String) -> String? { self.fields.first { $0.name == name }?.value }

    /// `Content-Type`, defaulting to `text/plain; charset=us-ascii` as RFC 2045 says.
    var contentType: HeaderValue { HeaderValue(self.header("content-type") ?? "text/plain; charset=us-ascii") }

    var disposition: HeaderValue? { self.header("content-disposition").map(HeaderValue.init) }

    /// The body with its transfer encoding undone.
    func decodedBody() -> [UInt8] {
        switch (self.header("content-transfer-encoding") ?? "7bit").lowercased().trimmingCharacters(in: .whitespaces) {
        case "quoted-printable": QuotedPrintable.decode(self.body)
        case "base64": Array(Data(base64Encoded: Data(self.body), options: .ignoreUnknownCharacters) ?? Data())
        default: Array(self.body)
        }
    }

    /// The file name from `Content-Disposition: …; filename=` or `Content-Type: …; name=`.
    var filename: String? {
        (self.disposition?.parameters["filename"] ?? self.contentType.parameters["name"]).map(EncodedWords.decode)
    }
}

/// A structured header value: `type/subtype; name=value; name="quoted value"`, with RFC 2231 `name*=` values.
struct HeaderValue {
    /// The part before the first `;`, lower-cased.
    var value: String
    /// Parameter names lower-cased; values unquoted and, for `name*=charset''text`, percent-decoded.
    var parameters: [String: String] = [:]

    init(_ text: String) {
        var pieces: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
            } else if quoted && character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
                current.append(character)
            } else if character == ";" && !quoted {
                pieces.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        pieces.append(current)
        self.value = pieces[0].trimmingCharacters(in: .whitespaces).lowercased()
        for piece in pieces.dropFirst() {
            guard let equals = piece.firstIndex(of: "=") else { continue }
            var name = piece[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            var value = piece[piece.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            if name.hasSuffix("*") {
                name.removeLast()
                let parts = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
                if parts.count == 3 {
                    let bytes = Text.percentDecode(String(parts[2]))
                    value = Text.decode(bytes, charset: String(parts[0]))
                }
            }
            self.parameters[name] = value
        }
    }
}

/// Walks the MIME tree, keeping the first plain-text and HTML bodies and listing the attachments.
private struct BodyCollector {
    var plain: String?
    var html: String?
    var attachments: [MailAttachment] = []

    var text: String { self.plain ?? self.html.map(HTMLText.plainText) ?? "" }

    mutating func collect(_ entity: Entity, depth: Int) throws {
        guard depth <= MailParser.maximumDepth else {
            throw CoreError.invalidInput(
                "mail_malformed", "The message nests MIME parts more than \(MailParser.maximumDepth) levels deep; send it as plain text.")
        }
        let type = entity.contentType
        if type.value.hasPrefix("multipart/") {
            for part in try Multipart.parts(of: entity, type: type) {
                try self.collect(Entity(bytes: part), depth: depth + 1)
            }
            return
        }
        let isAttachment = entity.disposition?.value == "attachment"
        if !isAttachment, type.value == "text/plain", self.plain == nil {
            self.plain = Text.normaliseLineEnds(Text.decode(entity.decodedBody(), charset: type.parameters["charset"]))
        } else if !isAttachment, type.value == "text/html", self.html == nil {
            self.html = Text.decode(entity.decodedBody(), charset: type.parameters["charset"])
        } else if type.value == "message/rfc822" && !isAttachment {
            try self.collect(Entity(bytes: entity.decodedBody()), depth: depth + 1)
        } else {
            self.attachments.append(
                MailAttachment(filename: entity.filename, contentType: type.value, size: entity.decodedBody().count))
        }
    }
}

/// Splitting a multipart body at its boundary lines (RFC 2046 §5.1).
enum Multipart {
    /// The body parts between the delimiter lines; the preamble and epilogue are dropped.
    /// - Throws: `mail_malformed` when the boundary is missing, never appears, or the closing delimiter is missing.
    static func parts(of entity: Entity, type: HeaderValue) throws -> [ArraySlice<UInt8>] {
        guard let boundary = type.parameters["boundary"], !boundary.isEmpty else {
            throw CoreError.invalidInput(
                "mail_malformed", "A \(type.value) part has no boundary parameter, so its parts cannot be told apart; resend the message.")
        }
        let delimiter = Array(("--" + boundary).utf8)
        let body = entity.body
        var parts: [ArraySlice<UInt8>] = []
        var partStart: Int?
        var lineStart = body.startIndex
        var terminated = false
        while lineStart < body.endIndex {
            let lineEnd = body[lineStart...].firstIndex(of: 0x0A) ?? body.endIndex
            let line = body[lineStart..<lineEnd]
            if line.starts(with: delimiter) {
                let rest = line.dropFirst(delimiter.count)
                let isClose = rest.starts(with: [0x2D, 0x2D])
                let tail = isClose ? rest.dropFirst(2) : rest
                if tail.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                    if let start = partStart {
                        // The CRLF before a delimiter belongs to the delimiter, not to the part.
                        var end = lineStart
                        if end > start, body[end - 1] == 0x0A { end -= 1 }
                        if end > start, body[end - 1] == 0x0D { end -= 1 }
                        parts.append(body[start..<end])
                    }
                    if isClose {
                        terminated = true
                        break
                    }
                    partStart = min(lineEnd + 1, body.endIndex)
                }
            }
            lineStart = lineEnd + 1
        }
        guard partStart != nil else {
            throw CoreError.invalidInput(
                "mail_malformed",
                "A \(type.value) part declares the boundary \"\(boundary)\" but no line starts with --\(boundary); resend the message."
            )
        }
        guard terminated else {
            throw CoreError.invalidInput(
                "mail_malformed",
                "A \(type.value) part is not terminated: the closing line --\(boundary)-- is missing, so the message was probably cut off; resend it."
            )
        }
        return parts
    }
}

// MARK: - Encodings

/// Quoted-printable (RFC 2045 §6.7).
enum QuotedPrintable {
    static func decode(_ bytes: some Collection<UInt8>) -> [UInt8] {
        let bytes = Array(bytes)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x3D {  // "="
                var next = index + 1
                while next < bytes.count, bytes[next] == 0x20 || bytes[next] == 0x09 { next += 1 }
                if next < bytes.count, bytes[next] == 0x0D || bytes[next] == 0x0A {
                    // A soft line break: "=" at the end of a line joins it to the next.
                    index = next + (bytes[next] == 0x0D && next + 1 < bytes.count && bytes[next + 1] == 0x0A ? 2 : 1)
                    continue
                }
                if next >= bytes.count {
                    index = next
                    continue
                }
                if index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                    output.append(high << 4 | low)
                    index += 3
                    continue
                }
            }
            output.append(byte)
            index += 1
        }
        return output
    }

    /// Encodes text for a `Content-Transfer-Encoding: quoted-printable` body with CRLF line ends and lines of at
    /// most 76 characters. A line that starts with `.` or `From ` has that character encoded, so the body survives
    /// SMTP dot handling and mbox quoting unchanged.
    static func encode(_ text: String) -> String {
        var output = ""
        let lines = Text.normaliseLineEnds(text).split(separator: "\n", omittingEmptySubsequences: false)
        for (number, line) in lines.enumerated() {
            if number > 0 { output += "\r\n" }
            let bytes = Array(line.utf8)
            var current = ""
            for (index, byte) in bytes.enumerated() {
                let isLast = index == bytes.count - 1
                let mustEncode =
                    byte == 0x3D || byte < 0x20 && byte != 0x09 || byte > 0x7E
                    || (isLast && (byte == 0x20 || byte == 0x09))
                    || (index == 0 && current.isEmpty && (byte == 0x2E || (byte == 0x46 && line.hasPrefix("From "))))
                let piece = mustEncode ? "=" + hex(byte) : String(UnicodeScalar(byte))
                if current.count + piece.count > (isLast ? 76 : 75) {
                    output += current + "=\r\n"
                    current = ""
                    // A continuation line starting with "." would be dot-stuffed too.
                    if piece == "." {
                        current = "=2E"
                        continue
                    }
                }
                current += piece
            }
            output += current
        }
        return output
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: byte - 0x30
    case 0x41...0x46: byte - 0x41 + 10
    case 0x61...0x66: byte - 0x61 + 10
    default: nil
    }
}

/// RFC 2047 encoded words: `=?charset?B?…?=` and `=?charset?Q?…?=` in headers.
public enum EncodedWords {
    /// Decodes every encoded word in `text`; whitespace between two adjacent encoded words is dropped, as the
    /// RFC says, so a subject split across several words reads as one.
    public static func decode(_ text: String) -> String {
        guard text.contains("=?") else { return text }
        var output = ""
        var rest = Substring(text)
        var pendingSpace = ""
        var lastWasEncoded = false
        while !rest.isEmpty {
            if rest.hasPrefix("=?"), let (decoded, length) = self.decodeWord(rest) {
                if !lastWasEncoded { output += pendingSpace }
                pendingSpace = ""
                output += decoded
                rest = rest.dropFirst(length)
                lastWasEncoded = true
            } else if let first = rest.first, first == " " || first == "\t" {
                pendingSpace.append(first)
                rest = rest.dropFirst()
            } else {
                output += pendingSpace
                pendingSpace = ""
                output.append(rest.first!)
                rest = rest.dropFirst()
                lastWasEncoded = false
            }
        }
        return output + pendingSpace
    }

    /// Decodes one word at the start of `text`; returns the text and the number of characters consumed.
    private static func decodeWord(_ text: Substring) -> (String, Int)? {
        let parts = text.dropFirst(2).split(separator: "?", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[3].hasPrefix("="), !parts[0].isEmpty, !parts[2].contains(" ") else { return nil }
        // RFC 2231 allows a language after the charset: utf-8*en.
        let charset = String(parts[0].prefix { $0 != "*" })
        let payload = parts[2]
        let bytes: [UInt8]
        switch parts[1].uppercased() {
        case "B":
            guard let data = Data(base64Encoded: String(payload), options: .ignoreUnknownCharacters) else { return nil }
            bytes = Array(data)
        case "Q":
            bytes = QuotedPrintable.decode(Array(payload.utf8).map { $0 == 0x5F ? 0x20 : $0 })
        default:
            return nil
        }
        let length = 2 + parts[0].count + 1 + parts[1].count + 1 + payload.count + 2
        return (Text.decode(bytes, charset: charset), length)
    }

    /// Encodes `text` for a header when it is not plain printable ASCII: UTF-8 B words of at most 60
    /// characters, joined by CRLF SP so each sits on its own folded line and even the first, after
    /// `Subject: `, stays within 78 characters. Plain ASCII is returned unchanged.
    public static func encodeIfNeeded(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value > 0x7E || $0.value < 0x20 }) || text.contains("=?") else {
            return text
        }
        // "=?utf-8?B?" + "?=" is 12 characters; 36 bytes of UTF-8 make 48 of base64.
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in text {
            // Control characters (a CR or LF smuggled into a subject) become spaces: a header is one line.
            let bytes = character.unicodeScalars.contains { $0.value < 0x20 } ? [0x20] : Array(String(character).utf8)
            if chunk.count + bytes.count > 36 {
                words.append(chunk.isEmpty ? "" : "=?utf-8?B?" + Data(chunk).base64EncodedString() + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?utf-8?B?" + Data(chunk).base64EncodedString() + "?=") }
        return words.filter { !$0.isEmpty }.joined(separator: "\r\n ")
    }
}

/// Bytes to text in the charsets mail uses.
enum Text {
    /// Decodes `bytes` in `charset`; UTF-8 when unknown or missing, falling back to Windows-1252 for bytes that
    /// are not valid UTF-8 (the usual truth of mislabelled mail).
    static func decode(_ bytes: some Collection<UInt8>, charset: String?) -> String {
        switch (charset ?? "utf-8").lowercased().trimmingCharacters(in: .whitespaces) {
        case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "iso_8859-1":
            return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        case "windows-1252", "cp1252", "x-cp1252":
            return self.windows1252(bytes)
        default:
            if let text = String(validating: Array(bytes), as: UTF8.self) { return text }
            return self.windows1252(bytes)
        }
    }

    /// Header bytes: UTF-8 (RFC 6532) when valid, else Windows-1252.
    static func decodeHeader(_ bytes: some Collection<UInt8>) -> String { self.decode(bytes, charset: "utf-8") }

    /// Windows-1252: Latin-1 with printable characters in 0x80–0x9F (curly quotes, the euro sign, dashes).
    private static func windows1252(_ bytes: some Collection<UInt8>) -> String {
        let high: [UInt32] = [
            0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
            0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
        ]
        var scalars = String.UnicodeScalarView()
        for byte in bytes {
            let value = (0x80...0x9F).contains(byte) ? high[Int(byte - 0x80)] : UInt32(byte)
            scalars.append(Unicode.Scalar(value) ?? "?")
        }
        return String(scalars)
    }

    static func percentDecode(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x25, index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(bytes[index])
                index += 1
            }
        }
        return output
    }

    static func normaliseLineEnds(_ text: String) -> String {
        text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }
}

/// HTML mail reduced to plain text: tags dropped, block ends become line breaks, common entities decoded.
///
/// Not a renderer: it only needs to give the team the words the customer wrote. The result is text and is
/// stored and shown as text (escaped), never as HTML.
public enum HTMLText {
    public static func plainText(_ html: String) -> String {
        var output = ""
        var index = html.startIndex
        let blockTags: Set<String> = [
            "br", "p", "/p", "div", "/div", "li", "/li", "tr", "/tr", "h1", "h2", "h3", "h4", "h5", "h6", "/h1", "/h2", "/h3",
            "/h4", "/h5", "/h6", "blockquote", "/blockquote", "ul", "/ul", "ol", "/ol", "table", "/table", "hr", "pre", "/pre",
        ]
        while index < html.endIndex {
            let character = html[index]
            let following = html.index(after: index) < html.endIndex ? html[html.index(after: index)] : " "
            if character == "<", following.isLetter || following == "/" || following == "!" {
                if html[index...].hasPrefix("<!--") {
                    index = html.range(of: "-->", range: index..<html.endIndex)?.upperBound ?? html.endIndex
                    continue
                }
                let close = html[index...].firstIndex(of: ">") ?? html.endIndex
                let inner = html[html.index(after: index)..<close]
                let isEnd = inner.first == "/"
                let tagName = (isEnd ? "/" : "") + (isEnd ? inner.dropFirst() : inner).prefix { $0.isLetter || $0.isNumber }.lowercased()
                index = close < html.endIndex ? html.index(after: close) : close
                if tagName == "script" || tagName == "style" || tagName == "head" || tagName == "title" {
                    if let end = html.range(of: "</\(tagName)", options: .caseInsensitive, range: index..<html.endIndex) {
                        index = html[end.upperBound...].firstIndex(of: ">").map(html.index(after:)) ?? html.endIndex
                    }
                } else if blockTags.contains(tagName) {
                    output += "\n"
                }
                continue
            }
            if character == "&", let (decoded, next) = self.entity(in: html, at: index) {
                output += decoded
                index = next
                continue
            }
            output.append(character.isNewline ? " " : character)
            index = html.index(after: index)
        }
        // Collapse runs of spaces inside lines, trim each line, and allow at most one blank line in a row.
        var lines: [String] = []
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            let cleaned = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\u{A0}" }).joined(separator: " ")
            if cleaned.isEmpty, lines.last?.isEmpty ?? true { continue }
            lines.append(cleaned)
        }
        return lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func entity(in html: String, at start: String.Index) -> (String, String.Index)? {
        guard let semicolon = html[start...].prefix(12).firstIndex(of: ";") else { return nil }
        let name = html[html.index(after: start)..<semicolon]
        let named: [Substring: String] = [
            "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "ndash": "–", "mdash": "—", "hellip": "…",
            "euro": "€", "copy": "©",
        ]
        if let text = named[name] { return (text, html.index(after: semicolon)) }
        if name.hasPrefix("#") {
            let digits = name.dropFirst()
            let value = digits.first == "x" || digits.first == "X" ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
            if let value, let scalar = Unicode.Scalar(value) { return (String(Character(scalar)), html.index(after: semicolon)) }
        }
        return nil
    }
}

/// RFC 5322 dates: `Mon, 30 Nov 2026 10:00:00 +0000`, with the obsolete forms (`GMT`, `EST`, no seconds,
/// two-digit years, a trailing comment) that old clients still send.
enum MailDate {
    static func parse(_ text: String) -> Date? {
        var value = text
        if let comment = value.firstIndex(of: "(") { value = String(value[..<comment]) }
        var tokens = value.replacingOccurrences(of: ",", with: " ").split(separator: " ").map(String.init)
        if let first = tokens.first, first.first?.isLetter == true { tokens.removeFirst() }
        guard tokens.count >= 4, let day = Int(tokens[0]), var year = Int(tokens[2]) else { return nil }
        let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        guard let monthIndex = months.firstIndex(of: String(tokens[1].prefix(3)).lowercased()) else { return nil }
        if year < 50 { year += 2000 } else if year < 1000 { year += 1900 }
        let time = tokens[3].split(separator: ":").compactMap { Int($0) }
        guard time.count >= 2, time.count <= 3, (0...23).contains(time[0]), (0...59).contains(time[1]) else { return nil }
        let zone = tokens.count > 4 ? tokens[4] : "+0000"
        let zones = [
            "UT": 0, "GMT": 0, "Z": 0, "EST": -500, "EDT": -400, "CST": -600, "CDT": -500, "MST": -700, "MDT": -600, "PST": -800,
            "PDT": -700,
        ]
        var offset: Int
        if let named = zones[zone.uppercased()] {
            offset = named
        } else if zone.count == 5, let sign = zone.first, sign == "+" || sign == "-", let number = Int(zone.dropFirst()) {
            offset = sign == "-" ? -number : number
        } else {
            offset = 0
        }
        offset = (offset / 100) * 3600 + (offset % 100) * 60
        guard let localDate = try? LocalDate(year: year, month: monthIndex + 1, day: day) else { return nil }
        let seconds = localDate.dayNumber * 86_400 + time[0] * 3600 + time[1] * 60 + (time.count == 3 ? time[2] : 0)
        return Date(timeIntervalSince1970: TimeInterval(seconds - offset))
    }
}
