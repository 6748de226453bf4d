import Glibc
import HoldfastCore
import Logging
import Metrics
import NIOCore
import NIOPosix
import Synchronization

/// A tmux client attached to a session through a pseudo-terminal that the server holds the master of.
///
/// tmux only talks to terminals, so each browser attachment is a real PTY: the client (`tmux
/// attach`) runs on the slave as its controlling terminal, and the server reads and writes the
/// master through an NIO channel, so output arrives without a thread per attachment. Closing the
/// master hangs the client up: it exits and the session lives on (that is a detach).
final class PseudoTerminalConnection: TerminalConnection {
    /// At most this many bytes of output wait for a reader; past it the master is not read until
    /// the reader has taken half of them, so a slow client costs the server a fixed window (and
    /// only its own tmux client waits: tmux redraws a client that fell behind, and the session's
    /// other clients go on at their own pace).
    static let outputWindow = 1 << 20

    let output: TerminalOutput
    private let channel: any Channel
    /// Completed by the client's first output, failed if it exits before any.
    private let drawn: EventLoopFuture<Void>
    /// The master as NIO reads it; only touched on the channel's event loop while the channel is active.
    private let master: Int32
    private let client: ChildProcess
    private let window: OutputWindow
    private let logger: Logger

    private init(
        output: TerminalOutput, channel: any Channel, drawn: EventLoopFuture<Void>, master: Int32, client: ChildProcess,
        window: OutputWindow, logger: Logger
    ) {
        self.output = output
        self.window = window
        self.channel = channel
        self.drawn = drawn
        self.master = master
        self.client = client
        self.logger = logger
    }

    /// Opens a PTY of the given size and starts `client` on it.
    ///
    /// - Parameter client: the attach command; it runs in a session of its own with the slave as
    ///   its controlling terminal, which is what delivers SIGWINCH to it when the size changes.
    static func open(
        client: Command, columns: Int, rows: Int, eventLoopGroup: any EventLoopGroup, logger: Logger
    ) async throws -> PseudoTerminalConnection {
        try await self.open(columns: columns, rows: rows, eventLoopGroup: eventLoopGroup, logger: logger) { slave in
            try ProcessSpawner.spawn(client, controllingTerminal: try terminalName(slave))
        }
    }

    /// Opens a PTY of the given size and hands its slave to `start`, which gives it to the client.
    ///
    /// - Parameter start: starts (or wakes) the client on the slave; the slave is closed here after.
    static func open(
        columns: Int, rows: Int, eventLoopGroup: any EventLoopGroup, logger: Logger,
        start: (_ slave: Int32) throws -> ChildProcess
    ) async throws -> PseudoTerminalConnection {
        guard let bootstrap = NIOPipeBootstrap(validatingGroup: eventLoopGroup) else {
            throw HostError(
                code: "unsupported_event_loop_group",
                message: "terminals need NIOPosix's MultiThreadedEventLoopGroup; pass one to TmuxHost"
            )
        }
        let (master, slave) = try openPseudoTerminal(columns: columns, rows: rows)
        let process: ChildProcess
        do {
            defer { Glibc.close(slave) }
            process = try start(slave)
        } catch {
            Glibc.close(master)
            throw error
        }
        // NIO needs one descriptor per direction and would otherwise `dup` the master without
        // FD_CLOEXEC; our own duplicate keeps the flag.
        let writer = fcntl(master, F_DUPFD_CLOEXEC, 0)
        guard writer >= 0 else {
            let code = errno
            Glibc.close(master)
            await process.end(grace: .seconds(1))
            throw HostError.systemCall(
                "fcntl(F_DUPFD_CLOEXEC)", errno: code, while: "attaching a terminal",
                hint: "the server may be out of file descriptors; raise its limit (ulimit -n)")
        }
        let reader = OutputReader(eventLoopGroup: eventLoopGroup)
        do {
            let channel = try await bootstrap.channelInitializer(reader.install)
                .takingOwnershipOfDescriptors(input: master, output: writer).get()
            return PseudoTerminalConnection(
                output: reader.output(of: channel), channel: channel, drawn: reader.firstBytes.futureResult, master: master,
                client: process, window: reader.window, logger: logger
            )
        } catch {
            reader.fail(error)
            await process.end(grace: .seconds(1))
            throw HostError(code: "terminal_failed", message: "could not read the terminal; retry the attachment", cause: error)
        }
    }

    /// Sends keystrokes once the client has drawn its first screen.
    ///
    /// Until then the client may not have put the terminal in raw mode, and the PTY itself would
    /// echo the keys onto the user's screen (ARCHITECTURE §7); waiting here spares every caller that race.
    func write(_ bytes: [UInt8]) async throws {
        do {
            try await self.drawn.get()
            try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes))
        } catch {
            throw HostError(code: "terminal_closed", message: "the terminal has detached; attach again", cause: error)
        }
    }

    /// Sets the PTY's size; the kernel signals the client, and tmux resizes the window to it
    /// (`window-size latest`: the client that spoke last wins).
    func resize(columns: Int, rows: Int) async throws {
        let size = try windowSize(columns: columns, rows: rows)
        let channel = self.channel
        let master = self.master
        let result: Int32 = try await channel.eventLoop.submit {
            // On the loop, an active channel guarantees the descriptor is still ours.
            guard channel.isActive else { return EBADF }
            var size = size
            return ioctl(master, UInt(TIOCSWINSZ), &size) == 0 ? 0 : errno
        }.get()
        if result == EBADF {
            throw HostError(code: "terminal_closed", message: "the terminal has detached; attach again")
        }
        guard result == 0 else {
            throw HostError.systemCall("ioctl(TIOCSWINSZ)", errno: result, while: "resizing a terminal", hint: "attach again")
        }
    }

    /// Detaches: closing the master hangs up the client, which exits; the session keeps running.
    func close() async {
        self.window.discard()
        do {
            try await self.channel.close()
        } catch ChannelError.alreadyClosed {
            // The client exited first.
        } catch {
            self.logger.debug("closing a terminal failed", metadata: ["error": "\(error)"])
        }
        if await self.client.end(grace: .seconds(2)) == nil {
            self.logger.debug("a tmux client did not exit after its terminal closed")
        }
    }
}

/// The bytes of a terminal's output handed to its stream and not yet taken by the reader.
final class OutputWindow: Sendable {
    /// Sent through the pipeline (on its event loop) when the reader has made room again.
    struct Reopened {}

    let size: Int
    private let state = Mutex((waiting: 0, closed: false, discarded: false))

    init(size: Int) {
        self.size = size
    }

    /// Every terminal's bytes waiting now, the most one terminal ever had waiting, and how often a
    /// window filled up: what an operator (and the e2e test of a stalled client) reads in `/metrics`.
    private static let total = Atomic<Int>(0)
    private static let peak = Atomic<Int>(0)
    private static let totalGauge = Gauge(label: "holdfast_terminal_output_waiting_bytes")
    private static let peakGauge = Gauge(label: "holdfast_terminal_output_waiting_bytes_peak")
    private static let pauses = Counter(label: "holdfast_terminal_output_pauses_total")

    /// Counts `count` bytes handed over; whether the window is now full (stop reading).
    ///
    /// A full window holds back the next read, not the ones NIO makes in the same pass over the
    /// descriptor (`maxMessagesPerRead`), so a terminal may hold up to a few reads past `size`.
    func handed(_ count: Int) -> Bool {
        let (waiting, closing) = self.state.withLock { state in
            state.waiting += count
            let closing = !state.closed && state.waiting >= self.size
            if closing { state.closed = true }
            return (state.waiting, closing)
        }
        Self.totalGauge.record(Self.total.add(count, ordering: .relaxed).newValue)
        if Self.peak.max(waiting, ordering: .relaxed).newValue == waiting { Self.peakGauge.record(waiting) }
        if closing { Self.pauses.increment() }
        return self.isClosed
    }

    /// Counts `count` bytes taken; whether a full window has just drained to half (read again).
    func taken(_ count: Int) -> Bool {
        let counted = self.state.withLock { !$0.discarded }
        if counted { Self.totalGauge.record(Self.total.subtract(count, ordering: .relaxed).newValue) }
        return self.state.withLock { state in
            state.waiting -= count
            guard state.closed, state.waiting <= self.size / 2 else { return false }
            state.closed = false
            return true
        }
    }

    /// Bytes handed over and never taken (the reader went away) leave the total.
    func discard() {
        let left = self.state.withLock { state in
            defer { state.discarded = true }
            return state.discarded ? 0 : state.waiting
        }
        if left > 0 { Self.totalGauge.record(Self.total.subtract(left, ordering: .relaxed).newValue) }
    }

    var isClosed: Bool { self.state.withLock { $0.closed } }
}

/// Hands the client's output to the connection's stream and ends it when the client is gone.
///
/// While the output window is full it holds back the channel's reads (as NIO's
/// `BackPressureHandler` does), so the PTY fills and the tmux client writing to it waits.
/// The reading end of an attachment, a terminal's PTY or a desktop's socket alike: the channel's
/// bytes go into a `TerminalOutput` through `TerminalOutputHandler`, at most `window` of them
/// waiting for the reader, and `firstBytes` completes with the first read.
struct OutputReader: Sendable {
    let continuation: AsyncStream<[UInt8]>.Continuation
    let stream: AsyncStream<[UInt8]>
    let window = OutputWindow(size: PseudoTerminalConnection.outputWindow)
    let firstBytes: EventLoopPromise<Void>

    init(eventLoopGroup: any EventLoopGroup) {
        (self.stream, self.continuation) = AsyncStream.makeStream(of: [UInt8].self)
        self.firstBytes = eventLoopGroup.any().makePromise(of: Void.self)
    }

    /// The channel initializer: adds the handler that fills the stream.
    @Sendable func install(_ channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                TerminalOutputHandler(continuation: self.continuation, drawn: self.firstBytes, window: self.window))
        }
    }

    /// The stream as the gateway reads it; a reader that takes enough reopens the window.
    func output(of channel: any Channel) -> TerminalOutput {
        TerminalOutput(self.stream) { [window] count in
            if window.taken(count) {
                channel.pipeline.fireUserInboundEventTriggered(OutputWindow.Reopened())
            }
        }
    }

    /// The channel never came up: the stream ends and nobody waits for its first bytes.
    func fail(_ error: any Error) {
        self.continuation.finish()
        self.firstBytes.fail(error)
    }
}

final class TerminalOutputHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let drawn: EventLoopPromise<Void>
    private let window: OutputWindow
    private var hasDrawn = false
    /// A read the channel asked for while the window was full.
    private var heldRead = false

    init(continuation: AsyncStream<[UInt8]>.Continuation, drawn: EventLoopPromise<Void>, window: OutputWindow) {
        self.continuation = continuation
        self.drawn = drawn
        self.window = window
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        _ = self.window.handed(buffer.readableBytes)
        self.continuation.yield(Array(buffer.readableBytesView))
        if !self.hasDrawn {
            self.hasDrawn = true
            self.drawn.succeed()
        }
    }

    func read(context: ChannelHandlerContext) {
        guard self.window.isClosed else {
            context.read()
            return
        }
        self.heldRead = true
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is OutputWindow.Reopened else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if self.heldRead, !self.window.isClosed {
            self.heldRead = false
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.continuation.finish()
        if !self.hasDrawn {
            self.hasDrawn = true
            self.drawn.fail(ChannelError.ioOnClosedChannel)
        }
        context.fireChannelInactive()
    }

    /// Once every slave descriptor is closed (the client exited) reading the master fails with
    /// EIO: that is the end of the attachment, not a fault.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Opens a PTY pair of the given size, both ends close-on-exec.
///
/// The flag is set right after `openpty` (Swift's Glibc module hides `posix_openpt`, which could
/// set it atomically); every child the host spawns closes all descriptors above 2 anyway, so the
/// window only matters for children other code spawns.
private func openPseudoTerminal(columns: Int, rows: Int) throws -> (master: Int32, slave: Int32) {
    var size = try windowSize(columns: columns, rows: rows)
    var master: Int32 = -1
    var slave: Int32 = -1
    guard openpty(&master, &slave, nil, nil, &size) == 0 else {
        throw HostError.systemCall(
            "openpty", errno: errno, while: "opening a terminal",
            hint: "the host may be out of pseudo-terminals (see /proc/sys/kernel/pty/max) or descriptors (ulimit -n)")
    }
    guard fcntl(master, F_SETFD, FD_CLOEXEC) == 0, fcntl(slave, F_SETFD, FD_CLOEXEC) == 0 else {
        let code = errno
        Glibc.close(master)
        Glibc.close(slave)
        throw HostError.systemCall("fcntl(FD_CLOEXEC)", errno: code, while: "opening a terminal", hint: "retry the attachment")
    }
    return (master, slave)
}

/// The path of a terminal device, e.g. `/dev/pts/7`.
func terminalName(_ descriptor: Int32) throws -> String {
    var buffer = [CChar](repeating: 0, count: 128)
    let result = ttyname_r(descriptor, &buffer, buffer.count)
    guard result == 0 else {
        throw HostError.systemCall("ttyname_r", errno: result, while: "opening a terminal", hint: "check that /dev/pts is mounted")
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A `winsize`, refusing sizes a terminal cannot have.
private func windowSize(columns: Int, rows: Int) throws -> winsize {
    guard (1...10_000).contains(columns), (1...10_000).contains(rows) else {
        throw HostError(code: "invalid_terminal_size", message: "\(columns)×\(rows) is not a terminal size; send 1 to 10000 each")
    }
    return winsize(ws_row: UInt16(rows), ws_col: UInt16(columns), ws_xpixel: 0, ws_ypixel: 0)
}
