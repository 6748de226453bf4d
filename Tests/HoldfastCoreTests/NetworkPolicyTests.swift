import Foundation
import HoldfastCore
import Testing

/// What a session with `internet` may reach, decided the way the namespace's kernel decides it.
@Suite("Network policy")
struct NetworkPolicyTests {
    /// A host like the CI machine: an address in TEST-NET-1 and a unique-local IPv6 one, plus a
    /// public address, which no range refuses.
    let hostAddresses = ["192.0.2.2", "fd00::2", "fe80::fc:ff:fe00:1", "198.51.100.7", "93.184.215.14"].map { IPAddress($0)! }

    func policy(refused: [String] = [], exceptions: [String] = []) throws -> NetworkPolicy {
        try NetworkPolicy(
            hostAddresses: self.hostAddresses, refused: refused.map { try IPNetwork($0) }, exceptions: exceptions.map { try IPNetwork($0) })
    }

    // MARK: Addresses and ranges

    @Test(arguments: [
        ("0.0.0.0", "0.0.0.0"), ("192.0.2.1", "192.0.2.1"), ("255.255.255.255", "255.255.255.255"),
        ("::", "::"), ("::1", "::1"), ("2001:DB8::1", "2001:db8::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"), ("fe80::fc:ff:fe00:1", "fe80::fc:ff:fe00:1"),
        ("::ffff:192.0.2.1", "::ffff:c000:201"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1::", "1::"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
    ])
    func addressesParseAndPrintInTheirUsualForm(text: String, printed: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == printed)
        #expect(IPAddress(printed) == address)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "010.0.0.1", "1.2.3.-4", " 1.2.3.4", "1.2.3.4 ", "1..3.4", "0x1.2.3.4",
        ":", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "::g", "fe80::1%eth0", "1.2.3.4::",
        "::1.2.3.4:5", "1:2:3:4:5:6:7::8", "١.٢.٣.٤",
    ])
    func malformedAddressesAreRefused(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func aRangeWithBitsPastItsPrefixIsRefusedWithTheRangeItProbablyMeant() {
        let error = #expect(throws: CoreError.self) { try IPNetwork("10.0.0.1/8") }
        #expect(error?.code == "invalid_network")
        #expect(error?.message.contains("write 10.0.0.0/8, or 10.0.0.1 alone") == true)
        #expect(throws: CoreError.self) { try IPNetwork("10.0.0.0/33") }
        #expect(throws: CoreError.self) { try IPNetwork("fc00::/129") }
        #expect(throws: CoreError.self) { try IPNetwork("10.0.0.0/") }
        #expect(throws: CoreError.self) { try IPNetwork("10.0.0.0/+8") }
        #expect(throws: CoreError.self) { try IPNetwork("10.0.0.0/8/8") }
        #expect(throws: CoreError.self) { try IPNetwork("example.com/8") }
    }

    @Test func rangesContainTheirAddressesOnlyAndNest() throws {
        let private10 = try IPNetwork("10.0.0.0/8")
        #expect(private10.contains(IPAddress("10.255.255.255")!))
        #expect(!private10.contains(IPAddress("11.0.0.0")!))
        #expect(!private10.contains(IPAddress("::ffff:10.0.0.1")!), "an IPv6 address is never in an IPv4 range")
        #expect(try IPNetwork("fc00::/7").contains(IPAddress("fd00:ec2::254")!))
        #expect(try IPNetwork("0.0.0.0/0").contains(IPAddress("203.0.113.9")!))
        #expect(try IPNetwork("::/0").contains(IPAddress("2001:db8::1")!))
        #expect(try IPNetwork("192.0.2.2") == IPNetwork(host: IPAddress("192.0.2.2")!))
        #expect(private10.overlaps(try IPNetwork("10.0.2.0/24")))
        #expect(try IPNetwork("10.0.2.0/24").overlaps(private10))
        #expect(!private10.overlaps(try IPNetwork("172.16.0.0/12")))
        let halves = try #require(try IPNetwork("10.0.2.0/24").halves)
        #expect(halves.lower.description == "10.0.2.0/25")
        #expect(halves.upper.description == "10.0.2.128/25")
        #expect(IPNetwork(host: IPAddress("::1")!).halves == nil)
    }

    @Test func rangesRoundTripThroughJSONAsText() throws {
        let networks = [try IPNetwork("100.64.0.0/10"), try IPNetwork("fc00::/7")]
        let data = try JSONEncoder().encode(networks)
        #expect(String(decoding: data, as: UTF8.self) == #"["100.64.0.0\/10","fc00::\/7"]"#)
        #expect(try JSONDecoder().decode([IPNetwork].self, from: data) == networks)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([IPNetwork].self, from: Data(#"["10.0.0.1/8"]"#.utf8)) }
    }

    // MARK: The decision

    @Test(arguments: [
        // The host's loopback under both names, and every private or special range.
        "127.0.0.1", "10.0.2.2", "10.0.2.1", "10.0.2.4", "10.0.2.99", "10.0.2.200", "10.0.2.255", "0.0.0.0",
        "10.1.2.3", "10.255.255.53", "100.64.0.1", "100.127.255.254", "169.254.169.254", "172.16.0.1", "172.31.255.255",
        "192.168.1.1", "192.0.0.9", "192.0.2.1", "198.18.0.1", "198.19.255.255", "198.51.100.1", "203.0.113.80",
        "224.0.0.251", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.88.99.1",
        // The host's own addresses, the public one included.
        "192.0.2.2", "93.184.215.14",
        // IPv6: loopback, unique-local (the AWS metadata service), link-local, IPv4 in IPv6 clothes.
        "::1", "::", "fd00:ec2::254", "fd00::2", "fe80::1", "::ffff:127.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1",
        "2001:db8::1", "ff02::1", "2001:0:4136:e378::1",
    ])
    func aSessionCannotReachTheHostOrAPrivateAddress(text: String) throws {
        let address = try #require(IPAddress(text))
        #expect(!(try self.policy().reachesOut(to: address)))
    }

    @Test(arguments: [
        "151.101.2.132", "1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
        "172.15.255.255", "172.32.0.0", "192.167.255.255", "192.169.0.0", "223.255.255.255",
    ])
    func aSessionReachesPublicAddressesThroughTheGateway(text: String) throws {
        let route = try #require(try self.policy().matchingRoute(for: IPAddress(text)!))
        #expect(route.action == .throughGateway)
        #expect(route.destination == IPNetwork.anyIPv4)
    }

    @Test func slirpsDNSForwarderIsTheOnlyAddressOfItsNetworkLeftOpen() throws {
        let policy = try self.policy()
        let dns = try #require(policy.matchingRoute(for: NetworkPolicy.UserModeNetwork.nameserver))
        #expect(dns.action == .onInterface)
        #expect(dns.destination.prefixLength == 32)
        // The gateway's /25 beats slirp's /24, which beat 10.0.0.0/8: longest prefix wins.
        let gateway = try #require(policy.matchingRoute(for: NetworkPolicy.UserModeNetwork.gateway))
        #expect(gateway.action == .refuse)
        #expect(gateway.destination.description == "10.0.2.0/25")
        let open = (0...255).map { IPAddress(10, 0, 2, UInt8($0)) }.filter { policy.reachesOut(to: $0) }
        #expect(open == [NetworkPolicy.UserModeNetwork.nameserver])
    }

    @Test func aHostAddressIsRefusedEvenInsideAnOpenedRange() throws {
        let policy = try self.policy(exceptions: ["198.51.100.0/25"])
        #expect(policy.reachesOut(to: IPAddress("198.51.100.8")!))
        #expect(!policy.reachesOut(to: IPAddress("198.51.100.7")!), "the host's own /32 is longer than the exception")
        #expect(!policy.reachesOut(to: IPAddress("198.51.100.200")!), "outside the exception the range stays refused")
    }

    @Test func anOperatorRefusesMoreAndOpensAProxyOnAPrivateAddress() throws {
        let policy = try self.policy(refused: ["52.95.110.0/24"], exceptions: ["10.20.30.40", "203.0.113.0/24"])
        #expect(!policy.reachesOut(to: IPAddress("52.95.110.1")!))
        #expect(policy.reachesOut(to: IPAddress("10.20.30.40")!))
        #expect(!policy.reachesOut(to: IPAddress("10.20.30.41")!))
        // An exception with the very prefix of a refused range replaces it.
        #expect(policy.reachesOut(to: IPAddress("203.0.113.80")!))
        #expect(policy.linesAfterConnecting.contains("route replace 203.0.113.0/24 via 10.0.2.2 dev tap0 onlink"))
    }

    @Test(arguments: [
        ("127.0.0.0/8", "the host's loopback"), ("127.0.0.53", "the host's loopback"), ("169.254.169.254", "link-local"),
        ("10.0.2.2", "slirp's own network"), ("10.0.0.0/8", "slirp's own network"), ("0.0.0.0/0", "every address"),
        ("::1", "IPv6 loopback"), ("fe80::/64", "link-local"), ("::ffff:0:0/104", "IPv4-mapped"),
        ("192.0.2.2", "192.0.2.2, an address of this host"),
    ])
    func anExceptionCannotOpenTheHostItsMetadataServiceOrSlirpsNetwork(exception: String, named: String) throws {
        let error = #expect(throws: CoreError.self) { try self.policy(exceptions: [exception]) }
        #expect(error?.code == "invalid_network_exception")
        #expect(error?.message.contains(named) == true, "\(error?.message ?? "")")
    }

    // MARK: The lines

    @Test func theLinesRefuseEveryRangeFirstThenCloseSlirpsNetwork() throws {
        let policy = try self.policy()
        let before = policy.linesBeforeConnecting
        #expect(before.first == "route add prohibit 0.0.0.0/8")
        for line in [
            "route add prohibit 127.0.0.0/8", "route add prohibit 169.254.0.0/16", "route add prohibit 100.64.0.0/10",
            "route add prohibit fc00::/7", "route add prohibit fe80::/10", "route add prohibit ::1/128",
            "route add prohibit 192.0.2.2/32", "route add prohibit 93.184.215.14/32", "route add prohibit fd00::2/128",
            "route add prohibit fe80::fc:ff:fe00:1/128",
        ] {
            #expect(before.contains(line), "\(line)")
        }
        #expect(before.allSatisfy { $0.hasPrefix("route add prohibit ") })
        #expect(!before.contains { $0.contains("tap0") }, "slirp's interface does not exist yet")
        #expect(
            policy.linesAfterConnecting == [
                "route add prohibit 10.0.2.0/25",
                "route add prohibit 10.0.2.128/25",
                "route add 10.0.2.3/32 dev tap0",
                "route replace 0.0.0.0/0 via 10.0.2.2 dev tap0 onlink",
            ])
    }

    @Test func eachRangeIsInstalledOnceAndSaysWhy() throws {
        // A host address equal to a refused /128 and one given twice must not fail the batch.
        let policy = try NetworkPolicy(hostAddresses: [IPAddress("192.0.2.2")!, IPAddress("192.0.2.2")!, IPAddress("::")!])
        let destinations = policy.routesBeforeConnecting.map(\.destination)
        #expect(Set(destinations).count == destinations.count)
        #expect(NetworkPolicy.refusedRanges.allSatisfy { !$0.reason.isEmpty })
        #expect(NetworkPolicy.refusedRanges.count == Set(NetworkPolicy.refusedRanges.map(\.destination)).count)
    }

    @Test func aHostAddressInsideSlirpsNetworkIsLeftToSlirp() throws {
        // A VM whose own address is 10.0.2.15 (QEMU's user network): a /32 for it is not needed
        // (slirp translates every address of its network) and one for 10.0.2.3 would collide with
        // the DNS forwarder's route.
        let policy = try NetworkPolicy(hostAddresses: [IPAddress("10.0.2.15")!, IPAddress("10.0.2.3")!])
        #expect(!policy.linesBeforeConnecting.contains { $0.contains("10.0.2.") })
        #expect(!policy.reachesOut(to: IPAddress("10.0.2.15")!))
    }

    @Test func withoutIPv6TheIPv6RoutesAreLeftOut() throws {
        let policy = try NetworkPolicy(hostAddresses: self.hostAddresses, includesIPv6: false)
        #expect(!policy.linesBeforeConnecting.contains { $0.contains(":") })
        #expect(policy.linesBeforeConnecting.contains("route add prohibit 10.0.0.0/8"))
    }
}
