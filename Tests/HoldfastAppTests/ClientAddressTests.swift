import HoldfastCore
import HoldfastHTTP
import Testing

/// Who a request came from, behind proxies we run and proxies we do not.
@Suite("Client address")
struct ClientAddressTests {
    let resolver = ClientAddressResolver(trustedProxies: [try! IPNetwork("10.0.0.0/8"), try! IPNetwork("::1")])

    private func resolve(peer: String, _ forwardedFor: [String]) -> String? {
        self.resolver.resolve(peer: IPAddress(peer), forwardedFor: forwardedFor)?.description
    }

    @Test func anUntrustedPeersForwardedForIsIgnored() {
        #expect(self.resolve(peer: "203.0.113.7", ["198.51.100.1"]) == "203.0.113.7")
        #expect(self.resolve(peer: "203.0.113.7", []) == "203.0.113.7")
    }

    @Test func behindOurProxiesTheNearestUntrustedHopIsTheClient() {
        #expect(self.resolve(peer: "10.0.0.2", ["198.51.100.1"]) == "198.51.100.1")
        // What the client wrote itself (left of the first untrusted hop) does not count.
        #expect(self.resolve(peer: "10.0.0.2", ["1.1.1.1, 198.51.100.1, 10.0.0.9"]) == "198.51.100.1")
        #expect(self.resolve(peer: "10.0.0.2", ["1.1.1.1", "198.51.100.1, 10.0.0.9"]) == "198.51.100.1")
        #expect(self.resolve(peer: "::1", ["[2001:db8::7]:4711"]) == "2001:db8::7")
        #expect(self.resolve(peer: "10.0.0.2", ["198.51.100.1:4711"]) == "198.51.100.1")
    }

    @Test func aHopThatIsNoAddressStopsTheWalkAtTheLastTrustedOne() {
        #expect(self.resolve(peer: "10.0.0.2", ["198.51.100.1, unknown"]) == "10.0.0.2")
        #expect(self.resolve(peer: "10.0.0.2", ["198.51.100.1, 10.0.0.3, not-an-ip"]) == "10.0.0.2")
        #expect(self.resolve(peer: "10.0.0.2", [""]) == "10.0.0.2")
        // Only trusted hops: the leftmost is as near the client as we know.
        #expect(self.resolve(peer: "10.0.0.2", ["10.0.0.5, 10.0.0.9"]) == "10.0.0.5")
    }

    @Test func aMappedIPv4PeerIsTheIPv4Address() {
        #expect(self.resolve(peer: "::ffff:10.0.0.2", ["198.51.100.1"]) == "198.51.100.1")
        #expect(self.resolve(peer: "::ffff:203.0.113.7", []) == "203.0.113.7")
    }
}
