import HoldfastCore
import Testing

@testable import HoldfastHost

/// What a viewer may send a desktop: everything noVNC sends passes, in any split; anything that is
/// not RFB, or that would harm the desktop, is refused with a code at the first byte that shows it.
@Suite("RFB client filter")
struct RFBClientFilterTests {
    static let greeting: [UInt8] = Array("RFB 003.008\n".utf8) + [1] + [1]  // version, security None, shared

    static func u16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
    static func u32(_ value: Int32) -> [UInt8] {
        let bits = UInt32(bitPattern: value)
        return [UInt8(bits >> 24), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits & 0xFF)]
    }
    static func setDesktopSize(width: Int, height: Int, screens: Int = 1) -> [UInt8] {
        [251, 0] + u16(width) + u16(height) + [UInt8(screens), 0]
            + Array(repeating: [0, 0, 0, 0] + u16(0) + u16(0) + u16(width) + u16(height) + [0, 0, 0, 0], count: screens).flatMap { $0 }
    }
    static func cutText(length: Int32) -> [UInt8] { [6, 0, 0, 0] + u32(length) }

    /// A session as noVNC has it: every message type the desktop takes, with payloads whose bytes
    /// would be refused if the filter read them as message types.
    static let noVNCSession: [UInt8] =
        greeting
        + [0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]  // SetPixelFormat
        + [2, 0] + u16(3) + u32(7) + u32(-223) + u32(-308)  // SetEncodings: Tight, DesktopSize, ExtendedDesktopSize
        + [3, 0] + u16(0) + u16(0) + u16(1280) + u16(800)  // FramebufferUpdateRequest
        + [150, 1] + u16(0) + u16(0) + u16(1280) + u16(800)  // EnableContinuousUpdates
        + [4, 1, 0, 0] + u32(0xFF0D)  // KeyEvent
        + [5, 1] + u16(100) + u16(200)  // PointerEvent
        + cutText(length: 5) + Array("héé".utf8)  // legacy ClientCutText: 5 bytes of Latin-1/UTF-8
        + cutText(length: -8) + [0x10, 0, 0, 1] + [0xFF, 0xFE, 0x07, 0xFA]  // extended clipboard (size negated)
        + [248, 0, 0, 0] + u32(0) + [3, 0xFF, 0xFF, 0xFF]  // ClientFence with 3 bytes of payload
        + setDesktopSize(width: 1920, height: 1080)
        + [255, 0] + u16(1) + u32(0xFF0D) + u32(28)  // QEMU extended key event

    @Test func everythingNoVNCSendsPassesWhole() throws {
        var filter = RFBClientFilter()
        try filter.check(Self.noVNCSession)
    }

    @Test func everythingNoVNCSendsPassesSplitAnywhere() throws {
        // WebSocket frames may split a message anywhere: every split point gives the same answer.
        for split in 1..<Self.noVNCSession.count {
            var filter = RFBClientFilter()
            try filter.check(Self.noVNCSession[..<split])
            try filter.check(Self.noVNCSession[split...])
        }
        var byteByByte = RFBClientFilter()
        for byte in Self.noVNCSession { try byteByByte.check([byte]) }
    }

    @Test func olderProtocolVersionsPass() throws {
        var v33 = RFBClientFilter()
        try v33.check(Array("RFB 003.003\n".utf8) + [1] + [3, 0] + Self.u16(0) + Self.u16(0) + Self.u16(10) + Self.u16(10))
        var v37 = RFBClientFilter()
        try v37.check(Array("RFB 003.007\n".utf8) + [1, 0])
    }

    @Test(arguments: [
        Array("GET / HTTP/1.1\r\n".utf8),  // a web request sent to the desktop
        Array("SSH-2.0-Open".utf8),
        Array("RFB 003.005\n".utf8),  // a version no viewer speaks
        Array("RFB 004.001\n".utf8),
    ])
    func aStreamThatIsNotRFBIsRefused(_ bytes: [UInt8]) {
        var filter = RFBClientFilter()
        #expect(code(of: { try filter.check(bytes) }) == "not_rfb")
    }

    @Test func garbageIsRefusedAtItsFirstByte() {
        // Refused before 12 bytes arrive: nothing of it is held or passed on.
        var filter = RFBClientFilter()
        #expect(code(of: { try filter.check(Array("G".utf8)) }) == "not_rfb")
    }

    @Test func aSecurityTypeOtherThanNoneIsRefused() {
        var filter = RFBClientFilter()
        #expect(code(of: { try filter.check(Array("RFB 003.008\n".utf8) + [2]) }) == "rfb_security")
    }

    @Test(arguments: [(30_000, 30_000), (0, 600), (800, 0), (8_193, 100)])
    func anAbsurdDesktopSizeIsRefused(_ size: (Int, Int)) {
        var filter = RFBClientFilter()
        #expect(
            code(of: { try filter.check(Self.greeting + Self.setDesktopSize(width: size.0, height: size.1)) }) == "desktop_size_refused")
    }

    @Test func theLargestDesktopPassesAndTooManyScreensDoNot() throws {
        var largest = RFBClientFilter()
        try largest.check(Self.greeting + Self.setDesktopSize(width: 8_192, height: 8_192))
        var noScreen = RFBClientFilter()
        #expect(
            code(of: { try noScreen.check(Self.greeting + Self.setDesktopSize(width: 800, height: 600, screens: 0)) })
                == "desktop_size_refused")
        var many = RFBClientFilter()
        #expect(
            code(of: { try many.check(Self.greeting + Self.setDesktopSize(width: 800, height: 600, screens: 17)) })
                == "desktop_size_refused")
    }

    @Test(arguments: [Int32(100 << 20), -Int32(100 << 20), Int32.max, Int32.min + 1])
    func aHugeClipboardIsRefusedAtItsHeader(_ length: Int32) {
        // Only the 8-byte header has arrived: the refusal comes before any of the 100 MB.
        var filter = RFBClientFilter()
        #expect(code(of: { try filter.check(Self.greeting + Self.cutText(length: length)) }) == "clipboard_too_large")
    }

    @Test func aClipboardOfTheLimitPasses() throws {
        var filter = RFBClientFilter()
        let limit = Int32(RFBClientFilter.maximumClipboard)
        try filter.check(Self.greeting + Self.cutText(length: limit) + [UInt8](repeating: 7, count: Int(limit)))
        try filter.check([5, 0] + Self.u16(1) + Self.u16(1))  // and the next message is read as one
    }

    @Test func tooManyEncodingsAreRefused() {
        var filter = RFBClientFilter()
        #expect(code(of: { try filter.check(Self.greeting + [2, 0] + Self.u16(2_000)) }) == "rfb_too_many_encodings")
    }

    @Test(arguments: [[UInt8(7)], [1], [255, 1], [200]])
    func anUnknownMessageIsRefused(_ header: [UInt8]) {
        var filter = RFBClientFilter()
        #expect(code(of: { try filter.check(Self.greeting + header) }) == "rfb_unknown_message")
    }

    /// The refusal's code, `nil` when `body` passed; any other error is a failure.
    private func code(of body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let refusal as ProtocolRefusal {
            return refusal.code
        } catch {
            Issue.record("not a ProtocolRefusal: \(error)")
            return nil
        }
    }
}
