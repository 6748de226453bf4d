import Foundation
import Glibc
import HoldfastCore
import Testing

@testable import HoldfastHost

/// Attachments are independent: one client's terminal never leaks into another's.
@Suite("Attachments")
struct AttachmentTests {
    @Test func closingOneTerminalDetachesOnlyItsClientAndPromptly() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let a = try await fixture.launch(host, workspace: "a")
            let b = try await fixture.launch(host, workspace: "b")
            try await withTerminal(host, b) { terminalB, outputB in
                try await withTerminal(host, a) { terminalA, outputA in
                    let clientPIDs = try await tmux(host, b, ["list-clients", "-F", "#{client_pid}"]).output
                    let clientB = try #require(pid_t(clientPIDs))
                    let clientsA = try await tmux(host, a, ["list-clients", "-F", "#{client_pid}"]).output
                    let clientA = try #require(pid_t(clientsA))
                    // A client holds its own terminal's slave and nothing else: no PTY master
                    // (/dev/ptmx), which would keep another client from ever being hung up.
                    for client in [clientA, clientB] {
                        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(client)/fd")
                        let targets = descriptors.compactMap {
                            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(client)/fd/\($0)")
                        }
                        #expect(!targets.contains("/dev/ptmx"), "client \(client) holds \(targets)")
                        #expect(descriptors.count <= 8, "client \(client) holds \(targets)")
                    }
                    await terminalA.close()
                    #expect(await poll(timeout: .seconds(30)) { outputA.isFinished })
                    #expect(try await tmux(host, a, ["list-clients"]).output.isEmpty)
                    #expect(await host.isAlive(a))
                }
                // B is untouched.
                try await terminalB.type("echo B\"\"=alive")
                await outputB.waitFor("B=alive")
            }
        }
    }
}
