import Foundation

/// What a session with `internet` may reach: the public internet, and nothing of the host or its networks.
///
/// A session's sandbox has a network namespace of its own. For `internet`, slirp4netns gives it a
/// virtual network (`10.0.2.0/24`) whose far end is a user-mode TCP/IP stack running on the host:
/// every connection a session makes is re-made by slirp4netns from the host's own network
/// namespace. So anything the host can reach, the session can reach, unless the namespace refuses
/// it first. This policy is that refusal: `prohibit` routes in the session's namespace for every
/// address that is not the public internet (loopback, private, link-local, CGNAT, unique-local,
/// documentation, multicast …) and for each of the host's own addresses (a server listening on
/// `0.0.0.0` answers on all of them). A connection to such an address fails in the session's own
/// kernel (`EACCES`) before slirp4netns ever sees it.
///
/// The routes are installed in two steps, because slirp4netns's own configuration must still
/// succeed in between:
/// 1. `routesBeforeConnecting`, into the bare namespace (only `lo`), before slirp4netns starts:
///    from the first packet slirp4netns carries, every refused range is already refused;
/// 2. `routesAfterConnecting`, once slirp4netns has configured its interface: they close slirp's
///    own network except its DNS forwarder. Every other address there (`10.0.2.2` above all) is
///    translated by slirp4netns to the host's loopback, which `--disable-host-loopback` refuses
///    too; the routes are the second lock on that door.
///
/// The kernel picks the route with the longest matching prefix, so a more specific route beats a
/// refused range around it: slirp's `10.0.2.0/24` beats `10.0.0.0/8`, the two `/25` halves beat
/// that `/24`, the DNS forwarder's `/32` beats them, an operator's exception beats the range it
/// opens, and a host address's `/32` (or `/128`) beats any exception. `matchingRoute(for:)`
/// computes the same choice, so tests can check it without a kernel.
public struct NetworkPolicy: Sendable, Hashable {
    /// One route the policy installs in the session's namespace.
    public struct Route: Sendable, Hashable, CustomStringConvertible {
        public enum Action: Sendable, Hashable {
            /// A `prohibit` route: connecting fails at once with `EACCES` ("Permission denied").
            case refuse
            /// Delivered on slirp's interface to the address itself (the DNS forwarder).
            case onInterface
            /// Sent through slirp's gateway, that is out to the internet.
            case throughGateway
        }

        public var destination: IPNetwork
        public var action: Action
        /// Why the route is there, for the admin page and the code's readers.
        public var reason: String

        public init(_ destination: IPNetwork, _ action: Action, reason: String) {
            self.destination = destination
            self.action = action
            self.reason = reason
        }

        public var description: String { "\(self.destination) \(self.action): \(self.reason)" }
    }

    /// slirp4netns's virtual network, fixed by its defaults (`--cidr` is not used).
    public enum UserModeNetwork {
        public static let network = IPNetwork(IPAddress(10, 0, 2, 0), prefixLength: 24)!
        /// The gateway; slirp4netns maps it (and every other unassigned address of its network) to
        /// the host's loopback, unless `--disable-host-loopback`.
        public static let gateway = IPAddress(10, 0, 2, 2)
        /// slirp4netns's DNS forwarder: it forwards port 53 (and only that) to the host's resolver.
        public static let nameserver = IPAddress(10, 0, 2, 3)
        /// The session's own address on the interface.
        public static let guest = IPAddress(10, 0, 2, 100)
        /// The name slirp4netns gives the interface it creates in the namespace.
        public static let interface = "tap0"
        /// The MTU slirp4netns's documentation recommends for throughput (its maximum is 65521).
        public static let mtu = 65_520
    }

    /// The ranges no session may reach, each with the reason it is refused.
    ///
    /// IANA's special-purpose registries (RFC 6890 and successors), less the ones that do not
    /// route anywhere. Refusing them costs a session nothing it may legitimately use: none of them
    /// is the public internet.
    public static let refusedRanges: [Route] = [
        refuse("0.0.0.0/8", "'this network' (RFC 791): 0.0.0.0 is the host itself, where a server listening on 0.0.0.0 answers"),
        refuse("10.0.0.0/8", "private (RFC 1918): the host's own networks, where a deployment keeps its database, mail and storage"),
        refuse("100.64.0.0/10", "shared address space (RFC 6598): carrier-grade NAT and cloud-internal services"),
        refuse("127.0.0.0/8", "loopback (RFC 1122): seen from the host, the server's port, PostgreSQL, the SMTP relay, the S3 endpoint"),
        refuse("169.254.0.0/16", "link-local (RFC 3927): the cloud metadata service at 169.254.169.254 hands out the host's credentials"),
        refuse("172.16.0.0/12", "private (RFC 1918): the host's own networks and container bridges"),
        refuse("192.0.0.0/24", "IETF protocol assignments (RFC 6890): DS-Lite and NAT64 helpers, never a public service"),
        refuse("192.0.2.0/24", "documentation, TEST-NET-1 (RFC 5737): not on the internet, so whatever answers there is local"),
        refuse("192.88.99.0/24", "6to4 relay anycast (RFC 7526, deprecated): a tunnel into other networks"),
        refuse("192.168.0.0/16", "private (RFC 1918): the host's own networks"),
        refuse("198.18.0.0/15", "benchmarking (RFC 2544): lab networks, not the internet"),
        refuse("198.51.100.0/24", "documentation, TEST-NET-2 (RFC 5737): not on the internet, so whatever answers there is local"),
        refuse("203.0.113.0/24", "documentation, TEST-NET-3 (RFC 5737): not on the internet, so whatever answers there is local"),
        refuse("224.0.0.0/4", "multicast (RFC 5771): reaches every listener on the host's network segment"),
        refuse("240.0.0.0/4", "reserved (RFC 1112), with the limited broadcast 255.255.255.255"),
        refuse("::/128", "unspecified (RFC 4291): like 0.0.0.0, the host itself"),
        refuse("::1/128", "loopback (RFC 4291): the host's own services"),
        refuse("::ffff:0:0/96", "IPv4-mapped (RFC 4291): an IPv4 address written as IPv6 must not slip past the IPv4 ranges"),
        refuse("64:ff9b::/96", "NAT64 (RFC 6052): translated to IPv4 addresses, private ones included"),
        refuse("64:ff9b:1::/48", "local-use NAT64 (RFC 8215): translated to IPv4 addresses, private ones included"),
        refuse("100::/64", "discard-only (RFC 6666): never a destination"),
        refuse("2001::/23", "IETF protocol assignments (RFC 2928), Teredo among them: tunnels to embedded IPv4 addresses"),
        refuse("2001:db8::/32", "documentation (RFC 3849): not on the internet, so whatever answers there is local"),
        refuse("2002::/16", "6to4 (RFC 3056): embeds an IPv4 address, private ones included"),
        refuse("fc00::/7", "unique local (RFC 4193): IPv6's private networks, and the metadata service at fd00:ec2::254"),
        refuse("fe80::/10", "link-local (RFC 4291): the host's network segment"),
        refuse("fec0::/10", "site-local (RFC 3879, deprecated): private networks of older setups"),
        refuse("ff00::/8", "multicast (RFC 4291): reaches every listener on the host's network segment"),
    ]

    /// Networks an operator opens although a refused range holds them (an egress proxy on a
    /// private address, say), each a more specific route through the gateway.
    public let exceptions: [IPNetwork]
    /// Whether the IPv6 routes are installed; `false` on a kernel booted with IPv6 disabled, where
    /// they cannot be (and IPv6 cannot be used either).
    public let includesIPv6: Bool
    /// Every route to install before slirp4netns starts: the refused ranges, then the networks
    /// the operator refuses besides, then one host route per host address.
    public let routesBeforeConnecting: [Route]
    /// Every route to install once slirp4netns has configured its interface.
    public let routesAfterConnecting: [Route]

    /// - Parameters:
    ///   - hostAddresses: the host's own addresses (loopback excluded); each gets a host route
    ///     refusing it, because slirp4netns connects from the host, where a server listening on
    ///     `0.0.0.0` answers on a public address too. Addresses inside slirp's network are skipped:
    ///     slirp4netns translates every address there, so a session never reaches the host's own.
    ///   - refused: further networks the operator refuses (a database or an S3 endpoint on a
    ///     public address).
    ///   - exceptions: networks the operator opens inside a refused range.
    /// - Throws: `CoreError` `invalid_network_exception` when an exception would open the host's
    ///   loopback, slirp's network, a link-local range (the metadata service) or is a host address.
    public init(
        hostAddresses: [IPAddress], refused: [IPNetwork] = [], exceptions: [IPNetwork] = [], includesIPv6: Bool = true
    ) throws {
        for exception in exceptions {
            try Self.validate(exception: exception, hostAddresses: hostAddresses)
        }
        let wanted = { (network: IPNetwork) in includesIPv6 || network.address.family == .ipv4 }
        var before = Self.refusedRanges.filter { wanted($0.destination) }
        for network in refused where wanted(network) {
            before.append(Route(network, .refuse, reason: "refused by the operator"))
        }
        for address in hostAddresses where wanted(IPNetwork(host: address)) {
            let network = IPNetwork(host: address)
            if UserModeNetwork.network.contains(address) { continue }
            before.append(Route(network, .refuse, reason: "an address of this host, where servers listening on every address answer"))
        }
        self.routesBeforeConnecting = Self.unique(before)

        let halves = UserModeNetwork.network.halves!
        var after = [
            Route(halves.lower, .refuse, reason: "slirp's network: its gateway and unassigned addresses lead to the host's loopback"),
            Route(halves.upper, .refuse, reason: "slirp's network: its gateway and unassigned addresses lead to the host's loopback"),
            Route(IPNetwork(host: UserModeNetwork.nameserver), .onInterface, reason: "slirp's DNS forwarder (port 53 only)"),
            // The gateway now lies in a refused half: `onlink` says it is on the interface anyway.
            Route(IPNetwork.anyIPv4, .throughGateway, reason: "the internet, through slirp's gateway"),
        ]
        for exception in exceptions where wanted(exception) {
            after.append(Route(exception, .throughGateway, reason: "opened by the operator"))
        }
        self.routesAfterConnecting = Self.unique(after)
        self.exceptions = exceptions
        self.includesIPv6 = includesIPv6
    }

    /// The `ip -batch` lines for `routesBeforeConnecting`, run in the session's namespace.
    public var linesBeforeConnecting: [String] { self.routesBeforeConnecting.map(Self.line) }

    /// The `ip -batch` lines for `routesAfterConnecting`.
    public var linesAfterConnecting: [String] { self.routesAfterConnecting.map(Self.line) }

    /// The route the namespace's kernel picks for `address` once both steps are installed, with
    /// slirp4netns's own routes (its network on the interface, the default through its gateway);
    /// `nil` when no route matches (an IPv6 destination other than a refused one: slirp4netns
    /// carries no IPv6).
    ///
    /// The namespace's `local` table is consulted before these and still answers for its own
    /// loopback (127.0.0.0/8, ::1) and its own address: those reach the sandbox, not the host.
    public func matchingRoute(for address: IPAddress) -> Route? {
        let configuredBySlirp = [
            Route(UserModeNetwork.network, .onInterface, reason: "slirp's network, configured by slirp4netns"),
            Route(IPNetwork.anyIPv4, .throughGateway, reason: "slirp's default route"),
        ]
        // Later routes replace earlier ones with the same destination, as `ip route replace` does.
        var table: [IPNetwork: Route] = [:]
        for route in configuredBySlirp + self.routesBeforeConnecting + self.routesAfterConnecting {
            table[route.destination] = route
        }
        return table.values
            .filter { $0.destination.contains(address) }
            .max { $0.destination.prefixLength < $1.destination.prefixLength }
    }

    /// Whether a connection from the session to `address` leaves through slirp4netns.
    public func reachesOut(to address: IPAddress) -> Bool {
        guard let route = self.matchingRoute(for: address) else { return false }
        return route.action != .refuse
    }

    private static func line(_ route: Route) -> String {
        switch route.action {
        case .refuse:
            return "route add prohibit \(route.destination)"
        case .onInterface:
            return "route add \(route.destination) dev \(UserModeNetwork.interface)"
        case .throughGateway:
            // `replace`: slirp4netns installed the default route, and an exception may have the very
            // prefix of a refused range.
            return "route replace \(route.destination) via \(UserModeNetwork.gateway) dev \(UserModeNetwork.interface) onlink"
        }
    }

    /// Keeps the first route for each destination: a second `route add` of the same prefix would
    /// fail the whole batch.
    private static func unique(_ routes: [Route]) -> [Route] {
        var seen: Set<IPNetwork> = []
        return routes.filter { seen.insert($0.destination).inserted }
    }

    private static func validate(exception: IPNetwork, hostAddresses: [IPAddress]) throws {
        let neverOpened: [(IPNetwork, String)] = [
            (IPNetwork(IPAddress(0, 0, 0, 0), prefixLength: 8)!, "the host itself (0.0.0.0/8)"),
            (IPNetwork(IPAddress(127, 0, 0, 0), prefixLength: 8)!, "the host's loopback"),
            (IPNetwork(IPAddress(169, 254, 0, 0), prefixLength: 16)!, "link-local addresses, where the metadata service answers"),
            (UserModeNetwork.network, "slirp's own network"),
            (IPNetwork(IPAddress(ipv6: 0), prefixLength: 127)!, "the host's IPv6 loopback"),
            (try! IPNetwork("::ffff:0:0/96"), "IPv4-mapped addresses (write the IPv4 network instead)"),
            (try! IPNetwork("fe80::/10"), "link-local addresses"),
        ]
        if exception.prefixLength == 0 {
            throw CoreError.invalidInput(
                "invalid_network_exception", "\(exception) would open every address; name the networks to open instead")
        }
        for (network, what) in neverOpened where network.overlaps(exception) {
            throw CoreError.invalidInput(
                "invalid_network_exception", "\(exception) overlaps \(what), which a session may never reach; remove it")
        }
        // A range around a host address is fine (the address's own route is longer), but an
        // exception that is the address itself would replace that route.
        if let address = hostAddresses.first(where: { IPNetwork(host: $0) == exception }) {
            throw CoreError.invalidInput(
                "invalid_network_exception",
                "\(exception) is \(address), an address of this host, which a session may never reach; remove it")
        }
    }
}

private func refuse(_ network: String, _ reason: String) -> NetworkPolicy.Route {
    NetworkPolicy.Route(try! IPNetwork(network), .refuse, reason: reason)
}

/// An IPv4 or IPv6 address.
public struct IPAddress: Sendable, Hashable, Comparable, Codable, CustomStringConvertible, LosslessStringConvertible {
    public enum Family: Sendable, Hashable {
        case ipv4
        case ipv6

        /// The number of bits in an address.
        public var bitWidth: Int { self == .ipv4 ? 32 : 128 }
    }

    public let family: Family
    /// The address as a number, IPv4 in the low 32 bits: masks and comparisons become arithmetic.
    public let value: UInt128

    public init(ipv4 value: UInt32) {
        self.family = .ipv4
        self.value = UInt128(value)
    }

    public init(ipv6 value: UInt128) {
        self.family = .ipv6
        self.value = value
    }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self.init(ipv4: UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d))
    }

    /// Parses dotted-quad IPv4 (`192.0.2.1`) or IPv6 (`2001:db8::1`, `::ffff:192.0.2.1`).
    ///
    /// Strict: no leading zeros in IPv4 parts (`010.0.0.1` is octal to some parsers and decimal to
    /// others, and a policy must not mean two things), no zone (`%eth0`), no surrounding spaces.
    public init?(_ text: String) {
        if text.contains(":") {
            guard let value = Self.parseIPv6(Substring(text)) else { return nil }
            self.init(ipv6: value)
        } else {
            guard let value = Self.parseIPv4(Substring(text)) else { return nil }
            self.init(ipv4: value)
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = IPAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IP address: \(text)"))
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        (lhs.family == .ipv4 ? 0 : 1, lhs.value) < (rhs.family == .ipv4 ? 0 : 1, rhs.value)
    }

    /// The usual text: dotted quad, or IPv6 in the RFC 5952 form (lowercase, longest zero run as `::`).
    public var description: String {
        switch self.family {
        case .ipv4:
            return (0..<4).map { String((self.value >> (24 - 8 * $0)) & 0xff) }.joined(separator: ".")
        case .ipv6:
            let groups = (0..<8).map { Int((self.value >> (112 - 16 * $0)) & 0xffff) }
            // The longest run of at least two zero groups (the first of equals) becomes "::".
            var best: Range<Int>?
            var index = 0
            while index < 8 {
                guard groups[index] == 0 else {
                    index += 1
                    continue
                }
                var end = index
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - index >= 2 && end - index > (best?.count ?? 0) { best = index..<end }
                index = end
            }
            let hex = { (range: Range<Int>) in groups[range].map { String($0, radix: 16) }.joined(separator: ":") }
            guard let best else { return hex(0..<8) }
            return hex(0..<best.lowerBound) + "::" + hex(best.upperBound..<8)
        }
    }

    private static func parseIPv4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCIIDigit), part == "0" || part.first != "0",
                let byte = UInt8(part)
            else { return nil }
            value = value << 8 | UInt32(byte)
        }
        return value
    }

    private static func parseIPv6(_ text: Substring) -> UInt128? {
        // Split at "::" (at most one), parse each side's groups, and fill the gap with zeros.
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ side: String, allowsIPv4: Bool) -> [UInt16]? {
            if side.isEmpty { return [] }
            var result: [UInt16] = []
            let parts = side.split(separator: ":", omittingEmptySubsequences: false)
            for (index, part) in parts.enumerated() {
                if part.contains(".") {
                    // An embedded IPv4 address may only end the address.
                    guard allowsIPv4, index == parts.count - 1, let ipv4 = parseIPv4(part) else { return nil }
                    result += [UInt16(ipv4 >> 16), UInt16(ipv4 & 0xffff)]
                } else {
                    guard (1...4).contains(part.count), part.allSatisfy(\.isHexDigit), let group = UInt16(part, radix: 16) else {
                        return nil
                    }
                    result.append(group)
                }
            }
            return result
        }
        let head: [UInt16]
        let tail: [UInt16]
        if halves.count == 2 {
            guard let parsedHead = groups(halves[0], allowsIPv4: false), let parsedTail = groups(halves[1], allowsIPv4: true),
                parsedHead.count + parsedTail.count <= 7
            else { return nil }
            (head, tail) = (parsedHead, parsedTail)
        } else {
            guard let all = groups(halves[0], allowsIPv4: true), all.count == 8 else { return nil }
            (head, tail) = (all, [])
        }
        let all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        return all.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }
}

/// An address range written as a prefix, `10.0.0.0/8` or `fc00::/7`.
public struct IPNetwork: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The first address of the range; its bits past the prefix are zero.
    public let address: IPAddress
    public let prefixLength: Int

    /// `nil` when the prefix length does not fit the family or `address` has bits set past it.
    public init?(_ address: IPAddress, prefixLength: Int) {
        guard (0...address.family.bitWidth).contains(prefixLength),
            address.value & ~Self.mask(address.family, prefixLength) == 0
        else { return nil }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// The range of exactly one address (`/32`, `/128`).
    public init(host address: IPAddress) {
        self.address = address
        self.prefixLength = address.family.bitWidth
    }

    /// Parses `ADDRESS/LENGTH`, or a bare address as a host network.
    ///
    /// - Throws: `CoreError` `invalid_network` saying what is wrong (`10.0.0.1/8` has host bits set:
    ///   refused rather than silently widened, because the writer may have meant `10.0.0.1/32`).
    public init(_ text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else {
            throw CoreError.invalidInput(
                "invalid_network", "'\(text)' is not an address range; write it as 192.0.2.0/24 or 2001:db8::/32")
        }
        guard parts.count == 2 else {
            self.init(host: address)
            return
        }
        let width = address.family.bitWidth
        guard parts[1].allSatisfy(\.isASCIIDigit), let length = Int(parts[1]), (0...width).contains(length) else {
            throw CoreError.invalidInput("invalid_network", "'\(text)': the prefix length must be a number from 0 to \(width)")
        }
        guard let network = IPNetwork(address, prefixLength: length) else {
            let first = IPAddress.init(family: address.family, value: address.value & Self.mask(address.family, length))
            throw CoreError.invalidInput(
                "invalid_network", "'\(text)' has bits set past its prefix; write \(first)/\(length), or \(address) alone for one address")
        }
        self = network
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }

    /// Every IPv4 address, the default route's destination.
    public static let anyIPv4 = IPNetwork(IPAddress(ipv4: 0), prefixLength: 0)!

    public var description: String { "\(self.address)/\(self.prefixLength)" }

    public func contains(_ address: IPAddress) -> Bool {
        address.family == self.address.family
            && address.value & Self.mask(address.family, self.prefixLength) == self.address.value
    }

    /// Whether the two ranges share an address (one then holds the other: prefixes nest).
    public func overlaps(_ other: IPNetwork) -> Bool {
        self.contains(other.address) || other.contains(self.address)
    }

    /// The two ranges of one bit longer prefix that make up this one; `nil` for a single address.
    public var halves: (lower: IPNetwork, upper: IPNetwork)? {
        let width = self.address.family.bitWidth
        guard self.prefixLength < width else { return nil }
        let upperBit = UInt128(1) << (width - self.prefixLength - 1)
        let upper = IPAddress(family: self.address.family, value: self.address.value | upperBit)
        return (IPNetwork(self.address, prefixLength: self.prefixLength + 1)!, IPNetwork(upper, prefixLength: self.prefixLength + 1)!)
    }

    /// The bits of the first `length` of an address of `family`, as a number.
    private static func mask(_ family: IPAddress.Family, _ length: Int) -> UInt128 {
        let width = family.bitWidth
        let all: UInt128 = width == 128 ? ~0 : (UInt128(1) << width) - 1
        return length == 0 ? 0 : all & ~((UInt128(1) << (width - length)) - 1)
    }
}

extension IPAddress {
    fileprivate init(family: Family, value: UInt128) {
        self.family = family
        self.value = value
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { self.isASCII && self.isNumber }
}
