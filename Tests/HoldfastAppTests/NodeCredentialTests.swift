import Foundation
import HoldfastCore
import HoldfastHTTP
import Testing

/// One node vouches to another for a user: only a header made with the shared secret, for this
/// very request, within five minutes, is believed.
@Suite("Node credential")
struct NodeCredentialTests {
    let user = User.ID()
    let now = Date(timeIntervalSince1970: 1_795_000_000)
    let path = "/api/v1/sessions/5b0b1d8e-9a55-4e8a-8f6c-1f6c0f0c2a11"

    @Test func aHeaderMadeWithTheSecretIsBelievedForItsRequestOnly() throws {
        let credential = try NodeCredential(secret: String(repeating: "k", count: 40))
        let header = credential.sign(method: "DELETE", path: self.path, node: "node-b", user: self.user, at: self.now)
        let vouched = credential.verify(header, method: "DELETE", path: self.path, at: self.now.addingTimeInterval(2))
        #expect(vouched?.node == "node-b")
        #expect(vouched?.user == self.user)
        // Another method, another path, another user or node in the header, a changed signature.
        #expect(credential.verify(header, method: "GET", path: self.path, at: self.now) == nil)
        #expect(credential.verify(header, method: "DELETE", path: self.path + "/extend", at: self.now) == nil)
        let other = User.ID()
        #expect(
            credential.verify(
                header.replacingOccurrences(of: "\(self.user)", with: "\(other)"), method: "DELETE", path: self.path, at: self.now) == nil)
        #expect(
            credential.verify(header.replacingOccurrences(of: "node-b", with: "node-c"), method: "DELETE", path: self.path, at: self.now)
                == nil)
        var tampered = header
        tampered.removeLast()
        tampered += header.hasSuffix("0") ? "1" : "0"
        #expect(credential.verify(tampered, method: "DELETE", path: self.path, at: self.now) == nil)
        #expect(credential.verify("v1;node-b;nobody;0;00", method: "DELETE", path: self.path, at: self.now) == nil)
    }

    @Test func anotherSecretOrAStaleHeaderIsRefused() throws {
        let credential = try NodeCredential(secret: String(repeating: "k", count: 40))
        let stranger = try NodeCredential(secret: String(repeating: "s", count: 40))
        let header = stranger.sign(method: "GET", path: self.path, node: "node-b", user: self.user, at: self.now)
        #expect(credential.verify(header, method: "GET", path: self.path, at: self.now) == nil)
        let genuine = credential.sign(method: "GET", path: self.path, node: "node-b", user: self.user, at: self.now)
        // Clocks may differ by minutes either way; a header older than five is a replay.
        #expect(credential.verify(genuine, method: "GET", path: self.path, at: self.now.addingTimeInterval(-299)) != nil)
        #expect(credential.verify(genuine, method: "GET", path: self.path, at: self.now.addingTimeInterval(301)) == nil)
        #expect(throws: CoreError.self) { try NodeCredential(secret: "short") }
    }
}
