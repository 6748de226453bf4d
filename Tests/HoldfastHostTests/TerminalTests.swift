import HoldfastCore
import Testing

@testable import HoldfastHost

/// What a user sees through an attached terminal: typing, resuming, resizing.
///
/// Expected strings are built so that they never appear in the typed line itself (`R""=` prints
/// `R=`), so an echo of the input cannot pass a test.
@Suite("Terminal")
struct TerminalTests {
    @Test func typedCommandsRunAndAReattachRedrawsTheScreen() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a")
            try await withTerminal(host, id) { terminal, output in
                try await terminal.type("echo $((6*7))")
                await output.waitFor("42")
            }
            // A new client starts with a full redraw: the earlier answer is on it without typing.
            try await withTerminal(host, id) { _, output in
                await output.waitFor("42")
            }
        }
    }

    @Test func shellStateSurvivesADetach() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a")
            try await withTerminal(host, id) { terminal, output in
                try await terminal.type("export FOO=bar; cd /tmp; echo D\"\"ONE")
                await output.waitFor("DONE")
            }
            try await withTerminal(host, id) { terminal, output in
                try await terminal.type("clear; echo R\"\"=$FOO:$PWD")
                await output.waitFor("R=bar:/tmp")
            }
        }
    }

    @Test func resizingTheTerminalResizesTheShellsWindow() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a")
            try await withTerminal(host, id, columns: 80, rows: 24) { terminal, output in
                try await terminal.type("echo S\"\"=$(stty size | tr ' ' x)")
                await output.waitFor("S=24x80")
                try await terminal.resize(columns: 100, rows: 30)
                // tmux resizes the window when the client reports the new size; give it a moment.
                let resized = await poll(timeout: .seconds(30)) {
                    (try? await tmux(host, id, ["display", "-p", "-t", "main", "#{window_width}x#{window_height}"]))?.output == "100x30"
                }
                #expect(resized)
                try await terminal.type("clear; echo S\"\"=$(stty size | tr ' ' x)")
                await output.waitFor("S=30x100")
            }
        }
    }

    @Test func keysSentRightAfterAttachingAreNotEchoedByTheTerminal() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a")
            let terminal = try await host.attachTerminal(id, columns: 80, rows: 24)
            try await terminal.type("echo $((6*7))")  // no waiting for the first screen
            let transcript = Transcript()
            async let reading: Void = {
                for await chunk in terminal.output { transcript.append(chunk) }
            }()
            await transcript.waitFor("42")
            // The PTY's own echo would come before tmux's first escape sequence.
            #expect(transcript.text.hasPrefix("\u{1B}"))
            await terminal.close()
            await reading
        }
    }

    @Test func textIsUTF8() async throws {
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a")
            try await withTerminal(host, id) { terminal, output in
                try await terminal.type("printf 'T=\\303\\251t\\342\\202\\254\\n'")
                await output.waitFor("T=ét€")
            }
        }
    }

    @Test func theShellGetsDefaultSignalDispositions() async throws {
        // NIO ignores SIGPIPE in the server; a shell that inherited that would see `yes | head`
        // end with a write error instead of SIGPIPE (exit status 141).
        try await withFixture { fixture in
            let host = fixture.host()
            let id = try await fixture.launch(host, workspace: "a")
            try await withTerminal(host, id) { terminal, output in
                try await terminal.type("yes | head -1 >/dev/null; echo P\"\"=${PIPESTATUS[0]}")
                await output.waitFor("P=141")
            }
        }
    }
}
