import Foundation

/// The lifecycle of one workspace session, as a value: events in, actions out.
///
/// The gateway, the host and the sweepers own sockets, processes and timers; they feed what happened into a
/// `mutating` event method, with the instant it happened, and carry out the `Action`s it returns, in order.
/// Nothing here reads a clock, so every deadline is testable with plain `Date`s (see postgres-nio's
/// `ConnectionStateMachine` for the pattern).
///
/// Rules the machine enforces:
/// - **Heartbeat.** A client from which nothing (data or pong) arrived for `2 × heartbeat` is declared lost on the
///   next ``tick(now:)``; one whose socket closed is lost at once (``clientDisconnected(_:at:)``).
/// - **lostAt.** When the last client goes, `lostAt` is the *most recent traffic received from any client* of
///   this connected period, never the instant the loss was noticed. That is the last attached client's last traffic
///   whenever it was the latest to speak; if another tab spoke later and closed first, the user still gets the full
///   grace from that later keystroke. It is never later than real traffic.
/// - **Deadlines.** `expiresAt = lostAt + grace`; an attach before `expiresAt` resumes, one at or after it is
///   refused. A session that is started but never attached has the same kind of deadline (see ``started(at:)``),
///   so no session can live forever without a client.
/// - **Closing.** Data is never released before a verified final snapshot: a failed attempt stays in `closing`,
///   is retried with exponential backoff, and the operator is alerted once.
///
/// Input the network or a race can produce never traps: an event that makes no sense in the current state throws a
/// ``CoreError`` whose code is a ``Refusal`` and leaves the machine unchanged, and a late or duplicate report is
/// ignored (an empty action list).
public struct SessionStateMachine: Sendable, Hashable {
    // MARK: Types

    /// Identifies one attached connection; the gateway assigns a fresh one (`ClientID()`) when a WebSocket opens.
    ///
    /// A UUID rather than a counter so that ids from several gateway nodes never collide.
    public typealias ClientID = Identifier<Client>

    /// One attached client, as the heartbeat rule sees it.
    public struct Client: Sendable, Codable, Hashable {
        public var id: ClientID
        public var attachedAt: Date
        /// The last instant anything (data, pong, the attach itself) arrived from this client.
        public var lastTrafficAt: Date
    }

    /// Server-wide timing; the per-session grace is passed to the initializer because it is a tenant setting.
    public struct Configuration: Sendable, Codable, Hashable {
        /// How often the edge pings each client; silence for twice this declares a client lost.
        public var heartbeat: TimeInterval
        /// How stale the stored last-traffic time may get before traffic asks for a `.persist`.
        ///
        /// After a crash, a re-adopted session's `lostAt` is the stored value, so the user loses at most this much
        /// of their grace; a smaller value costs one store write per session per interval while connected.
        public var lastTrafficPersistInterval: TimeInterval
        /// The wait before the first retry of a failed close; doubled on each further failure.
        public var closingRetryInitialDelay: TimeInterval
        /// The longest wait between closing retries.
        public var closingRetryMaximumDelay: TimeInterval
        /// After this many failed closing attempts the operator is alerted (once per session).
        public var alertOperatorAfterFailures: Int

        public init(
            heartbeat: TimeInterval = 10,
            lastTrafficPersistInterval: TimeInterval = 5,
            closingRetryInitialDelay: TimeInterval = 5,
            closingRetryMaximumDelay: TimeInterval = 300,
            alertOperatorAfterFailures: Int = 3
        ) {
            self.heartbeat = heartbeat
            self.lastTrafficPersistInterval = lastTrafficPersistInterval
            self.closingRetryInitialDelay = closingRetryInitialDelay
            self.closingRetryMaximumDelay = closingRetryMaximumDelay
            self.alertOperatorAfterFailures = alertOperatorAfterFailures
        }

        /// Silence after which a client is declared lost: `2 × heartbeat`.
        public var silenceLimit: TimeInterval { 2 * self.heartbeat }

        /// The wait before retry number `failures` (1-based): initial × 2^(failures − 1), capped.
        public func closingRetryDelay(afterFailures failures: Int) -> TimeInterval {
            let doublings = min(max(failures - 1, 0), 30)
            return min(self.closingRetryInitialDelay * Double(1 << doublings), self.closingRetryMaximumDelay)
        }
    }

    /// What the edge must do after an event, in the order given.
    public enum Action: Sendable, Hashable {
        /// Close this client's socket: it has been declared lost.
        case disconnectClient(ClientID)
        /// Close every client's socket: the session is closing.
        case disconnectAll
        /// Append this row to the session's timeline.
        case recordEvent(SessionEvent)
        /// Back up the workspace now: the last client just went, which is exactly when data is at risk.
        case takeSnapshot
        /// Start, or start again, the close: final snapshot, verify it, then end the processes and release the
        /// workspace; report ``SessionStateMachine/closingSucceeded(at:)`` or
        /// ``SessionStateMachine/closingFailed(error:at:)``.
        ///
        /// It must be safe to repeat: a restarted server re-issues it when the previous attempt's outcome is unknown.
        case beginClosing(SessionCloseReason)
        /// A closing attempt failed; ``SessionStateMachine/tick(now:)`` at or after this instant issues
        /// `beginClosing` again.
        case scheduleRetry(at: Date)
        /// Tell the operator that a session cannot close; the message says what to check.
        case alertOperator(String)
        /// Save ``SessionStateMachine/persistedState`` to the store; it changed in a way a restart must not forget.
        case persist
    }

    /// Why an event was refused: the `code` of the ``CoreError`` that event methods throw.
    ///
    /// A refused event leaves the machine exactly as it was. Every refusal is a 4xx for the HTTP layer: `kind` is
    /// `.conflict` (the event does not fit the session's state), or `.invalidInput` for a deadline that does not move
    /// forward.
    public enum Refusal: String, Sendable, Codable, Hashable, CaseIterable {
        /// The processes are not up yet, so there is nothing to attach to.
        case notStarted = "session_not_started"
        /// `started` or `startFailed` arrived after the session had started.
        case alreadyStarted = "session_already_started"
        /// The deadline has passed (or is now); the session is about to close.
        case expiring = "session_expiring"
        /// The session is closing.
        case closing = "session_closing"
        /// The session is closed.
        case closed = "session_closed"
        /// The gateway reused a client id that is still attached.
        case duplicateClient = "client_already_attached"
        /// Only a held session has a deadline an administrator can extend.
        case notHeld = "session_not_held"
        /// A new deadline must be later than the current one.
        case deadlineNotLater = "deadline_not_later"
        /// Closing outcomes only make sense while closing.
        case notClosing = "session_not_closing"
        /// A closing failure arrived while no attempt was running (a retry is already scheduled).
        case noClosingAttempt = "no_closing_attempt"

        /// The error to throw; `message` says what happened and what to do next.
        func error(_ message: String) -> CoreError {
            CoreError(self == .deadlineNotLater ? .invalidInput : .conflict, code: self.rawValue, message: message)
        }
    }

    /// The fields the store keeps so that a restarted server can rebuild the machine.
    ///
    /// Clients are not stored: a restart drops every connection. `lastTrafficAt` is what makes `lostAt` right after
    /// a crash; the machine asks for a `.persist` whenever the stored copy is `lastTrafficPersistInterval` stale, so
    /// it is never staler than that, and the store writes a row per interval instead of one per frame.
    public struct PersistedState: Sendable, Codable, Hashable {
        public var state: SessionState
        public var grace: TimeInterval
        public var createdAt: Date
        public var startedAt: Date?
        public var lastTrafficAt: Date?
        public var lostAt: Date?
        public var expiresAt: Date?
        public var closeReason: SessionCloseReason?
        public var closingFailures: Int
        public var closingRetryAt: Date?
        public var operatorAlerted: Bool

        public init(
            state: SessionState,
            grace: TimeInterval,
            createdAt: Date,
            startedAt: Date? = nil,
            lastTrafficAt: Date? = nil,
            lostAt: Date? = nil,
            expiresAt: Date? = nil,
            closeReason: SessionCloseReason? = nil,
            closingFailures: Int = 0,
            closingRetryAt: Date? = nil,
            operatorAlerted: Bool = false
        ) {
            self.state = state
            self.grace = grace
            self.createdAt = createdAt
            self.startedAt = startedAt
            self.lastTrafficAt = lastTrafficAt
            self.lostAt = lostAt
            self.expiresAt = expiresAt
            self.closeReason = closeReason
            self.closingFailures = closingFailures
            self.closingRetryAt = closingRetryAt
            self.operatorAlerted = operatorAlerted
        }
    }

    /// Bookkeeping of a close in progress.
    struct Closing: Sendable, Hashable {
        var reason: SessionCloseReason
        var failures: Int
        /// Set after a failure; `nil` while an attempt is running.
        var retryAt: Date?
        var operatorAlerted: Bool
    }

    /// The internal state: each case carries exactly what is valid in it, so no field can contradict the state.
    enum Phase: Sendable, Hashable {
        case starting(deadline: Date)
        case connected([ClientID: Client])
        case held(lostAt: Date, expiresAt: Date)
        case closing(Closing)
        case closed(SessionCloseReason)
    }

    // MARK: Stored properties

    private var phase: Phase
    /// How long a held (or never attached) session waits; fixed at creation from the tenant's setting.
    public let grace: TimeInterval
    public let configuration: Configuration
    public let createdAt: Date
    /// When the processes came up; `nil` while launching.
    public private(set) var startedAt: Date?
    /// The most recent traffic received from any client; the source of `lostAt`.
    public private(set) var lastTrafficAt: Date?
    /// The `lastTrafficAt` the store holds, as far as the machine knows; drives the `.persist` throttle.
    private var persistedTrafficAt: Date?

    // MARK: Creation and restoring

    /// A new session whose processes are about to be launched.
    ///
    /// Its deadline starts now (`createdAt + grace`), so even a launch that never reports back cannot leak.
    /// - Parameters:
    ///   - grace: the tenant's grace period, in seconds.
    ///   - createdAt: the instant the session was requested.
    public init(grace: TimeInterval, createdAt: Date, configuration: Configuration = .init()) {
        self.phase = .starting(deadline: createdAt.addingTimeInterval(grace))
        self.grace = grace
        self.configuration = configuration
        self.createdAt = createdAt
    }

    /// Rebuilds a session from its stored fields, for a restarted server or another node.
    ///
    /// A session stored as `connected` comes back with no clients: call ``adopt(processesAlive:at:)`` next (a
    /// ``tick(now:)`` alone also declares it lost). Missing fields of a damaged row fall back to safe values
    /// (a deadline from the last known traffic) rather than trapping.
    public init(restoring stored: PersistedState, configuration: Configuration = .init()) {
        self.grace = stored.grace
        self.configuration = configuration
        self.createdAt = stored.createdAt
        self.startedAt = stored.startedAt
        self.lastTrafficAt = stored.lastTrafficAt
        self.persistedTrafficAt = stored.lastTrafficAt
        switch stored.state {
        case .starting:
            let deadline = stored.expiresAt ?? (stored.startedAt ?? stored.createdAt).addingTimeInterval(stored.grace)
            self.phase = .starting(deadline: deadline)
        case .connected:
            self.phase = .connected([:])
        case .held:
            let lostAt = stored.lostAt ?? stored.lastTrafficAt ?? stored.startedAt ?? stored.createdAt
            self.phase = .held(lostAt: lostAt, expiresAt: stored.expiresAt ?? lostAt.addingTimeInterval(stored.grace))
        case .closing:
            self.phase = .closing(
                Closing(
                    reason: stored.closeReason ?? .admin,
                    failures: stored.closingFailures,
                    retryAt: stored.closingRetryAt,
                    operatorAlerted: stored.operatorAlerted
                )
            )
        case .closed:
            self.phase = .closed(stored.closeReason ?? .admin)
        }
    }

    // MARK: Reading

    public var state: SessionState {
        switch self.phase {
        case .starting: .starting
        case .connected: .connected
        case .held: .held
        case .closing: .closing
        case .closed: .closed
        }
    }

    /// The last traffic from the last clients, while held.
    public var lostAt: Date? {
        guard case .held(let lostAt, _) = self.phase else { return nil }
        return lostAt
    }

    /// The instant the session closes unless someone attaches: while held, and while started but never attached.
    public var expiresAt: Date? {
        switch self.phase {
        case .starting(let deadline): deadline
        case .held(_, let expiresAt): expiresAt
        case .connected, .closing, .closed: nil
        }
    }

    /// The clients attached now; empty unless connected.
    public var clients: [ClientID: Client] {
        guard case .connected(let clients) = self.phase else { return [:] }
        return clients
    }

    public var closeReason: SessionCloseReason? {
        switch self.phase {
        case .closing(let closing): closing.reason
        case .closed(let reason): reason
        case .starting, .connected, .held: nil
        }
    }

    /// Failed closing attempts so far.
    public var closingFailures: Int {
        guard case .closing(let closing) = self.phase else { return 0 }
        return closing.failures
    }

    /// When the next closing attempt is due, after a failure.
    public var closingRetryAt: Date? {
        guard case .closing(let closing) = self.phase else { return nil }
        return closing.retryAt
    }

    /// The earliest instant at which ``tick(now:)`` has work to do, so the edge can sleep until then.
    public var nextDeadline: Date? {
        switch self.phase {
        case .starting(let deadline):
            return deadline
        case .connected(let clients):
            // A restored session with no client is due at once: its clients are gone.
            guard let quietest = clients.values.map(\.lastTrafficAt).min() else { return self.lastKnownTrafficAt }
            return quietest.addingTimeInterval(self.configuration.silenceLimit)
        case .held(_, let expiresAt):
            return expiresAt
        case .closing(let closing):
            return closing.retryAt
        case .closed:
            return nil
        }
    }

    /// What the store must save to rebuild this machine after a restart.
    public var persistedState: PersistedState {
        var stored = PersistedState(
            state: self.state,
            grace: self.grace,
            createdAt: self.createdAt,
            startedAt: self.startedAt,
            lastTrafficAt: self.lastTrafficAt,
            lostAt: self.lostAt,
            expiresAt: self.expiresAt,
            closeReason: self.closeReason
        )
        if case .closing(let closing) = self.phase {
            stored.closingFailures = closing.failures
            stored.closingRetryAt = closing.retryAt
            stored.operatorAlerted = closing.operatorAlerted
        }
        return stored
    }

    // MARK: Starting

    /// The processes are up: clients may attach, and the never-attached deadline restarts from now.
    ///
    /// Why `starting` with a deadline rather than `held`: a session nobody has used yet has nothing to back up and
    /// was never "lost", so the timeline stays truthful (`started`, then `attached`), yet it still closes if no
    /// client comes within the grace period.
    public mutating func started(at now: Date) throws(CoreError) -> [Action] {
        guard case .starting(let deadline) = self.phase else {
            throw self.refusal(default: .alreadyStarted, "The session has already started; attach to it instead.")
        }
        guard self.startedAt == nil else {
            throw Refusal.alreadyStarted.error("The session has already reported started.")
        }
        let newDeadline = max(deadline, now.addingTimeInterval(self.grace))
        self.startedAt = now
        self.phase = .starting(deadline: newDeadline)
        return [
            .recordEvent(.init(at: now, type: .started, detail: "processes up; closes at \(newDeadline.detail) unless a client attaches")),
            self.persist(),
        ]
    }

    /// The processes could not be launched: close through the normal path (the workspace is still backed up).
    ///
    /// A repeat while already closing is ignored.
    public mutating func startFailed(error: String, at now: Date) throws(CoreError) -> [Action] {
        switch self.phase {
        case .starting:
            return self.close(reason: .startFailed, detail: "start failed: \(error)", at: now)
        case .closing, .closed:
            return []
        case .connected, .held:
            throw self.refusal(
                default: .alreadyStarted,
                "The session has started; report dead processes with closeRequested(reason: .processesDied)."
            )
        }
    }

    // MARK: Clients

    /// A client wants to attach (the resume token is already checked and rotated by the gateway).
    ///
    /// Accepted while started, connected, or held before `expiresAt`; an attach at `expiresAt` or later is refused
    /// because the grace period is over even if no tick has closed the session yet. The attach itself counts as
    /// traffic from the client.
    public mutating func attach(_ id: ClientID, at now: Date) throws(CoreError) -> [Action] {
        let client = Client(id: id, attachedAt: now, lastTrafficAt: now)
        switch self.phase {
        case .starting:
            guard self.startedAt != nil else {
                throw Refusal.notStarted.error("The session is still starting; try again in a moment.")
            }
            self.phase = .connected([id: client])
            self.lastTrafficAt = max(self.lastTrafficAt ?? now, now)
            return [.recordEvent(.init(at: now, type: .attached, detail: "client \(id) attached (first)")), self.persist()]

        case .connected(var clients):
            guard clients[id] == nil else {
                throw Refusal.duplicateClient.error("Client \(id) is already attached; give each connection its own id.")
            }
            clients[id] = client
            self.phase = .connected(clients)
            let event = Action.recordEvent(.init(at: now, type: .attached, detail: "client \(id) attached; \(clients.count) attached"))
            return [event] + self.noteTraffic(at: now)

        case .held(let lostAt, let expiresAt):
            guard now < expiresAt else {
                throw Refusal.expiring.error(
                    "The session's grace period ended at \(expiresAt.detail); it is being closed and backed up. Start a new session.")
            }
            self.phase = .connected([id: client])
            self.lastTrafficAt = max(self.lastTrafficAt ?? now, now)
            let detail =
                "client \(id) resumed \(Self.durationText(now.timeIntervalSince(lostAt))) after the last traffic; deadline was \(expiresAt.detail)"
            return [.recordEvent(.init(at: now, type: .resumed, detail: detail)), self.persist()]

        case .closing, .closed:
            throw self.refusal(default: .closing, "The session is closing; start a new session.")
        }
    }

    /// Something (data or a pong) arrived from a client at `now`.
    ///
    /// Reports for a client that is not attached (already lost, or never known) and reports dated no later than the
    /// client's last traffic are ignored: a late pong never moves time backwards or revives a lost client. Returns
    /// `.persist` at most once per `lastTrafficPersistInterval`, so the store always knows the last traffic to within
    /// that interval.
    public mutating func trafficReceived(from id: ClientID, at now: Date) -> [Action] {
        guard case .connected(var clients) = self.phase, var client = clients[id], now > client.lastTrafficAt else {
            return []
        }
        client.lastTrafficAt = now
        clients[id] = client
        self.phase = .connected(clients)
        return self.noteTraffic(at: now)
    }

    /// A client's socket closed or reset: it is lost at once, dated by its last traffic, not by `now`.
    ///
    /// A report for a client that is not attached is a race with ``tick(now:)`` or a close, and is ignored.
    public mutating func clientDisconnected(_ id: ClientID, at now: Date) -> [Action] {
        guard case .connected(let clients) = self.phase, clients[id] != nil else { return [] }
        return self.removeClients([(id, "closed its connection")], disconnecting: false, at: now)
    }

    // MARK: Time

    /// Applies every deadline that has passed at `now`: silent clients, expiry, a due closing retry.
    ///
    /// Call it periodically (at least every heartbeat while connected) or at ``nextDeadline``. A client is silent
    /// when `now − lastTrafficAt ≥ 2 × heartbeat`. If a late tick finds that the grace period is over as well, the
    /// session goes straight on to closing in the same call.
    public mutating func tick(now: Date) -> [Action] {
        switch self.phase {
        case .starting(let deadline):
            guard now >= deadline else { return [] }
            let detail =
                self.startedAt == nil
                ? "the processes did not come up before \(deadline.detail)" : "no client attached before \(deadline.detail)"
            return self.close(reason: .expired, eventType: .expired, detail: detail, at: now)

        case .connected(let clients):
            let limit = self.configuration.silenceLimit
            let silent = clients.values
                .filter { now.timeIntervalSince($0.lastTrafficAt) >= limit }
                .sorted { ($0.lastTrafficAt, $0.id.description) < ($1.lastTrafficAt, $1.id.description) }
                .map { ($0.id, "sent nothing since \($0.lastTrafficAt.detail) (\(Self.durationText(limit)) of silence)") }
            guard !silent.isEmpty || clients.isEmpty else { return [] }
            return self.removeClients(silent, disconnecting: true, at: now)

        case .held:
            return self.expireIfDue(at: now)

        case .closing(var closing):
            guard let retryAt = closing.retryAt, now >= retryAt else { return [] }
            closing.retryAt = nil
            self.phase = .closing(closing)
            return [.beginClosing(closing.reason), self.persist()]

        case .closed:
            return []
        }
    }

    // MARK: Closing

    /// Someone (user, admin, maintenance, the process watcher) wants the session closed.
    ///
    /// Idempotent: while closing or closed it returns no action, so a second request never starts a second backup.
    public mutating func closeRequested(reason: SessionCloseReason, at now: Date) -> [Action] {
        switch self.phase {
        case .starting, .connected, .held:
            let type: SessionEventType = reason == .expired ? .expired : .closing
            return self.close(reason: reason, eventType: type, detail: "close requested: \(reason.rawValue)", at: now)
        case .closing, .closed:
            return []
        }
    }

    /// The final snapshot is verified and the processes have ended: the session is closed.
    ///
    /// A repeat after closing is ignored.
    public mutating func closingSucceeded(at now: Date) throws(CoreError) -> [Action] {
        switch self.phase {
        case .closing(let closing):
            self.phase = .closed(closing.reason)
            let attempts = closing.failures + 1
            let detail = "final snapshot verified, processes ended (\(closing.reason.rawValue); attempt \(attempts))"
            return [.recordEvent(.init(at: now, type: .closed, detail: detail)), self.persist()]
        case .closed:
            return []
        case .starting, .connected, .held:
            throw self.refusal(default: .notClosing, "No close is in progress.")
        }
    }

    /// A closing attempt failed: the workspace stays, a retry is scheduled with backoff, the operator is alerted once.
    ///
    /// The retry waits `closingRetryInitialDelay × 2^(failures − 1)`, capped at `closingRetryMaximumDelay`
    /// (5 s, 10 s, 20 s, … 5 min by default); the returned `.scheduleRetry` carries the instant.
    public mutating func closingFailed(error: String, at now: Date) throws(CoreError) -> [Action] {
        guard case .closing(var closing) = self.phase else {
            throw self.refusal(default: .notClosing, "No close is in progress.")
        }
        guard closing.retryAt == nil else {
            throw Refusal.noClosingAttempt.error("No closing attempt is running; the next one is due at \(closing.retryAt?.detail ?? "?").")
        }
        closing.failures += 1
        let retryAt = now.addingTimeInterval(self.configuration.closingRetryDelay(afterFailures: closing.failures))
        closing.retryAt = retryAt
        let detail = "closing attempt \(closing.failures) failed: \(error); workspace kept; retry at \(retryAt.detail)"
        var actions: [Action] = [.recordEvent(.init(at: now, type: .failed, detail: detail)), .scheduleRetry(at: retryAt)]
        if closing.failures >= self.configuration.alertOperatorAfterFailures, !closing.operatorAlerted {
            closing.operatorAlerted = true
            actions.append(
                .alertOperator(
                    "A session has failed to close \(closing.failures) times (last error: \(error)). Its workspace is kept and "
                        + "closing is retried up to every \(Self.durationText(self.configuration.closingRetryMaximumDelay)); "
                        + "check the backup repository (reachable, not locked, not full) and the host."
                )
            )
        }
        self.phase = .closing(closing)
        actions.append(self.persist())
        return actions
    }

    // MARK: Administration

    /// Moves a held session's deadline to `deadline`; only later, and only before the current one has passed.
    public mutating func extend(to deadline: Date, at now: Date) throws(CoreError) -> [Action] {
        guard case .held(let lostAt, let expiresAt) = self.phase else {
            throw self.refusal(default: .notHeld, "Only a held session (no client attached) has a deadline to extend.")
        }
        guard now < expiresAt else {
            throw Refusal.expiring.error("The deadline \(expiresAt.detail) has passed; the session is being closed and cannot be extended.")
        }
        guard deadline > expiresAt else {
            throw Refusal.deadlineNotLater.error(
                "The new deadline \(deadline.detail) is not later than the current one, \(expiresAt.detail).")
        }
        self.phase = .held(lostAt: lostAt, expiresAt: deadline)
        let detail = "deadline moved from \(expiresAt.detail) to \(deadline.detail)"
        return [.recordEvent(.init(at: now, type: .extended, detail: detail)), self.persist()]
    }

    /// Moves a held session's deadline `interval` seconds later.
    public mutating func extend(by interval: TimeInterval, at now: Date) throws(CoreError) -> [Action] {
        // Outside `held` the base does not matter: extend(to:) refuses on the state before looking at the deadline.
        try self.extend(to: (self.expiresAt ?? now).addingTimeInterval(interval), at: now)
    }

    // MARK: Re-adoption

    /// A restarted server found this session's processes alive or gone, and takes it over.
    ///
    /// Every client died with the old server, so a connected session becomes held, with `lostAt` the last traffic the
    /// store knew (at most `lastTrafficPersistInterval` before the real one: the user may lose those seconds of grace,
    /// but is never promised time that did not exist). A held or starting session keeps its deadline; a closing one
    /// restarts an attempt whose outcome died with the server. Dead processes close through the normal path
    /// (the workspace on disk is still backed up first). Deadlines that passed while the server was down apply now.
    public mutating func adopt(processesAlive: Bool, at now: Date) throws(CoreError) -> [Action] {
        let adopted = Action.recordEvent(
            .init(at: now, type: .adopted, detail: processesAlive ? "processes alive after restart" : "processes gone after restart")
        )
        switch self.phase {
        case .closed:
            throw self.refusal(default: .closed, "The session is closed; there is nothing to adopt.")

        case .closing(let closing):
            // With a retry scheduled, tick runs it when due; otherwise the running attempt died with the old server.
            guard closing.retryAt == nil else { return [adopted] + self.tick(now: now) }
            return [adopted, .beginClosing(closing.reason)]

        case .starting where self.startedAt == nil:
            // The server died during the launch: whatever it left is half a sandbox (no window, maybe
            // no network), never a session to hand out. It fails at once rather than for the grace.
            return [adopted] + self.close(reason: .startFailed, detail: "the launch was cut short by a server restart", at: now)

        case .starting, .connected, .held:
            guard processesAlive else {
                return [adopted] + self.close(reason: .processesDied, detail: "processes not running after a server restart", at: now)
            }
            switch self.phase {
            case .connected(let clients):
                let gone = clients.values.sorted { $0.id.description < $1.id.description }.map { ($0.id, "dropped by the server restart") }
                return [adopted] + self.removeClients(gone, disconnecting: true, at: now)
            default:
                return [adopted] + self.tick(now: now)
            }
        }
    }

    // MARK: Nodes

    /// The session's node stopped renewing its lease (it died, or lost the store), as another node
    /// records it. Every client went with the node as far as the service can tell, so a starting or
    /// connected session is held from the last traffic the store knows, for the grace; a held one
    /// keeps its deadline, and a closing or closed one is left alone. If the node comes back within
    /// the grace it adopts the session as after a restart.
    public mutating func hostLost(node: String, at now: Date) -> [Action] {
        switch self.phase {
        case .starting, .connected:
            let lostAt = min(now, self.lastKnownTrafficAt)
            let expiresAt = lostAt.addingTimeInterval(self.grace)
            self.phase = .held(lostAt: lostAt, expiresAt: expiresAt)
            let detail =
                "node \(node) stopped renewing its lease: held from the last traffic known at \(lostAt.detail) until \(expiresAt.detail)"
            return [.recordEvent(.init(at: now, type: .lost, detail: detail)), self.persist()]
        case .held, .closing, .closed:
            return []
        }
    }

    /// The session's node is still down when its grace ends (held), or a grace after it was lost
    /// mid-close (closing): it closes without a final snapshot, which only its node could take; the
    /// workspace comes back from the newest verified snapshot on the next start anywhere.
    public mutating func closeForLostHost(node: String, at now: Date) -> [Action] {
        switch self.phase {
        case .held(_, let expiresAt):
            guard now >= expiresAt else { return [] }
        case .closing:
            break
        case .starting, .connected, .closed:
            return []
        }
        self.phase = .closed(.hostLost)
        let detail = "node \(node) did not come back: closed without a final snapshot; the next session restores the newest verified one"
        return [.recordEvent(.init(at: now, type: .closed, detail: detail)), self.persist()]
    }

    // MARK: Helpers

    /// The best known last traffic, for a session that has to be dated without any.
    private var lastKnownTrafficAt: Date { self.lastTrafficAt ?? self.startedAt ?? self.createdAt }

    /// Records a `.persist` and marks the current last traffic as stored.
    private mutating func persist() -> Action {
        self.persistedTrafficAt = self.lastTrafficAt
        return .persist
    }

    /// Advances the session's last traffic; asks for a save when the stored copy is too stale.
    private mutating func noteTraffic(at now: Date) -> [Action] {
        self.lastTrafficAt = max(self.lastTrafficAt ?? now, now)
        if let stored = self.persistedTrafficAt, now.timeIntervalSince(stored) < self.configuration.lastTrafficPersistInterval {
            return []
        }
        return [self.persist()]
    }

    /// Removes clients from a connected session; when none is left the session is held (and maybe expires).
    ///
    /// Clients are removed in the given order; only the removal that empties the session records `lost`.
    private mutating func removeClients(_ removals: [(ClientID, String)], disconnecting: Bool, at now: Date) -> [Action] {
        guard case .connected(var clients) = self.phase else { return [] }
        var actions: [Action] = []
        for (id, why) in removals {
            guard clients.removeValue(forKey: id) != nil else { continue }
            if disconnecting { actions.append(.disconnectClient(id)) }
            if !clients.isEmpty {
                actions.append(
                    .recordEvent(.init(at: now, type: .detached, detail: "client \(id) \(why); \(clients.count) still attached")))
            } else {
                actions += self.hold(lastClient: "client \(id) \(why)", at: now)
            }
        }
        if clients.isEmpty, removals.isEmpty {
            // Restored as connected: its clients vanished with the old server.
            actions += self.hold(lastClient: "no client attached after a server restart", at: now)
        } else if !clients.isEmpty {
            self.phase = .connected(clients)
        }
        return actions + self.expireIfDue(at: now)
    }

    /// The last client is gone: hold the session from the last traffic, and back the workspace up now.
    private mutating func hold(lastClient why: String, at now: Date) -> [Action] {
        let lostAt = self.lastKnownTrafficAt
        let expiresAt = lostAt.addingTimeInterval(self.grace)
        self.phase = .held(lostAt: lostAt, expiresAt: expiresAt)
        let detail = "\(why); last traffic at \(lostAt.detail); held until \(expiresAt.detail)"
        return [.recordEvent(.init(at: now, type: .lost, detail: detail)), .takeSnapshot, self.persist()]
    }

    /// Closes a held session whose deadline has passed.
    private mutating func expireIfDue(at now: Date) -> [Action] {
        guard case .held(let lostAt, let expiresAt) = self.phase, now >= expiresAt else { return [] }
        let detail = "nobody resumed by \(expiresAt.detail) (last traffic at \(lostAt.detail))"
        return self.close(reason: .expired, eventType: .expired, detail: detail, at: now)
    }

    /// Enters `closing` from any live state: drop clients, record why, start the verified final snapshot.
    private mutating func close(
        reason: SessionCloseReason,
        eventType: SessionEventType = .closing,
        detail: String,
        at now: Date
    ) -> [Action] {
        var actions: [Action] = []
        if case .connected(let clients) = self.phase, !clients.isEmpty {
            actions.append(.disconnectAll)
        }
        self.phase = .closing(Closing(reason: reason, failures: 0, retryAt: nil, operatorAlerted: false))
        actions += [.recordEvent(.init(at: now, type: eventType, detail: detail)), .beginClosing(reason), self.persist()]
        return actions
    }

    /// A refusal for an event that does not fit the state; closing and closed sessions always say so.
    private func refusal(default refusal: Refusal, _ message: String) -> CoreError {
        switch self.phase {
        case .closing(let closing):
            Refusal.closing.error("The session is closing (\(closing.reason.rawValue)); start a new session.")
        case .closed(let reason):
            Refusal.closed.error("The session is closed (\(reason.rawValue)); start a new session.")
        case .starting, .connected, .held:
            refusal.error(message)
        }
    }

    /// Seconds in the command line's notation (`90s`, `1h30m`), to the nearest second, for event details.
    private static func durationText(_ interval: TimeInterval) -> String {
        DurationText.format(seconds: Int(interval.rounded()))
    }
}
extension Date {
    /// ISO 8601 in UTC with milliseconds, for event details.
    fileprivate var detail: String {
        self.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

extension CoreError {
    /// The session state machine's reason, when this error is one of its refusals.
    public var sessionRefusal: SessionStateMachine.Refusal? { SessionStateMachine.Refusal(rawValue: self.code) }
}
