import HoldfastHTTP
import Testing

/// Where a request header ends, for the first-header deadline (slowloris).
@Suite("Header end scan")
struct HeaderEndScanTests {
    private func ends(_ chunks: [String]) -> [Bool] {
        var scan = HeaderEndScan()
        return chunks.map { scan.consume(Array($0.utf8)) }
    }

    @Test func theBlankLineEndsTheHeaderWhereverTheReadsSplitIt() {
        #expect(self.ends(["GET / HTTP/1.1\r\nHost: a\r\n\r\n"]) == [true])
        #expect(self.ends(["GET / HTTP/1.1\r\nHost: a\r", "\n", "\r", "\n"]) == [false, false, false, true])
        #expect(self.ends(["GET / HTTP/1.1\nHost: a\n\n"]) == [true])
    }

    @Test func aHeaderStillArrivingHasNotEnded() {
        #expect(self.ends(["GET / HTTP/1.1\r\n", "Host: a\r\n", "X-Slow: 1\r\n", "X-Slow: 2\r\n"]) == [false, false, false, false])
        // A bare carriage return between lines is not a blank line.
        #expect(self.ends(["GET / HTTP/1.1\r\n\r\r\nHost: a\r\n"]) == [false])
    }

    @Test func blankLinesBeforeTheRequestLineDoNotEndIt() {
        // The parser skips them, so a client could otherwise stop the deadline and then trickle.
        #expect(self.ends(["\r\n\r\n\r\n", "GET / HTTP/1.1\r\n"]) == [false, false])
        #expect(self.ends(["\n\n", "GET / HTTP/1.1\r\n\r\n"]) == [false, true])
    }
}
