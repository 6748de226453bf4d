import Foundation
import Glibc
import HoldfastCore
import Testing

@testable import HoldfastHost

/// What a session's shell can and cannot reach.
@Suite("Sandbox")
struct SandboxTests {
    @Test func aSessionSeesNeitherOtherWorkspacesNorOtherSessionsNorShadow() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let a = try await fixture.launch(host, workspace: "a", account: accountA)
            let b = try await fixture.launch(host, workspace: "b", account: accountB)
            try Data("secret of b\n".utf8).write(to: URL(fileURLWithPath: fixture.workspace("b") + "/secret.txt"))
            let bWorkspace = fixture.workspace("b")
            let bFolder = host.directory(b).path
            try await withTerminal(host, a) { terminal, output in
                try await terminal.type(
                    "cat \(bWorkspace)/secret.txt; test -e \(bWorkspace) && echo B\"\"WS=visible || echo B\"\"WS=absent")
                await output.waitFor("BWS=absent")
                try await terminal.type("test -e \(bFolder) && echo B\"\"DIR=visible || echo B\"\"DIR=absent")
                await output.waitFor("BDIR=absent")
                // None of the host's data folders exist in there; its own socket is at a fixed place.
                try await terminal.type(
                    "echo N\"\"=$(ls \(fixture.sessionsDirectory) \(fixture.root) 2>/dev/null | wc -l):$(ls /run/holdfast)")
                await output.waitFor("N=0:tmux.sock")
                // `tmux` typed in the session reaches its own server.
                try await terminal.type("echo T\"\"=$(tmux list-sessions -F '#{session_name}')")
                await output.waitFor("T=main")
                try await terminal.type("cat /etc/shadow >/dev/null 2>&1 && echo SH\"\"=readable || echo SH\"\"=denied")
                await output.waitFor("SH=denied")
                try await terminal.type("echo H\"\"=$HOME:$(hostname):$HOLDFAST_SESSION")
                await output.waitFor("H=/home/user:holdfast:\(a)")
                try await terminal.type("echo hello > ~/made-in-a && echo W\"\"=ok")
                await output.waitFor("W=ok")
                #expect(!output.text.contains("secret of b"))
            }
            // The workspace is the real folder on the host, and what the user writes belongs to them.
            var info = stat()
            #expect(stat(fixture.workspace("a") + "/made-in-a", &info) == 0)
            #expect(info.st_uid == accountA.uid)
        }
    }

    @Test func aWorkspaceRestoredByRootIsHandedToTheAccountWithoutFollowingLinks() async throws {
        try await withFixture { fixture in
            let workspace = fixture.workspace("a")
            let outside = fixture.root + "/outside.txt"
            try FileManager.default.createDirectory(atPath: workspace + "/notes", withIntermediateDirectories: true)
            try Data("restored\n".utf8).write(to: URL(fileURLWithPath: workspace + "/notes/todo.txt"))
            try Data("not yours\n".utf8).write(to: URL(fileURLWithPath: outside))
            try FileManager.default.createSymbolicLink(atPath: workspace + "/link", withDestinationPath: outside)

            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a", account: accountA)
            for path in [workspace, workspace + "/notes", workspace + "/notes/todo.txt", workspace + "/link"] {
                var info = stat()
                #expect(lstat(path, &info) == 0)
                #expect(info.st_uid == accountA.uid, "\(path)")
            }
            var info = stat()
            #expect(stat(outside, &info) == 0)
            #expect(info.st_uid == 0, "a link in the workspace must not give its target away")
            try await withTerminal(host, id) { terminal, output in
                try await terminal.type("echo more >> ~/notes/todo.txt && echo A\"\"=appended")
                await output.waitFor("A=appended")
            }
        }
    }

    @Test func anAccountsShellIsThatUidOutsideTheSandboxAndHasNoCapabilities() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a", account: accountA)
            // tmux reports the shell's pid in the sandbox's pid namespace; find the host's pid for it.
            let panePID = try #require(pid_t(try await tmux(host, id, ["display", "-p", "-t", "main", "#{pane_pid}"]).output))
            let leader = try #require(host.directory(id).recordedSandboxPID())
            let tree = processTree(leader)
            let shell = try #require(tree.first { procStatus($0, "NSpid") == ["\($0)", "\(panePID)"] })
            #expect(procStatus(shell, "Uid") == Array(repeating: "\(accountA.uid)", count: 4))
            #expect(procStatus(shell, "Gid") == Array(repeating: "\(accountA.gid)", count: 4))
            #expect(procStatus(shell, "CapEff") == ["0000000000000000"])
            #expect(procStatus(shell, "CapBnd") == ["0000000000000000"])
            #expect(procStatus(shell, "NoNewPrivs") == ["1"])
            // Every process in the sandbox but bwrap's own two runs as the account.
            for pid in tree {
                let command = String(decoding: FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data(), as: UTF8.self)
                if command.hasPrefix("bwrap") || command.hasPrefix("/usr/bin/bwrap") { continue }
                #expect(procStatus(pid, "Uid")?.first == "\(accountA.uid)", "pid \(pid) \(command)")
            }
            try await withTerminal(host, id) { terminal, output in
                try await terminal.type("echo U\"\"=$(id -u):$(id -g)")
                await output.waitFor("U=\(accountA.uid):\(accountA.gid)")
            }
        }
    }
}
