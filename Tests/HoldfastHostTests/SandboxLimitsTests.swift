import Foundation
import Glibc
import HoldfastCore
import Testing

@testable import HoldfastHost

/// A session's limits and network, through the real host: what a hostile shell tries, and the
/// evidence that it stayed inside its bounds.
@Suite("Sandbox limits")
struct SandboxLimitsTests {
    static let tight = SessionLimits(
        memoryMiB: 128, pids: 40, cpuWeight: 50, diskGiB: 1, sessionsPerUser: 5, clientsPerSession: 4)

    @Test func aForkBombIsContainedAndCounted() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let bomb = try await fixture.launch(host, workspace: "a", limits: Self.tight)
            let neighbour = try await fixture.launch(host, workspace: "b", account: accountB)
            // Python, not bash: bash retries a refused fork for half a minute before it gives up.
            let script = """
                import os, time
                children = 0
                try:
                    while children < 100:
                        if os.fork() == 0:
                            time.sleep(300)
                            os._exit(0)
                        children += 1
                except OSError as error:
                    print("REFUSED-AFTER", children, error.strerror, flush=True)
                time.sleep(300)
                """
            try Data(script.utf8).write(to: URL(fileURLWithPath: fixture.workspace("a") + "/bomb.py"))
            try await withTerminal(host, bomb) { terminal, output in
                try await terminal.type("python3 ~/bomb.py &")
                await output.waitFor("Resource temporarily unavailable")
                let usage = try #require(await host.usage(bomb))
                #expect(usage.pidsLimit == 40)
                #expect((usage.pids ?? 0) <= 40)
                #expect((usage.pidsRefused ?? 0) > 0, "the kernel refused forks beyond the limit")
            }
            // The neighbour, and the host, are unaffected.
            try await withTerminal(host, neighbour) { terminal, output in
                try await terminal.type("echo ALIVE\"\"=$(seq 3 | wc -l)")
                await output.waitFor("ALIVE=3")
            }
        }
    }

    @Test func aMemoryHogIsKilledAloneAndTheShellLives() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a", limits: Self.tight)
            try await withTerminal(host, id) { terminal, output in
                try await terminal.type("python3 -c 'b = bytearray(400 * 1024 * 1024); print(\"NOT\" \"KILLED\")'; echo AFTER\"\"=$?")
                await output.waitFor("AFTER=137")
                #expect(!output.text.contains("NOTKILLED"))
                let usage = try #require(await host.usage(id))
                #expect((usage.oomKills ?? 0) >= 1)
                #expect(usage.memoryLimitBytes == 128 * 1_048_576)
            }
        }
    }

    @Test func tmpIsCappedAndNoNetworkMeansLoopbackOnly() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a", network: .none, limits: Self.tight)
            try await withTerminal(host, id) { terminal, output in
                // A quarter of 128 MiB is below the 64 MiB floor: /tmp holds 64 MiB.
                try await terminal.type("head -c 80M /dev/zero > /tmp/fill 2>/dev/null; echo TMP\"\"=$? $(du -m /tmp/fill | cut -f1)")
                await output.waitFor("TMP=1 64")
                try await terminal.type("echo LINKS\"\"=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ,)")
                await output.waitFor("LINKS=lo,")
                try await terminal.type("timeout 5 bash -c 'echo > /dev/tcp/1.1.1.1/80' 2>/dev/null; echo NET\"\"=$?")
                await output.waitFor("NET=1")
            }
        }
    }

    @Test func theInternetIsReachableButNotTheHostsLoopback() async throws {
        try await withFixture { fixture in
            // A listener on the host's loopback, as the server, PostgreSQL or SMTP would be.
            let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(listener) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0
                }
            }
            try #require(bound && listen(listener, 8) == 0)
            let port = UInt16(bigEndian: address.sin_port)

            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a", network: .internet)
            try await withTerminal(host, id) { terminal, output in
                for target in ["127.0.0.1", "10.0.2.2"] {
                    try await terminal.type(
                        "timeout 5 bash -c 'echo > /dev/tcp/\(target)/\(port)' 2>/dev/null; echo HOST-\(target)\"\"=$?")
                    await output.waitFor("HOST-\(target)=1")
                }
                try await terminal.type("getent hosts deb.debian.org >/dev/null && echo DNS\"\"=ok")
                await output.waitFor("DNS=ok")
                // By address: this machine's resolver answers deb.debian.org with a TEST-NET proxy,
                // which the policy refuses like every other reserved range (SessionNetworkTests).
                try await terminal.type(
                    "timeout 10 bash -c 'exec 3<>/dev/tcp/\(SessionNetworkTests.publicWebServer)/80; "
                        + "printf \"HEAD /debian/ HTTP/1.0\\r\\nHost: deb.debian.org\\r\\n\\r\\n\" >&3; head -1 <&3' "
                        + "| grep -q '^HTTP/1' && echo WEB\"\"=ok")
                await output.waitFor("WEB=ok")
            }
            let slirp = host.directory(id).slirpPIDFile
            #expect(FileManager.default.fileExists(atPath: slirp))
            try await host.terminate(id)
            #expect(
                processes(mentioning: "slirp4netns").allSatisfy {
                    ProcessTable.arguments(of: $0)?.contains(host.directory(id).path) != true
                })
        }
    }
}
