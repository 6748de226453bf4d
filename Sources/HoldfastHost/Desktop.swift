import Glibc
import HoldfastCore
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// What a desktop session runs in its tmux window: TigerVNC's X server, openbox and an xterm.
///
/// The window's program is a small shell script, bound read-only into the sandbox as
/// `/etc/holdfast-desktop`. It starts Xvnc listening on a Unix socket only (`-rfbunixpath` in the
/// session's socket folder, `-rfbport -1`: no TCP port at all, not even inside the sandbox's own
/// network), waits for the X socket, starts the window manager, which starts the terminal window
/// once it manages the screen (started side by side, a window could be mapped while openbox was
/// still starting, and openbox then never framed or showed it), and then
/// waits for Xvnc: the desktop lasts exactly as long as its X server, and when that exits the
/// window closes, tmux exits (`exit-empty`) and the sandbox ends, as a terminal's does with its shell.
///
/// Xvnc offers security type None: only the Holdfast server can reach its socket (0600, in a
/// folder the server checks before connecting), and the user is signed in to Holdfast already.
/// No VNC password exists that could travel in a URL.
public struct DesktopProgram: Sendable, Hashable {
    public var xvncPath: String
    public var windowManagerPath: String
    public var terminalPath: String
    /// The size a desktop starts at; the viewer resizes it to the browser's window on attach.
    public var width: Int
    public var height: Int
    /// Whether Xvnc offers GLX (OpenGL) to the desktop's programs. Off by default: Mesa's
    /// software renderer, which GLX loads into every Xvnc, costs 32 MiB of PSS per desktop
    /// (11 MiB of it private), nearly three times the rest of the X server; xterm, openbox and
    /// the browsers run without it.
    public var glx: Bool

    public init(
        xvncPath: String = "/usr/bin/Xtigervnc", windowManagerPath: String = "/usr/bin/openbox",
        terminalPath: String = "/usr/bin/xterm", width: Int = 1280, height: Int = 800, glx: Bool = false
    ) {
        self.xvncPath = xvncPath
        self.windowManagerPath = windowManagerPath
        self.terminalPath = terminalPath
        self.width = width
        self.height = height
        self.glx = glx
    }

    /// The X display inside the sandbox: every sandbox has its own `/tmp` and network, so every
    /// desktop can be `:0`.
    static let display = ":0"
    /// Where the script appears inside the sandbox.
    static let pathInSandbox = "/etc/holdfast-desktop"
    /// The VNC socket's name in the session's socket folder (`/run/holdfast` inside).
    static let socketName = "vnc.sock"
    /// What the X server, the window manager and the terminal print; in the session's own `/tmp`,
    /// so its size counts against the session.
    static let logInSandbox = "/tmp/holdfast-desktop.log"

    /// The desktop's name in RFB's ServerInit (the viewer's title): the same for every attach, so
    /// a viewer can tell it came back to the same desktop.
    static func name(of id: Session.ID) -> String {
        "Holdfast desktop \(id.description.prefix(8))"
    }

    /// The script for session `id`.
    func script(for id: Session.ID) -> String {
        let socket = Sandbox.socketDirectory + "/" + Self.socketName
        return """
            #!/bin/sh
            # Holdfast desktop session \(id): written by the server at launch, run by tmux as the
            # session's user inside its sandbox. The desktop ends when Xvnc does.
            export DISPLAY=\(Self.display)
            exec >>\(Self.logInSandbox) 2>&1
            \(self.xvncPath) \(Self.display) -rfbunixpath \(socket) -rfbunixmode 0600 -rfbport -1 -nolisten tcp \\
              -SecurityTypes None -AlwaysShared -geometry \(self.width)x\(self.height) -depth 24 \\
              -desktop '\(Self.name(of: id))' -MaxCutText \(RFBClientFilter.maximumClipboard)\(self.glx ? "" : " -extension GLX") &
            xvnc=$!
            tries=0
            while [ ! -S /tmp/.X11-unix/X\(Self.display.dropFirst()) ]; do
              kill -0 "$xvnc" 2>/dev/null || exit 1
              tries=$((tries + 1))
              [ "$tries" -le 400 ] || { echo "holdfast: Xvnc did not start within 20 s"; kill "$xvnc"; exit 1; }
              sleep 0.05
            done
            \(self.windowManagerPath) --sm-disable --startup '\(self.terminalPath) -geometry 100x30+40+40 -title Terminal' &
            wait "$xvnc"

            """
    }
}

/// A viewer's connection to a desktop's VNC server: the server's Unix socket, connected and
/// checked (`SessionSocket`), handed whole to a gateway that relays sockets itself
/// (`takeSocket`), or else read and written through NIO here, with the same bounded output window
/// as a terminal (a slow browser stops the reads, and Xvnc, whose socket then fills, waits). Every
/// byte the viewer sends is checked by `RFBClientFilter` (`admit`) before it goes on.
final class DesktopConnection: SocketBackedConnection {
    private enum State {
        /// Connected, neither taken nor read yet.
        case socket(Int32)
        /// Read here: the channel comes up (or has), Xvnc's first bytes complete `greeted`.
        case reading(channel: EventLoopFuture<any Channel>, output: TerminalOutput, greeted: EventLoopFuture<Void>, window: OutputWindow)
        /// Given to a gateway, or closed.
        case gone
    }

    private let state: Mutex<State>
    private let filter = Mutex(RFBClientFilter())
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger

    /// Takes over `descriptor`, a socket connected to the desktop's Xvnc.
    init(descriptor: Int32, eventLoopGroup: any EventLoopGroup, logger: Logger) throws {
        guard ClientBootstrap(validatingGroup: eventLoopGroup) != nil else {
            Glibc.close(descriptor)
            throw HostError(
                code: "unsupported_event_loop_group", message: "desktops need NIOPosix's MultiThreadedEventLoopGroup; pass one to TmuxHost")
        }
        self.state = Mutex(.socket(descriptor))
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    deinit {
        if case .socket(let descriptor) = self.state.withLock({ $0 }) { Glibc.close(descriptor) }
    }

    func takeSocket() -> Int32? {
        self.state.withLock { state in
            guard case .socket(let descriptor) = state else { return nil }
            state = .gone
            return descriptor
        }
    }

    func admit(_ bytes: [UInt8]) throws(ProtocolRefusal) {
        try self.filter.withLock { filter throws(ProtocolRefusal) in try filter.check(bytes) }
    }

    /// Xvnc's bytes, read through NIO from the first time they are asked for; empty and finished
    /// when the socket was given away.
    var output: TerminalOutput {
        self.reading()?.output ?? TerminalOutput(AsyncStream { $0.finish() })
    }

    /// The socket as read here, set up on first use.
    private func reading() -> (channel: EventLoopFuture<any Channel>, output: TerminalOutput, greeted: EventLoopFuture<Void>)? {
        self.state.withLock { state in
            switch state {
            case .reading(let channel, let output, let greeted, _):
                return (channel, output, greeted)
            case .gone:
                return nil
            case .socket(let descriptor):
                let reader = OutputReader(eventLoopGroup: self.eventLoopGroup)
                let channel = ClientBootstrap(group: self.eventLoopGroup).channelInitializer(reader.install)
                    .withConnectedSocket(descriptor)
                channel.whenFailure { reader.fail($0) }
                let output = TerminalOutput(reader.stream) { [window = reader.window] count in
                    if window.taken(count) {
                        channel.whenSuccess { $0.pipeline.fireUserInboundEventTriggered(OutputWindow.Reopened()) }
                    }
                }
                state = .reading(channel: channel, output: output, greeted: reader.firstBytes.futureResult, window: reader.window)
                return (channel, output, reader.firstBytes.futureResult)
            }
        }
    }

    /// Passes the viewer's bytes on once they pass the filter; a refused stream throws
    /// `ProtocolRefusal` and nothing of the offending write reaches Xvnc.
    func write(_ bytes: [UInt8]) async throws {
        try self.admit(bytes)
        guard let reading = self.reading() else {
            throw HostError(code: "desktop_closed", message: "the desktop's VNC connection has closed; attach again")
        }
        do {
            try await reading.greeted.get()
            try await reading.channel.get().writeAndFlush(ByteBuffer(bytes: bytes))
        } catch {
            throw HostError(code: "desktop_closed", message: "the desktop's VNC connection has closed; attach again", cause: error)
        }
    }

    /// A viewer resizes a desktop in RFB (`SetDesktopSize`), not through this call.
    func resize(columns: Int, rows: Int) async throws {}

    /// Ends this viewer's connection (unless a gateway took the socket: it closes it); the desktop
    /// keeps running (Xvnc is `-AlwaysShared` and outlives its viewers).
    func close() async {
        let previous = self.state.withLock { state in
            defer { state = .gone }
            return state
        }
        switch previous {
        case .gone:
            return
        case .socket(let descriptor):
            Glibc.close(descriptor)
        case .reading(let channel, _, _, let window):
            window.discard()
            do {
                try await channel.get().close()
            } catch ChannelError.alreadyClosed {
                // Xvnc closed first.
            } catch {
                self.logger.debug("closing a desktop connection failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
