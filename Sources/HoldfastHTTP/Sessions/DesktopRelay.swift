import Glibc
import NIOCore
import NIOPosix
import NIOWebSocket

/// A desktop's VNC socket relayed to its viewer's WebSocket on the WebSocket's own event loop.
///
/// What Xvnc sends goes from the socket's read buffer into a binary frame on the WebSocket with
/// no copy and no thread in between: both channels share one event loop, so a read is written
/// (and, at the end of the pass, flushed) where it arrives. The window is the WebSocket's own
/// outbound buffer: while more than `window` bytes wait for a slow browser the socket is not read
/// (Xvnc's side then fills and it waits), and reading starts again when half of them have gone.
/// What the viewer sends is written to the socket after the host's filter admitted it.
///
/// When Xvnc closes, everything it sent is flushed to the WebSocket before `ended` completes, so
/// the gateway's closing notice comes after the last frame.
final class DesktopRelay: Sendable {
    /// At most this many bytes wait for a slow browser (the terminal's window, too).
    static let window = 1 << 20

    private let socket: any Channel
    /// Completed by Xvnc's first bytes (its protocol version); failed if it closes before any.
    private let greeted: EventLoopFuture<Void>
    /// Completed when the socket has closed and all it read was handed to the WebSocket.
    let ended: EventLoopFuture<Void>

    private init(socket: any Channel, greeted: EventLoopFuture<Void>, ended: EventLoopFuture<Void>) {
        self.socket = socket
        self.greeted = greeted
        self.ended = ended
    }

    /// Takes over `descriptor`, a socket connected to the desktop's VNC server (closed on failure too).
    static func start(descriptor: Int32, webSocket: any Channel) async throws -> DesktopRelay {
        let loop = webSocket.eventLoop
        let greeted = loop.makePromise(of: Void.self)
        let ended = loop.makePromise(of: Void.self)
        do {
            try await webSocket.setOption(
                ChannelOptions.writeBufferWaterMark, value: WriteBufferWaterMark(low: Self.window / 2, high: Self.window)
            ).get()
            let socket = try await ClientBootstrap(group: loop)
                // Reads start small (an idle viewer holds no big buffer) and grow to 256 KiB while Xvnc
                // has that much to say (a full-screen update).
                .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 2048, maximum: 1 << 18))
                .channelInitializer { socket in
                    socket.eventLoop.makeCompletedFuture {
                        try socket.pipeline.syncOperations.addHandler(
                            RelayReader(webSocket: webSocket, greeted: greeted, ended: ended))
                        // Writability changes reach the WebSocket's handlers from the head.
                        try webSocket.pipeline.syncOperations.addHandler(WritabilityWatcher(socket: socket), position: .first)
                    }
                }
                .withConnectedSocket(descriptor).get()
            return DesktopRelay(socket: socket, greeted: greeted.futureResult, ended: ended.futureResult)
        } catch {
            greeted.fail(error)
            ended.succeed(())
            throw error
        }
    }

    /// Writes the viewer's bytes (already admitted) once Xvnc has greeted.
    func write(_ buffer: ByteBuffer) async throws {
        try await self.greeted.get()
        try await self.socket.writeAndFlush(buffer)
    }

    /// Closes the socket; the desktop keeps running (Xvnc outlives its viewers).
    func close() async {
        try? await self.socket.close()
    }
}

/// Sent through the socket's pipeline when the WebSocket can take bytes again.
private struct WebSocketWritable {}

/// On the socket: every read becomes one binary frame on the WebSocket.
private final class RelayReader: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    private let webSocket: any Channel
    private let greeted: EventLoopPromise<Void>
    private let ended: EventLoopPromise<Void>
    private var hasGreeted = false
    private var unflushed = false
    /// A read the socket asked for while the WebSocket's window was full.
    private var heldRead = false

    init(webSocket: any Channel, greeted: EventLoopPromise<Void>, ended: EventLoopPromise<Void>) {
        self.webSocket = webSocket
        self.greeted = greeted
        self.ended = ended
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        self.webSocket.write(WebSocketFrame(fin: true, opcode: .binary, data: buffer), promise: nil)
        self.unflushed = true
        if !self.hasGreeted {
            self.hasGreeted = true
            self.greeted.succeed(())
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.flush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        guard self.webSocket.isWritable else {
            self.heldRead = true
            return
        }
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is WebSocketWritable else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if self.heldRead, self.webSocket.isWritable {
            self.heldRead = false
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.flush()
        if !self.hasGreeted {
            self.hasGreeted = true
            self.greeted.fail(ChannelError.ioOnClosedChannel)
        }
        self.ended.succeed(())
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func flush() {
        guard self.unflushed else { return }
        self.unflushed = false
        self.webSocket.flush()
    }
}

/// On the WebSocket: tells the socket's reader when the browser has taken enough to read again.
private final class WritabilityWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let socket: any Channel

    init(socket: any Channel) {
        self.socket = socket
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.socket.pipeline.fireUserInboundEventTriggered(WebSocketWritable())
        }
        context.fireChannelWritabilityChanged()
    }
}
