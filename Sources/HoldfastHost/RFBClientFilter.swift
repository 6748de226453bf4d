import HoldfastCore

/// Follows what a viewer sends to a desktop's VNC server, message by message, and refuses a stream
/// that could harm the desktop or is not RFB at all, before any of it reaches Xvnc.
///
/// The viewer is the user's browser, but anything can open the attach socket: garbage instead of a
/// protocol version, a `SetDesktopSize` of 30,000 × 30,000 (a 3.4 GB framebuffer, which the
/// session's memory limit would answer by killing its X server), a clipboard of 100 MB. The
/// filter passes the bytes on unchanged; it only keeps the state it needs to find each message's
/// end (a header of at most 12 bytes, and a count of payload bytes to skip), so a viewer costs it
/// a few dozen bytes whatever it sends.
///
/// The messages are those of RFB 3.8 (RFC 6143 §7.5) and the extensions TigerVNC's Xvnc reads and
/// noVNC sends: `EnableContinuousUpdates` (150), `ClientFence` (248), `SetDesktopSize` (251) and
/// QEMU's extended key event (255/0). Anything else ends the connection: past a message it does
/// not know, neither the filter nor Xvnc could tell where the next one starts.
struct RFBClientFilter: Sendable {
    /// The largest desktop a viewer may ask for, per side: an 8K screen.
    static let maximumSide = 8_192
    /// The largest clipboard a viewer may send (Xvnc is started with the same `MaxCutText`).
    static let maximumClipboard = 10 << 20
    /// More encodings than any viewer knows.
    static let maximumEncodings = 1_024
    static let maximumScreens = 16

    private enum Phase: Sendable {
        /// The viewer's `RFB 003.00x\n`, 12 bytes.
        case version
        /// The security type the viewer picks from the server's list (3.7 and 3.8 only).
        case securityChoice
        /// `ClientInit`: the shared flag.
        case clientInit
        /// Between messages, or inside a message's fixed header.
        case header
        /// Inside a message's variable part, which is passed on unread.
        case payload(remaining: Int)
    }

    private var phase = Phase.version
    /// The bytes of the current version string or message header.
    private var pending: [UInt8] = []

    /// Checks the next bytes of the stream; throws at the first byte that cannot be right.
    mutating func check(_ bytes: some Collection<UInt8>) throws(ProtocolRefusal) {
        var index = bytes.startIndex
        while index != bytes.endIndex {
            if case .payload(let remaining) = self.phase {
                let available = bytes.distance(from: index, to: bytes.endIndex)
                let skipped = min(remaining, available)
                index = bytes.index(index, offsetBy: skipped)
                self.phase = remaining == skipped ? .header : .payload(remaining: remaining - skipped)
                continue
            }
            self.pending.append(bytes[index])
            index = bytes.index(after: index)
            try self.advance()
        }
    }

    /// Looks at `pending` after each byte: moves on once the current piece is complete.
    private mutating func advance() throws(ProtocolRefusal) {
        switch self.phase {
        case .version:
            guard self.pending.count == 12 else {
                guard Array("RFB 003.00".utf8).starts(with: self.pending) || self.pending.count > 10 else {
                    throw Self.refusal("not_rfb", "The viewer did not start with an RFB protocol version.")
                }
                return
            }
            switch String(decoding: self.pending, as: UTF8.self) {
            case "RFB 003.003\n": self.phase = .clientInit
            case "RFB 003.007\n", "RFB 003.008\n": self.phase = .securityChoice
            default: throw Self.refusal("not_rfb", "The viewer asked for an RFB version other than 3.3, 3.7 or 3.8.")
            }
        case .securityChoice:
            guard self.pending == [1] else {
                throw Self.refusal("rfb_security", "The desktop offers security type None (1) only; you are signed in already.")
            }
            self.phase = .clientInit
        case .clientInit:
            self.phase = .header
        case .header:
            guard let length = try Self.messageLength(self.pending) else { return }
            self.phase = length > 0 ? .payload(remaining: length) : .header
        case .payload:
            preconditionFailure("payload bytes are skipped, not collected")
        }
        self.pending.removeAll(keepingCapacity: true)
    }

    /// The length of the message's variable part once `header` holds all of its fixed part
    /// (checked), or `nil` while more header bytes are needed.
    private static func messageLength(_ header: [UInt8]) throws(ProtocolRefusal) -> Int? {
        func complete(_ count: Int) -> Bool { header.count >= count }
        func u16(_ at: Int) -> Int { Int(header[at]) << 8 | Int(header[at + 1]) }
        switch header[0] {
        case 0:  // SetPixelFormat
            return complete(20) ? 0 : nil
        case 2:  // SetEncodings
            guard complete(4) else { return nil }
            let count = u16(2)
            guard count <= Self.maximumEncodings else {
                throw Self.refusal("rfb_too_many_encodings", "SetEncodings lists \(count) encodings; at most \(Self.maximumEncodings).")
            }
            return count * 4
        case 3, 150:  // FramebufferUpdateRequest, EnableContinuousUpdates
            return complete(10) ? 0 : nil
        case 4:  // KeyEvent
            return complete(8) ? 0 : nil
        case 5:  // PointerEvent
            return complete(6) ? 0 : nil
        case 6:  // ClientCutText; a negative length is the extended clipboard's (its size, negated)
            guard complete(8) else { return nil }
            let raw = Int32(bitPattern: UInt32(header[4]) << 24 | UInt32(header[5]) << 16 | UInt32(header[6]) << 8 | UInt32(header[7]))
            let length = Int(raw.magnitude)
            guard length <= Self.maximumClipboard else {
                throw Self.refusal(
                    "clipboard_too_large",
                    "The clipboard sent is \(length) bytes; a desktop takes at most \(Self.maximumClipboard) (10 MiB).")
            }
            return length
        case 248:  // ClientFence: flags, then a length byte and that many bytes
            return complete(9) ? Int(header[8]) : nil
        case 251:  // SetDesktopSize
            guard complete(8) else { return nil }
            let (width, height, screens) = (u16(2), u16(4), Int(header[6]))
            guard (1...Self.maximumSide).contains(width), (1...Self.maximumSide).contains(height) else {
                throw Self.refusal(
                    "desktop_size_refused", "A desktop of \(width)×\(height) is not possible; each side is 1 to \(Self.maximumSide).")
            }
            guard (1...Self.maximumScreens).contains(screens) else {
                throw Self.refusal("desktop_size_refused", "SetDesktopSize names \(screens) screens; 1 to \(Self.maximumScreens).")
            }
            return screens * 16
        case 255:  // QEMU client messages: only the extended key event
            guard complete(2) else { return nil }
            guard header[1] == 0 else {
                throw Self.refusal("rfb_unknown_message", "QEMU client message \(header[1]) is not supported.")
            }
            return complete(12) ? 0 : nil
        default:
            throw Self.refusal("rfb_unknown_message", "RFB client message type \(header[0]) is not supported by this desktop.")
        }
    }

    private static func refusal(_ code: String, _ message: String) -> ProtocolRefusal {
        ProtocolRefusal(code: code, message: message)
    }
}
