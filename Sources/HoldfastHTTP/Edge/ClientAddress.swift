import Foundation
import HoldfastCore
import Hummingbird
import NIOCore

/// Who a request came from: the socket's peer, or — when that peer is a proxy you run
/// (`--trusted-proxy CIDR`) — the nearest address in `X-Forwarded-For` that is not one of yours.
///
/// `X-Forwarded-For` is read right to left: each trusted proxy appends the address it was
/// reached from, so everything left of the first untrusted hop was written by the client and is
/// ignored. From a peer that is not trusted the header is ignored altogether; a hop that is not
/// an address stops the walk at the last trusted one.
public struct ClientAddressResolver: Sendable {
    public let trustedProxies: [IPNetwork]

    public init(trustedProxies: [IPNetwork] = []) {
        self.trustedProxies = trustedProxies
    }

    public func resolve(peer: IPAddress?, forwardedFor: [String]) -> IPAddress? {
        guard var client = peer?.unmapped else { return nil }
        guard self.trusts(client) else { return client }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }
        for hop in hops.reversed() {
            guard let address = Self.address(of: hop) else { break }
            client = address
            if !self.trusts(address) { break }
        }
        return client
    }

    private func trusts(_ address: IPAddress) -> Bool {
        self.trustedProxies.contains { $0.contains(address) }
    }

    /// `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
    static func address(of hop: Substring) -> IPAddress? {
        var text = hop.trimmingCharacters(in: .whitespaces)[...]
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            text = text[text.index(after: text.startIndex)..<close]
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            text = text[..<colon]
        }
        return IPAddress(String(text))?.unmapped
    }
}

extension IPAddress {
    /// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as a dual-stack socket reports IPv4
    /// peers) as the IPv4 address it is.
    var unmapped: IPAddress {
        guard self.family == .ipv6, self.value >> 32 == 0xffff else { return self }
        return IPAddress(ipv4: UInt32(truncatingIfNeeded: self.value))
    }

    var isLoopback: Bool {
        switch self.family {
        case .ipv4: return self.value >> 24 == 127
        case .ipv6: return self.value == 1
        }
    }
}

/// Sets `context.client` from the peer and, behind trusted proxies, `X-Forwarded-For`.
struct ClientAddressMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    private static let forwardedFor = HTTPFields.Element.Name("X-Forwarded-For")!

    let resolver: ClientAddressResolver

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.client = self.resolver.resolve(
            peer: context.remoteAddress.flatMap(IPAddress.init(socket:)), forwardedFor: request.headers[values: Self.forwardedFor])
        return try await next(request, context)
    }
}

extension IPAddress {
    init?(socket: SocketAddress) {
        switch socket {
        case .v4(let address): self.init(address.host)
        case .v6(let address): self.init(address.host)
        default: return nil
        }
    }
}
