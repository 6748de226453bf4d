import Crypto
import Foundation
import HoldfastCore

/// How one node vouches to another for the user it acts for (an attach or a close that reached
/// the wrong node): `X-Holdfast-Node-Auth: v1;NODE;USER;UNIX-TIME;HMAC`, the HMAC-SHA256 of
/// method, path, node, user and time under the service's shared secret (`--cluster-secret-file`,
/// 0600 on every node). The user's own token never travels between nodes, and a header that is
/// forged, altered or older than five minutes (either way: clocks may differ) is refused.
public struct NodeCredential: Sendable {
    public static let header = "X-Holdfast-Node-Auth"
    /// How far apart the signer's and the checker's clocks may be, and how long a header is good for.
    static let window: TimeInterval = 300

    private let key: SymmetricKey

    /// - Parameter secret: the shared secret; at least 32 characters.
    public init(secret: String) throws {
        guard secret.utf8.count >= 32 else {
            throw CoreError(
                .invalidInput, code: "weak_cluster_secret",
                message: "The cluster secret must be at least 32 characters (e.g. `openssl rand -hex 32`).")
        }
        self.key = SymmetricKey(data: Data(secret.utf8))
    }

    /// The header value for a request `method path` made by `node` for `user` at `now`.
    public func sign(method: String, path: String, node: String, user: User.ID, at now: Date) -> String {
        let time = Int64(now.timeIntervalSince1970)
        return "v1;\(node);\(user);\(time);\(self.mac(method: method, path: path, node: node, user: "\(user)", time: time))"
    }

    /// The node and user a header vouches for, or `nil` when it is not one this secret made for
    /// this request within the window.
    public func verify(_ value: String, method: String, path: String, at now: Date) -> (node: String, user: User.ID)? {
        let parts = value.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, parts[0] == "v1", let time = Int64(parts[3]), let user = User.ID(parts[2]),
            abs(now.timeIntervalSince1970 - Double(time)) <= Self.window
        else { return nil }
        let expected = self.mac(method: method, path: path, node: parts[1], user: parts[2], time: time)
        // Compared in constant time.
        guard expected.utf8.count == parts[4].utf8.count,
            zip(expected.utf8, parts[4].utf8).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0
        else { return nil }
        return (parts[1], user)
    }

    private func mac(method: String, path: String, node: String, user: String, time: Int64) -> String {
        let message = [method.uppercased(), path, node, user, String(time)].joined(separator: "\n")
        return HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: self.key).map { String(format: "%02x", $0) }.joined()
    }
}
