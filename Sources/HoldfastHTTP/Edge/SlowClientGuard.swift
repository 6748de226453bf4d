import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore

extension HTTPServerBuilder {
    /// HTTP/1 with the WebSocket upgrade, guarded against clients that hold connections open by
    /// sending slowly (slowloris): the first request's header must be complete within
    /// `headerTimeout` of the connection opening, and a connection with no request in progress
    /// is closed after `idleTimeout` — a later request's header must arrive within that too, as
    /// bytes that do not complete a header do not count as activity. WebSocket connections, once
    /// upgraded, keep their own heartbeat.
    public static func holdfast<WSResponderBuilder: HTTPResponderBuilder & _HB_SendableMetatype>(
        webSocketRouter: WSResponderBuilder,
        webSocket: WebSocketServerConfiguration,
        headerTimeout: Duration,
        idleTimeout: Duration
    ) -> HTTPServerBuilder where WSResponderBuilder.Responder.Context: WebSocketRequestContext {
        let webSocketResponder = webSocketRouter.buildResponder()
        return .init { responder in
            SlowClientGuard(
                base: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    webSocketResponder: webSocketResponder,
                    configuration: .init(
                        http1: .init(additionalChannelHandlers: [ExpectContinue()], idleTimeout: TimeAmount(idleTimeout)), ws: webSocket)
                ),
                headerTimeout: TimeAmount(headerTimeout)
            )
        }
    }
}

/// Puts a ``FirstHeaderDeadline`` in front of every connection the base channel sets up. The
/// HTTP layer's own idle timer starts only once the first header has been read (the upgrade
/// handler holds it until then), so without this a connection could trickle its first header
/// forever.
struct SlowClientGuard<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let headerTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(
                FirstHeaderDeadline(timeout: self.headerTimeout, logger: logger), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return self.base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await self.base.handle(value: value, logger: logger)
    }
}

/// Closes a connection whose first request header is not complete `timeout` after it opened,
/// and steps out of the pipeline once it is.
final class FirstHeaderDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let logger: Logger
    private var scan = HeaderEndScan()
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.deadline?.cancel()
        self.deadline = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.arm(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let complete = self.scan.consume(self.unwrapInboundIn(data).readableBytesView)
        context.fireChannelRead(data)
        if complete {
            self.deadline?.cancel()
            self.deadline = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard self.deadline == nil else { return }
        let logger = self.logger
        let timeout = self.timeout
        self.deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            logger.notice(
                "connection closed: request header not complete in time",
                metadata: ["peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")", "timeout": "\(timeout)"])
            context.close(promise: nil)
        }
    }
}

/// Finds the blank line that ends an HTTP/1 request header, across reads. Blank lines before
/// the request line are skipped, as the parser skips them, so they cannot end the header early.
public struct HeaderEndScan: Sendable {
    private var started = false
    /// 1 right after a line feed, 2 after a line feed and a carriage return.
    private var afterLineFeed = 0

    public init() {}

    /// Whether the header ended within these bytes.
    public mutating func consume(_ bytes: some Sequence<UInt8>) -> Bool {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n"):
                guard self.started else { continue }
                if self.afterLineFeed > 0 { return true }
                self.afterLineFeed = 1
            case UInt8(ascii: "\r"):
                self.afterLineFeed = self.afterLineFeed == 1 ? 2 : 0
            default:
                self.started = true
                self.afterLineFeed = 0
            }
        }
        return false
    }
}
