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

/// A viewer's connection to a desktop's VNC server: the server's Unix socket read and written
/// through NIO, with the same bounded output window as a terminal (a slow browser stops the reads,
/// and Xvnc, whose socket then fills, waits), and every byte the viewer sends checked by
/// `RFBClientFilter` before it goes on.
final class DesktopConnection: TerminalConnection {
    let output: TerminalOutput
    private let channel: any Channel
    /// Completed by Xvnc's first bytes (its protocol version).
    private let greeted: EventLoopFuture<Void>
    private let window: OutputWindow
    private let filter = Mutex(RFBClientFilter())
    private let logger: Logger

    private init(output: TerminalOutput, channel: any Channel, greeted: EventLoopFuture<Void>, window: OutputWindow, logger: Logger) {
        self.output = output
        self.channel = channel
        self.greeted = greeted
        self.window = window
        self.logger = logger
    }

    /// Takes over `descriptor`, a socket connected to the desktop's Xvnc (closed on failure too).
    static func open(descriptor: Int32, eventLoopGroup: any EventLoopGroup, logger: Logger) async throws -> DesktopConnection {
        guard let bootstrap = ClientBootstrap(validatingGroup: eventLoopGroup) else {
            Glibc.close(descriptor)
            throw HostError(
                code: "unsupported_event_loop_group", message: "desktops need NIOPosix's MultiThreadedEventLoopGroup; pass one to TmuxHost")
        }
        let reader = OutputReader(eventLoopGroup: eventLoopGroup)
        do {
            let channel = try await bootstrap.channelInitializer(reader.install).withConnectedSocket(descriptor).get()
            return DesktopConnection(
                output: reader.output(of: channel), channel: channel, greeted: reader.firstBytes.futureResult, window: reader.window,
                logger: logger)
        } catch {
            reader.fail(error)
            throw HostError(code: "desktop_failed", message: "could not read the desktop's VNC socket; retry the attachment", cause: error)
        }
    }

    /// Passes the viewer's bytes on once they pass the filter; a refused stream throws
    /// `ProtocolRefusal` and nothing of the offending write reaches Xvnc.
    func write(_ bytes: [UInt8]) async throws {
        try self.filter.withLock { filter throws(ProtocolRefusal) in try filter.check(bytes) }
        do {
            try await self.greeted.get()
            try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes))
        } catch {
            throw HostError(code: "desktop_closed", message: "the desktop's VNC connection has closed; attach again", cause: error)
        }
    }

    /// A viewer resizes a desktop in RFB (`SetDesktopSize`), not through this call.
    func resize(columns: Int, rows: Int) async throws {}

    /// Ends this viewer's connection; the desktop keeps running (Xvnc is `-AlwaysShared` and
    /// outlives its viewers).
    func close() async {
        self.window.discard()
        do {
            try await self.channel.close()
        } catch ChannelError.alreadyClosed {
            // Xvnc closed first.
        } catch {
            self.logger.debug("closing a desktop connection failed", metadata: ["error": "\(error)"])
        }
    }
}
