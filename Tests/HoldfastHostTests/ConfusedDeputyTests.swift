import Foundation
import Glibc
import HoldfastCore
import Testing

@testable import HoldfastHost

/// A session's user controls its tmux server, and a tmux server can make its clients run commands.
/// These tests try that, and the swapped socket, and check the evidence that nothing happened
/// outside the sandbox.
@Suite("Confused deputy")
struct ConfusedDeputyTests {
    @Test(arguments: [
        "tmux detach-client -E 'id > PROOF; id > ~/ran-as'",
        "tmux set -g lock-command 'id > PROOF; id > ~/ran-as' \\; lock-client",
    ])
    func whatTmuxMakesItsClientRunStaysInTheSandboxAsTheUser(_ attack: String) async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a", account: accountA)
            // A path the host's root could write, and the sandbox's user could not even see.
            let proof = fixture.root + "/proof-\(UUID().uuidString.prefix(8))"
            try await withTerminal(host, id) { terminal, output in
                try await terminal.type(attack.replacingOccurrences(of: "PROOF", with: proof))
                // The client ran the command (as the user, in the sandbox): ~/ran-as appears.
                let ranAs = fixture.workspace("a") + "/ran-as"
                // The shell creates the file before `id` has written into it: wait for the line.
                #expect(
                    await poll(timeout: .seconds(30)) {
                        (try? String(contentsOfFile: ranAs, encoding: .utf8))?.hasSuffix("\n") ?? false
                    })
                let text = try String(contentsOfFile: ranAs, encoding: .utf8)
                #expect(text.hasPrefix("uid=\(accountA.uid)(user)"), "\(text)")
                var info = stat()
                #expect(stat(ranAs, &info) == 0 && info.st_uid == accountA.uid)
            }
            #expect(!FileManager.default.fileExists(atPath: proof), "the command ran outside the sandbox")
        }
    }

    @Test func aSocketSwappedForALinkToAnotherSessionLeadsNowhere() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let a = try await fixture.launch(host, workspace: "a", account: accountA)
            let b = try await fixture.launch(host, workspace: "b", account: accountB)
            try await withTerminal(host, b) { terminal, output in
                try await terminal.type("echo SECRET\"\"-OF-B")
                await output.waitFor("SECRET-OF-B")
            }
            // A's user knows the host's layout and points its socket at B's, by the host path and
            // by the path B's socket has inside B's own sandbox.
            let hostPathOfB = host.directory(b).socket
            try await withTerminal(host, a) { terminal, output in
                try await terminal.type(
                    "mv /run/holdfast/tmux.sock /run/holdfast/mine; ln -s \(hostPathOfB) /run/holdfast/tmux.sock; echo SW\"\"APPED")
                await output.waitFor("SWAPPED")
            }
            // The next attach to A runs inside A's sandbox, where B's socket does not exist.
            await #expect(throws: (any Error).self) {
                try await withTerminal(host, a) { _, output in
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(!output.text.contains("SECRET-OF-B"))
                    throw HostError(code: "attached", message: output.text)
                }
            }
            // B has no client but those its own user started.
            #expect(try await tmux(host, b, ["list-clients"]).output.isEmpty)
            // The server's own check of A's socket refuses the link.
            let running = try #require(host.running(host.directory(a)))
            let refusal = #expect(throws: HostError.self) {
                try SessionSocket.connect(
                    directory: host.directory(a).socketDirectory, name: SessionDirectory.socketName, uid: accountA.uid,
                    namespacePID: running.namespacePID)
            }
            #expect(refusal?.message.contains("not a socket") == true)
        }
    }

    @Test func theServerConnectsOnlyToTheSessionsOwnProcess() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let a = try await fixture.launch(host, workspace: "a", account: accountA)
            let b = try await fixture.launch(host, workspace: "b", account: accountB)
            let directoryA = host.directory(a)
            let runningA = try #require(host.running(directoryA))
            let runningB = try #require(host.running(host.directory(b)))
            // The real socket, checked against its own session: accepted.
            let descriptor = try SessionSocket.connect(
                directory: directoryA.socketDirectory, name: SessionDirectory.socketName, uid: accountA.uid,
                namespacePID: runningA.namespacePID)
            close(descriptor)
            // The wrong uid, or a process of another sandbox: refused.
            #expect(throws: HostError.self) {
                try SessionSocket.connect(
                    directory: directoryA.socketDirectory, name: SessionDirectory.socketName, uid: accountB.uid,
                    namespacePID: runningA.namespacePID)
            }
            #expect(throws: HostError.self) {
                try SessionSocket.connect(
                    directory: directoryA.socketDirectory, name: SessionDirectory.socketName, uid: accountA.uid,
                    namespacePID: runningB.namespacePID)
            }
        }
    }

    @Test func clientsRunInsideTheSandboxAsTheUserWithoutCapabilities() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a", account: accountA)
            let leader = try #require(host.running(host.directory(id))).leader
            try await withTerminal(host, id) { terminal, output in
                try await terminal.type("echo READY")
                await output.waitFor("READY")
                // tmux reports its clients' pids as the sandbox numbers them: they are inside it.
                let clients = try await tmux(host, id, ["list-clients", "-F", "#{client_pid}"]).output
                let insidePIDs = clients.split(separator: "\n").compactMap { pid_t($0) }
                #expect(!insidePIDs.isEmpty)
                // Seen from the host: the attach client is the account, has no capabilities, and
                // `no_new_privs` and the seccomp filter are on.
                let attach = processTree(leader).filter { ProcessTable.arguments(of: $0)?.contains("attach-session") == true }
                #expect(attach.isEmpty, "the client is not a descendant of the sandbox's leader, but it is in its namespaces")
                // Other sessions on this machine have clients too: this session's is the one in its namespace.
                let namespace = pidNamespace(of: try #require(host.running(host.directory(id))).namespacePID)
                let jailed = processes(mentioning: "attach-session").filter {
                    (ProcessTable.arguments(of: $0)?.first ?? "").hasSuffix("/tmux") && pidNamespace(of: $0) == namespace
                }
                #expect(jailed.count == 1, "the attach client runs in the sandbox's pid namespace")
                for pid in jailed {
                    #expect(procStatus(pid, "Uid")?.first == "\(accountA.uid)")
                    #expect(procStatus(pid, "CapEff")?.first == "0000000000000000")
                    #expect(procStatus(pid, "CapPrm")?.first == "0000000000000000")
                    #expect(procStatus(pid, "NoNewPrivs")?.first == "1")
                    #expect(procStatus(pid, "Seccomp")?.first == "2")
                    #expect(procStatus(pid, "NSpid")?.count == 2, "the client has a pid inside the sandbox and one outside")
                }
            }
        }
    }
}
