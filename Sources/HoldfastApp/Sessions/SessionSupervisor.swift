import Foundation
import HoldfastCore
import HoldfastHTTP
import HoldfastHost
import Logging
import Metrics

/// Runs this server's sessions: launches them, attaches clients, holds, expires, closes
/// and re-adopts them, keeping the store's record and timeline in step.
///
/// Each session's rules live in its `SessionStateMachine`; this actor feeds it events and
/// carries out the actions it returns (save, disconnect, close). Every read-modify-write of
/// a machine is synchronous inside the actor, so reentrancy at an `await` cannot interleave
/// two changes of one session.
public actor SessionSupervisor: SessionService {
    public struct Configuration: Sendable {
        /// Grace for tenants without their own setting.
        public var grace: TimeInterval = 30 * 60
        public var heartbeat: TimeInterval = 10
        /// A live session whose workspace changed is snapshotted this often (the RPO).
        public var snapshotInterval: TimeInterval = 5 * 60
        /// How long an attach ticket is valid.
        public var ticketLifetime: TimeInterval = 30
        /// How many sessions may be closing (ending processes, final snapshot) at once; the rest
        /// wait their turn, so 200 expiries do not start 200 restic processes together.
        public var closeConcurrency = 4
        /// How long a liveness check may take before it counts as unknown.
        public var livenessTimeout: Duration = .seconds(3)
        /// How long a session's liveness may stay unknown before an operator is alerted.
        public var unknownAlertAfter: TimeInterval = 60
        /// The longest wait between two attempts to save a session while the store fails.
        public var writeRetryLimit: TimeInterval = 5
        /// How long an API call waits for its change to reach the store before it answers anyway.
        public var answerWaitsForStore: Duration = .seconds(2)
        /// The node this server is: recorded on every session it starts, and the only sessions it
        /// adopts at start-up are its own.
        public var node: String?

        public init() {}
    }

    private struct Waiter {
        var id = UUID()
        /// The number of the change waited for (`Live.changes` when the wait began).
        var change: Int
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct Live {
        var session: Session
        var machine: SessionStateMachine
        /// How to drop each attached client (closes its socket).
        var clients: [SessionStateMachine.ClientID: @Sendable () -> Void] = [:]
        /// When the latest snapshot for this session started (or the session did).
        var lastSnapshotAt: Date
        /// A snapshot for this session is running.
        var snapshotting = false
        /// Changes made in memory that the store must record (each transition that persists or
        /// adds to the timeline counts one), and how many of them it has recorded.
        var changes = 0
        var recordedChanges = 0
        /// Timeline rows not written yet, oldest first.
        var pendingEvents: [SessionEvent] = []
        /// The session as the store last recorded it.
        var recorded: Session
        /// Writes the changes in order, one save at a time, while there are any.
        var writer: Task<Void, Never>?
        /// Those waiting for a change to be recorded: the change's number and how to wake them.
        var waiters: [Waiter] = []
        /// The host is launching the session's processes; a close waits for the launch to end,
        /// so that nothing it starts is left behind.
        var launching = false
        var launchWaiters: [CheckedContinuation<Void, Never>] = []

        init(session: Session, machine: SessionStateMachine, now: Date) {
            self.session = session
            self.machine = machine
            self.lastSnapshotAt = now
            self.recorded = session
        }

        /// What callers are told: a closing or closed state only once the store has it, so no
        /// one is told a session is closing (or closed) that a restarted server would find running.
        var reported: Session {
            guard [.closing, .closed].contains(self.session.state), self.recordedChanges < self.changes else { return self.session }
            var reported = self.session
            reported.machine = self.recorded.machine
            return reported
        }
    }

    public nonisolated let heartbeat: TimeInterval
    let configuration: Configuration
    let repositories: Repositories
    let host: any SessionHost
    let backups: WorkspaceBackups
    let accountFor: @Sendable (User) async throws -> UnixAccount?
    let now: @Sendable () -> Date
    let logger: Logger
    private var live: [Session.ID: Live] = [:]
    /// Set while a maintenance window of the sessions component is underway: new sessions are refused with it.
    private var maintenanceRefusal: CoreError?
    /// Set while an operator drains this node: no new session starts here.
    private var drainRefusal: CoreError?
    /// Sessions whose close is under way (queued or running), each in its own task: nobody who
    /// starts a close waits for it (the clock, the API, adoption, a maintenance drain).
    private var closing: [Session.ID: Task<Void, Never>] = [:]
    /// Closes running now, and those waiting for a slot (``Configuration/closeConcurrency``).
    private var closesRunning = 0
    private var closeQueue: [CheckedContinuation<Void, Never>] = []
    /// Starts under way per user that are not in `live` yet: counted against the user's session
    /// limit so that parallel starts cannot all pass the check (see `reserveStart`).
    private var startsUnderWay: [User.ID: Int] = [:]
    /// Raised when closing keeps failing; gone when the session finally closes.
    private var alerts: [Session.ID: SessionAlert] = [:] {
        didSet { self.alertGauge.record(self.alerts.count + self.livenessAlerts.count) }
    }
    /// Sessions whose liveness check has not returned yet: no second check is stacked on a hung one.
    private var checksInFlight: Set<Session.ID> = []
    /// Since when each session's liveness is unknown (a check failed or did not answer).
    private var unknownSince: [Session.ID: Date] = [:]
    /// Raised when a session's liveness stays unknown past `unknownAlertAfter`; gone once it is known.
    private var livenessAlerts: [Session.ID: SessionAlert] = [:] {
        didSet { self.alertGauge.record(self.alerts.count + self.livenessAlerts.count) }
    }
    private let alertGauge = Gauge(label: "holdfast_session_alerts")
    private let snapshotsYielded = Counter(label: "holdfast_background_snapshots_yielded_total")

    public init(
        configuration: Configuration,
        repositories: Repositories,
        host: any SessionHost,
        backups: WorkspaceBackups,
        accountFor: @escaping @Sendable (User) async throws -> UnixAccount?,
        now: @escaping @Sendable () -> Date,
        logger: Logger
    ) {
        self.configuration = configuration
        self.heartbeat = configuration.heartbeat
        self.repositories = repositories
        self.host = host
        self.backups = backups
        self.accountFor = accountFor
        self.now = now
        self.logger = logger
    }

    private var machineConfiguration: SessionStateMachine.Configuration {
        .init(heartbeat: self.configuration.heartbeat)
    }

    // MARK: SessionService

    public func start(kind: SessionKind, for user: User) async throws -> Session {
        if let maintenanceRefusal { throw maintenanceRefusal }
        if let drainRefusal { throw drainRefusal }
        guard let tenant = try await self.repositories.tenants.find(id: user.tenantID) else {
            throw CoreError.notFound("Your tenant no longer exists.")
        }
        // The user's session limit before anything slow: a refused start costs no restore. The
        // place is held from here until the session is in `live` (or the start failed).
        try self.reserveStart(for: user, limit: tenant.effectiveLimits.sessionsPerUser)
        var reserved = true
        defer { if reserved { self.releaseStart(for: user) } }
        // The workspace first: a restore from the backup store can take a while, and the session's
        // start deadline should not run during it (nor should a session exist whose files could
        // not be fetched).
        let (workspace, restored) = try await self.prepareWorkspace(tenant: tenant, user: user)
        let createdAt = self.now()
        let machine = SessionStateMachine(
            grace: TimeInterval(tenant.graceSeconds ?? Int(self.configuration.grace)), createdAt: createdAt,
            configuration: self.machineConfiguration
        )
        let session = Session(
            tenantID: tenant.id, userID: user.id, kind: kind, machine: machine.persistedState, node: self.configuration.node)
        try await self.repositories.sessions.create(session, events: restored.map { [$0] } ?? [])
        self.live[session.id] = Live(session: session, machine: machine, now: createdAt)
        self.live[session.id]?.launching = true
        self.releaseStart(for: user)
        reserved = false
        var logger = self.logger
        logger[metadataKey: "session.id"] = "\(session.id)"

        do {
            let account = try await self.accountFor(user)
            do {
                try await self.host.launch(
                    TerminalLaunch(
                        sessionID: session.id, kind: kind, workspace: workspace, account: account, network: tenant.effectiveNetwork,
                        limits: tenant.effectiveLimits))
            } catch {
                self.launchEnded(session.id)
                throw error
            }
            self.launchEnded(session.id)
            // A close asked for during the launch wins: the machine refuses `started` then.
            await self.apply(session.id) { machine, now in try machine.started(at: now) }
            await self.answerAfterSaving(session.id)
            logger.info("session started", metadata: ["user.id": "\(user.id)"])
        } catch {
            logger.error("session failed to start", metadata: ["error": "\(error)"])
            await self.apply(session.id) { machine, now in try machine.startFailed(error: "\(error)", at: now) }
            throw CoreError(
                .unavailable, code: "session_start_failed", message: "The session could not be started; the error is logged. Try again.")
        }
        return self.live[session.id]?.reported ?? session
    }

    /// Counts a start against the user's live sessions, or refuses it with the ones in the way.
    ///
    /// Synchronous inside the actor, and the place is taken before the next `await`: two starts
    /// at once cannot both see room for one more. Every session not yet closed counts (starting,
    /// connected, held, closing): each holds a sandbox, memory and processes on this host.
    private func reserveStart(for user: User, limit: Int) throws {
        let mine = self.live.values.filter { $0.session.userID == user.id && $0.machine.state != .closed }
            .sorted { $0.session.machine.createdAt < $1.session.machine.createdAt }
        let underWay = self.startsUnderWay[user.id, default: 0]
        guard mine.count + underWay >= limit else {
            self.startsUnderWay[user.id] = underWay + 1
            return
        }
        let count = mine.count + underWay
        var which = mine.map { String($0.session.id.description.prefix(8)) }
        if underWay > 0 { which.append("\(underWay) starting") }
        let sessions = count == 1 ? "1 live session" : "\(count) live sessions"
        let listed = which.isEmpty ? "" : " (\(which.joined(separator: ", ")))"
        throw CoreError.conflict(
            "session_limit",
            "You already have \(sessions)\(listed), the most your organisation allows; close one on the portal or wait for a "
                + "held one to expire.")
    }

    private func launchEnded(_ id: Session.ID) {
        guard let waiting = self.live[id]?.launchWaiters else { return }
        self.live[id]?.launching = false
        self.live[id]?.launchWaiters = []
        waiting.forEach { $0.resume() }
    }

    /// Waits until the host has finished (or failed) launching `id`; at once when it is not launching.
    private func launchFinished(_ id: Session.ID) async {
        guard self.live[id]?.launching == true else { return }
        await withCheckedContinuation { self.live[id]?.launchWaiters.append($0) }
    }

    private func releaseStart(for user: User) {
        let left = self.startsUnderWay[user.id, default: 1] - 1
        self.startsUnderWay[user.id] = left > 0 ? left : nil
    }

    public func sessions(of user: User, includeClosed: Bool) async throws -> [Session] {
        try await self.repositories.sessions.list(userID: user.id, includeClosed: includeClosed)
    }

    public func newestSessions(of user: User, limit: Int) async throws -> [Session] {
        try await self.repositories.sessions.newest(userID: user.id, limit: limit)
    }

    public func session(_ id: Session.ID, for user: User) async throws -> Session {
        let session = try await self.stored(id)
        try AccessPolicy.requireOversight(of: session, by: user)
        return session
    }

    public func events(_ id: Session.ID, for user: User) async throws -> [SessionEvent] {
        _ = try await self.session(id, for: user)
        return try await self.repositories.sessions.events(sessionID: id)
    }

    public func close(_ id: Session.ID, by user: User) async throws -> Session {
        let session = try await self.session(id, for: user)
        guard self.live[id] != nil else { return session }
        let reason: SessionCloseReason = session.userID == user.id ? .user : .admin
        await self.apply(id) { machine, now in machine.closeRequested(reason: reason, at: now) }
        await self.answerAfterSaving(id)
        return try await self.stored(id)
    }

    public func tenantSessions(_ tenant: Tenant, by user: User) async throws -> [Session] {
        try AccessPolicy.requireSessionAdministration(of: tenant, by: user)
        return try await self.repositories.sessions.listLive(tenantID: tenant.id).map { self.live[$0.id]?.reported ?? $0 }
    }

    public func usage(of sessions: [Session], by user: User) async throws -> [Session.ID: SessionUsage] {
        var usage: [Session.ID: SessionUsage] = [:]
        for session in sessions {
            try AccessPolicy.requireOversight(of: session, by: user)
            guard let entry = self.live[session.id], [.starting, .connected, .held].contains(entry.machine.state),
                entry.machine.startedAt != nil
            else { continue }
            usage[session.id] = await self.host.usage(session.id)
        }
        return usage
    }

    public func extend(_ id: Session.ID, by user: User, seconds: TimeInterval) async throws -> Session {
        let session = try await self.session(id, for: user)
        guard let tenant = try await self.repositories.tenants.find(id: session.tenantID) else {
            throw CoreError.notFound("There is no session \(id).")
        }
        try AccessPolicy.requireSessionAdministration(of: tenant, by: user)
        guard self.live[id] != nil else {
            throw CoreError(.conflict, code: "session_closed", message: "The session is closed; there is no deadline to extend.")
        }
        if let refusal = await self.apply(id, { machine, now in try machine.extend(by: seconds, at: now) }) {
            throw refusal
        }
        self.logger.info("session deadline extended", metadata: ["session.id": "\(id)", "by": "\(user.id)", "seconds": "\(seconds)"])
        await self.answerAfterSaving(id)
        return try await self.stored(id)
    }

    public func issueTicket(_ id: Session.ID, for user: User) async throws -> (ticket: String, expiresAt: Date) {
        let session = try await self.stored(id)
        try AccessPolicy.requireAttach(to: session, by: user)
        // A session another node runs gets its ticket here too (the attach is forwarded there).
        let runsElsewhere = session.node != nil && session.node != self.configuration.node && session.state != .closed
        guard self.live[id] != nil || runsElsewhere else {
            throw CoreError(.conflict, code: "session_closed", message: "The session is closed; start a new session.")
        }
        let ticket = Authenticator.newToken()
        let expiresAt = self.now().addingTimeInterval(self.configuration.ticketLifetime)
        try await self.repositories.sessions.createTicket(
            AttachTicket(digest: Authenticator.digest(of: ticket), sessionID: id, userID: user.id, expiresAt: expiresAt)
        )
        return (ticket, expiresAt)
    }

    public func redeemTicket(_ ticket: String, for id: Session.ID) async throws -> User {
        guard ticket.count <= 128,
            let redeemed = try await self.repositories.sessions.redeemTicket(digest: Authenticator.digest(of: ticket), now: self.now()),
            redeemed.sessionID == id, let user = try await self.repositories.users.find(id: redeemed.userID)
        else {
            throw CoreError(
                .unauthenticated, code: "invalid_ticket", message: "The attach ticket is unknown, used or expired; ask for a new one.")
        }
        return user
    }

    public func attach(
        _ id: Session.ID,
        user: User,
        columns: Int,
        rows: Int,
        disconnect: @escaping @Sendable () -> Void
    ) async throws -> TerminalAttachment {
        let session = try await self.stored(id)
        try AccessPolicy.requireAttach(to: session, by: user)
        let limit = try await self.repositories.tenants.find(id: session.tenantID)?.effectiveLimits.clientsPerSession
        // From here to the client's entry in `live` nothing awaits, so two attaches at once cannot
        // both take the last place; a refused client is never counted or recorded.
        guard let entry = self.live[id] else {
            throw CoreError(.conflict, code: "session_closed", message: "The session is closed; start a new session.")
        }
        if let limit, entry.clients.count >= limit {
            let attached = entry.clients.count == 1 ? "1 client" : "\(entry.clients.count) clients"
            throw CoreError.conflict(
                "client_limit",
                "This session already has \(attached) attached, the most your organisation allows; close the session in "
                    + "another tab or window (or detach a client) and try again.")
        }
        let client = SessionStateMachine.ClientID()
        // The machine accepts or refuses (an expired or closing session) first; then the PTY opens
        // while the attach is being recorded (by the session's writer), so a resume does not wait
        // for the store's write before it starts opening.
        let actions = try self.transition(id) { machine, now in try machine.attach(client, at: now) }
        self.live[id]?.clients[client] = disconnect
        await self.perform(actions, on: id)
        let connection: any TerminalConnection
        do {
            switch session.kind {
            case .terminal: connection = try await self.host.attachTerminal(id, columns: columns, rows: rows)
            case .desktop: connection = try await self.host.attachDesktop(id)
            }
        } catch {
            self.logger.error("attach failed", metadata: ["session.id": "\(id)", "error": "\(error)"])
            self.live[id]?.clients[client] = nil
            await self.apply(id) { machine, now in machine.clientDisconnected(client, at: now) }
            await self.checkProcesses(id)
            let what = session.kind == .desktop ? "desktop" : "terminal"
            throw CoreError(.unavailable, code: "attach_failed", message: "The \(what) could not be attached; try again.")
        }
        await self.answerAfterSaving(id)
        return TerminalAttachment(sessionID: id, clientID: client, connection: connection)
    }

    public func trafficReceived(_ attachment: TerminalAttachment, at time: Date) async {
        await self.apply(attachment.sessionID) { machine, _ in machine.trafficReceived(from: attachment.clientID, at: time) }
    }

    public func detached(_ attachment: TerminalAttachment, lastTrafficAt: Date) async {
        let id = attachment.sessionID
        self.live[id]?.clients[attachment.clientID] = nil
        await self.apply(id) { machine, now in
            machine.trafficReceived(from: attachment.clientID, at: lastTrafficAt) + machine.clientDisconnected(attachment.clientID, at: now)
        }
        await self.answerAfterSaving(id)
        // A shell that exited (the user typed `exit`) ends the attach too: close such a session at once.
        await self.checkProcesses(id)
    }

    // MARK: Time and processes

    /// Applies deadlines: silent clients, expiry, closing retries. Called every second.
    public func tick() async {
        for id in self.live.keys {
            await self.apply(id) { machine, now in machine.tick(now: now) }
        }
    }

    /// Closes sessions whose processes died (the shell exited, the host was cleaned). The checks
    /// run side by side, each bounded by `livenessTimeout`, so one that hangs delays no other.
    public func watchProcesses() async {
        // checkProcesses skips sessions that are closing or not launched yet.
        await withTaskGroup(of: Void.self) { group in
            for id in self.live.keys {
                group.addTask { await self.checkProcesses(id) }
            }
        }
    }

    /// Takes over what a previous server left: live sessions are adopted, dead ones closed,
    /// and processes that belong to no live session are ended.
    ///
    /// Returns once every session is adopted: the closes it starts, and the ending of processes
    /// no session owns, run in tasks of their own, so the server listens at once whatever the
    /// backup store is doing. A session whose liveness is unknown is adopted as running.
    ///
    /// With a node name, only this node's sessions are adopted (another node's are its own to
    /// keep), and sessions that record no node (started before there were nodes, on the one server
    /// there was) only when `includingUnassigned`: the caller's answer to "is this the only node?".
    /// An unassigned session adopted here is this node's from then on.
    public func adoptAll(includingUnassigned: Bool = true) async throws {
        let node = self.configuration.node
        let sessions = try await self.repositories.sessions.listLive().filter { session in
            guard self.live[session.id] == nil else { return false }
            guard let node else { return true }
            return session.node == node || (session.node == nil && includingUnassigned)
        }
        await self.adopt(sessions)
        let orphans = try await self.host.runningSessions().filter { self.live[$0] == nil }
        guard !orphans.isEmpty else { return }
        Task { [host, logger] in
            for id in orphans {
                logger.warning("ending processes of a session that is not live in the store", metadata: ["session.id": "\(id)"])
                do {
                    try await host.terminate(id)
                } catch {
                    logger.error("could not end an orphaned session's processes", metadata: ["session.id": "\(id)", "error": "\(error)"])
                }
            }
        }
    }

    /// Takes `sessions` (from the store) in hand: each one's liveness is checked, all at once, and
    /// its machine told what was found; a session recording another node (or none) is this node's
    /// from then on.
    private func adopt(_ sessions: [Session]) async {
        let node = self.configuration.node
        for var session in sessions {
            session.node = node ?? session.node
            self.live[session.id] = Live(
                session: session, machine: SessionStateMachine(restoring: session.machine, configuration: self.machineConfiguration),
                now: .distantPast)
        }
        let found = await withTaskGroup(of: (Session.ID, SessionLiveness).self) { group in
            for session in sessions {
                group.addTask { (session.id, await self.checkLiveness(session.id)) }
            }
            var found: [Session.ID: SessionLiveness] = [:]
            for await (id, liveness) in group { found[id] = liveness }
            return found
        }
        for session in sessions {
            let liveness = found[session.id] ?? .unknown(reason: "not checked")
            if case .unknown = liveness { self.noteUnknown(liveness, of: session.id) }
            await self.apply(session.id) { machine, now in try machine.adopt(processesAlive: !liveness.isDead, at: now) }
            self.logger.info("session adopted", metadata: ["session.id": "\(session.id)", "liveness": "\(liveness)"])
        }
    }

    public func alerts(visibleTo user: User) -> [SessionAlert] {
        let visible: [SessionAlert]
        switch user.role {
        case .operator: visible = Array(self.alerts.values) + Array(self.livenessAlerts.values)
        case .tenantAdmin:
            visible = (Array(self.alerts.values) + Array(self.livenessAlerts.values)).filter { $0.tenantID == user.tenantID }
        case .member, .agent: visible = []
        }
        return visible.sorted { $0.since < $1.since }
    }

    /// The sessions whose processes run (started, not closing): those whose limits the limit watch reads.
    public func runningSessions() -> [Session] {
        self.live.values.filter { [.starting, .connected, .held].contains($0.machine.state) && $0.machine.startedAt != nil }
            .map(\.session)
    }

    /// Puts a limit the session hit on its timeline (`limit`), so a killed process is on record
    /// and not a mystery in a bug report.
    public func recordLimitHit(_ hit: LimitHit, in id: Session.ID) async {
        self.logger.notice(
            "session hit a limit", metadata: ["session.id": "\(id)", "limit": "\(hit.limit.rawValue)", "detail": "\(hit.detail)"])
        await self.append(SessionEvent(at: self.now(), type: .limit, detail: hit.detail), to: id)
    }

    /// Sessions in memory, for the metrics and the tests.
    public var liveCount: Int { self.live.count }

    // MARK: Maintenance and usage

    /// Refuses new sessions with `refusal` while a maintenance window of the sessions component runs;
    /// `nil` lets them start again.
    public func setMaintenanceRefusal(_ refusal: CoreError?) {
        self.maintenanceRefusal = refusal
    }

    /// Refuses new sessions on this node while an operator drains it; the sessions it has run on.
    public func setDraining(_ draining: Bool) {
        guard draining != (self.drainRefusal != nil) else { return }
        self.drainRefusal =
            draining
            ? CoreError(
                .unavailable, code: "node_draining",
                message: "This server is being drained for maintenance and starts no new sessions; try again on another one.")
            : nil
        self.logger.notice(draining ? "node draining: new sessions refused" : "node no longer draining")
    }

    /// Closes every live session for maintenance through the normal closing path: the processes
    /// end, the workspace is snapshotted and verified, then the session closes. Returns how many.
    @discardableResult
    public func closeAllForMaintenance() async -> Int {
        let ids = self.live.keys.filter { self.closing[$0] == nil }
        for id in ids {
            await self.apply(id) { machine, now in machine.closeRequested(reason: .maintenance, at: now) }
        }
        if !ids.isEmpty { self.logger.notice("sessions closed for maintenance", metadata: ["sessions": "\(ids.count)"]) }
        return ids.count
    }

    // MARK: Carrying out actions

    /// Runs one event against a session's machine and carries out what it returns.
    /// - Returns: the refusal, when the machine refused the event (nothing changed then).
    @discardableResult
    private func apply(
        _ id: Session.ID,
        _ event: (inout SessionStateMachine, Date) throws -> [SessionStateMachine.Action]
    ) async -> CoreError? {
        do {
            let actions = try self.transition(id, event)
            await self.perform(actions, on: id)
            return nil
        } catch {
            return error as? CoreError ?? CoreError(.conflict, code: "refused", message: "\(error)")
        }
    }

    /// Moves the live session's machine and keeps the new state in memory; the caller performs the
    /// returned actions (which persist it). Throws the machine's refusals, which change nothing.
    private func transition(
        _ id: Session.ID,
        _ event: (inout SessionStateMachine, Date) throws -> [SessionStateMachine.Action]
    ) throws -> [SessionStateMachine.Action] {
        guard var entry = self.live[id] else { throw CoreError.notFound("There is no live session \(id).") }
        let actions = try event(&entry.machine, self.now())
        // Kept even when there is nothing to do: traffic that needs no write still moves a client's
        // last traffic (dropping that update once made idle clients look silent between writes).
        entry.session.machine = entry.machine.persistedState
        self.live[id] = entry
        return actions
    }

    private func perform(_ actions: [SessionStateMachine.Action], on id: Session.ID) async {
        var events: [SessionEvent] = []
        var save = false
        var closeFor: SessionCloseReason?
        for action in actions {
            switch action {
            case .recordEvent(let event):
                events.append(event)
            case .persist:
                save = true
            case .disconnectClient(let client):
                self.live[id]?.clients.removeValue(forKey: client)?()
            case .disconnectAll:
                self.live[id]?.clients.values.forEach { $0() }
                self.live[id]?.clients = [:]
            case .takeSnapshot:
                self.snapshotInBackground(id, reason: "on loss")
            case .beginClosing(let reason):
                closeFor = reason
            case .scheduleRetry:
                break  // tick() issues beginClosing again when it is due
            case .alertOperator(let message):
                self.logger.critical("\(message)", metadata: ["session.id": "\(id)"])
                if let session = self.live[id]?.session {
                    self.alerts[id] = SessionAlert(
                        sessionID: id, tenantID: session.tenantID, userID: session.userID, message: message, since: self.now())
                }
            }
        }
        if save || !events.isEmpty {
            self.queueSave(events, of: id)
        }
        if let reason = closeFor {
            self.startClosing(id, reason: reason)
        }
        self.forgetIfClosed(id)
    }

    /// A closed session leaves memory once the store has recorded it closed.
    private func forgetIfClosed(_ id: Session.ID) {
        guard let entry = self.live[id], entry.machine.state == .closed, entry.recordedChanges == entry.changes else { return }
        self.live[id] = nil
        self.alerts[id] = nil
        self.livenessAlerts[id] = nil
        self.unknownSince[id] = nil
        for waiter in entry.waiters { waiter.continuation.resume() }
        entry.launchWaiters.forEach { $0.resume() }
    }

    // MARK: Writing to the store

    /// Queues the session's current state, with `events`, for the store; returns at once.
    ///
    /// One writer per session saves its changes in order (compare and set on the revision), so
    /// two saves can never commit out of order; a failed save is retried with backoff until the
    /// store takes it, merged with whatever changed meanwhile, and no timeline row is dropped.
    private func queueSave(_ events: [SessionEvent], of id: Session.ID) {
        guard self.live[id] != nil else { return }
        self.live[id]?.changes += 1
        self.live[id]?.pendingEvents += events
        if self.live[id]?.writer == nil {
            self.live[id]?.writer = Task { await self.writeChanges(of: id) }
        }
    }

    private func writeChanges(of id: Session.ID) async {
        var failures = 0
        while let entry = self.live[id], entry.recordedChanges < entry.changes {
            let upTo = entry.changes
            let events = entry.pendingEvents
            var record = entry.session
            record.revision = entry.recorded.revision + 1
            do {
                try await self.repositories.sessions.save(record, events: events)
            } catch {
                failures += 1
                if case let error as CoreError = error, error.code == "session_changed" {
                    // The store may hold this very save: a connection lost after the commit and
                    // before its answer. Then it is done; anything else means someone else saved it.
                    let stored: Session?
                    do {
                        stored = try await self.repositories.sessions.find(id: id)
                    } catch {
                        try? await Task.sleep(
                            for: .seconds(min(0.05 * pow(2, Double(min(failures, 10))), self.configuration.writeRetryLimit)))
                        continue
                    }
                    if let stored, stored.revision == record.revision, stored.machine == record.machine {
                        self.logger.debug("a save whose answer was lost had committed", metadata: ["session.id": "\(id)"])
                        self.saved(record, upTo: upTo, events: events.count, of: id)
                        failures = 0
                        continue
                    }
                    // Someone else saved it: the store's record wins over this copy, never written
                    // over. Another node that found this node's lease lapsed (it lost the store for a
                    // while) marked it held: the record is still this node's, which adopts it again as
                    // after a restart (its clients reconnect). Anyone else (an operator's tool, a
                    // node that took it over): this server lets it go, processes and all.
                    self.letGo(id)
                    if let stored, let node = self.configuration.node, stored.node == node, stored.state != .closed {
                        self.logger.warning(
                            "a session was marked held while this node's lease had lapsed; adopting it again",
                            metadata: ["session.id": "\(id)", "stored revision": "\(stored.revision)"])
                        await self.adopt([stored])
                    } else if let stored, let node = self.configuration.node, stored.node == node {
                        // Closed meanwhile as "host lost" (this node was away for the whole grace):
                        // its processes end here; the workspace stays on disk.
                        self.logger.critical(
                            "a session of this node was closed while its lease had lapsed; ending its processes",
                            metadata: ["session.id": "\(id)", "close reason": "\(stored.machine.closeReason?.rawValue ?? "none")"])
                        Task { [host, logger] in
                            do { try await host.terminate(id) } catch {
                                logger.error(
                                    "could not end a lost session's processes", metadata: ["session.id": "\(id)", "error": "\(error)"])
                            }
                        }
                    } else {
                        self.logger.critical(
                            "a session was saved by someone else; this server lets it go",
                            metadata: ["session.id": "\(id)", "error": "\(error)", "stored revision": "\(stored?.revision ?? -1)"])
                    }
                    return
                } else if failures == 1 || failures % 20 == 0 {
                    self.logger.error(
                        "could not save the session; retrying",
                        metadata: ["session.id": "\(id)", "attempts": "\(failures)", "error": "\(error)"])
                }
                let backoff = min(0.05 * pow(2, Double(min(failures, 10))), self.configuration.writeRetryLimit)
                try? await Task.sleep(for: .seconds(backoff))
                continue
            }
            if failures > 0 {
                self.logger.notice(
                    "session saved after the store came back", metadata: ["session.id": "\(id)", "attempts": "\(failures + 1)"])
                failures = 0
            }
            self.saved(record, upTo: upTo, events: events.count, of: id)
        }
        self.live[id]?.writer = nil
        self.forgetIfClosed(id)
    }

    /// The store has `record`, with the first `events` pending timeline rows and the changes up to `upTo`.
    private func saved(_ record: Session, upTo: Int, events: Int, of id: Session.ID) {
        guard var saved = self.live[id] else { return }
        saved.recorded = record
        saved.session.revision = record.revision
        saved.recordedChanges = upTo
        saved.pendingEvents.removeFirst(events)
        let (due, waiting) = (saved.waiters.filter { $0.change <= upTo }, saved.waiters.filter { $0.change > upTo })
        saved.waiters = waiting
        self.live[id] = saved
        for waiter in due { waiter.continuation.resume() }
    }

    /// Drops a session this server no longer owns: its clients are disconnected, and whoever waits on it is woken.
    private func letGo(_ id: Session.ID) {
        guard let entry = self.live.removeValue(forKey: id) else { return }
        entry.clients.values.forEach { $0() }
        entry.waiters.forEach { $0.continuation.resume() }
        entry.launchWaiters.forEach { $0.resume() }
        self.alerts[id] = nil
        self.livenessAlerts[id] = nil
        self.unknownSince[id] = nil
    }

    /// Waits until the store has recorded every change of the session made so far (at once when
    /// it has, or when the session is no longer in memory), or for at most `limit`.
    private func recorded(_ id: Session.ID, within limit: Duration? = nil) async {
        guard let entry = self.live[id], entry.recordedChanges < entry.changes else { return }
        let waiter = UUID()
        await withCheckedContinuation { continuation in
            self.live[id]?.waiters.append(Waiter(id: waiter, change: entry.changes, continuation: continuation))
            if let limit {
                Task {
                    try? await Task.sleep(for: limit)
                    self.stopWaiting(waiter, for: id)
                }
            }
        }
    }

    private func stopWaiting(_ waiter: UUID, for id: Session.ID) {
        guard let index = self.live[id]?.waiters.firstIndex(where: { $0.id == waiter }) else { return }
        self.live[id]?.waiters.remove(at: index).continuation.resume()
    }

    /// An API call's answer waits for its change to be recorded, as long as the store answers
    /// promptly; in an outage it answers with what is recorded (``Live/reported``) and the
    /// writer carries on. The clock never waits.
    private func answerAfterSaving(_ id: Session.ID) async {
        await self.recorded(id, within: self.configuration.answerWaitsForStore)
    }

    /// The close itself: end the processes, then the final snapshot, verified; only then is the
    /// session closed. Ending the processes first means the snapshot holds everything they wrote.
    /// Any failure (the object store unreachable, say) leaves the session in `closing` with its
    /// workspace untouched, and the machine schedules a retry.
    private func finishClosing(_ id: Session.ID, reason: SessionCloseReason) async {
        guard let session = self.live[id]?.session else { return }
        do {
            try await self.host.terminate(id)
            // `nil`: a session that never got a workspace, or had an empty one and no snapshot
            // before, has nothing to keep (one the user emptied is recorded as an empty snapshot).
            if let summary = try await self.backups.snapshot(tenant: session.tenantID, user: session.userID, session: id) {
                await self.record(summary, reason: "final", for: id)
                // A snapshot without some files is not the verified copy a close needs: the workspace
                // stays, the close is retried (the files may be readable then), and an operator hears.
                guard summary.unreadable.isEmpty else {
                    throw CoreError(
                        .unavailable, code: "files_unreadable",
                        message: "the final snapshot could not read \(Self.listed(summary.unreadable))")
                }
            }
            await self.apply(id) { machine, now in try machine.closingSucceeded(at: now) }
            await self.recorded(id)
            self.logger.info("session closed", metadata: ["session.id": "\(id)", "reason": "\(reason.rawValue)"])
        } catch {
            self.logger.error("closing failed; will retry", metadata: ["session.id": "\(id)", "error": "\(error)"])
            await self.apply(id) { machine, now in try machine.closingFailed(error: "\(error)", at: now) }
        }
    }

    /// Starts the close of `id` in a task of its own and returns at once; a close already under
    /// way is left to finish. The task waits for a slot, so at most `closeConcurrency` run.
    private func startClosing(_ id: Session.ID, reason: SessionCloseReason) {
        guard self.closing[id] == nil, self.live[id] != nil else { return }
        self.closing[id] = Task {
            // Nothing ends before the store knows the session is closing: a server restarted
            // meanwhile must not find it running with its processes gone.
            await self.recorded(id)
            // A close asked for during the launch ends what the launch started, after it.
            await self.launchFinished(id)
            await self.acquireCloseSlot()
            await self.finishClosing(id, reason: reason)
            self.releaseCloseSlot()
            self.closing[id] = nil
        }
    }

    private func acquireCloseSlot() async {
        guard self.closesRunning >= max(1, self.configuration.closeConcurrency) else {
            self.closesRunning += 1
            return
        }
        // The slot is handed over by `releaseCloseSlot`, which keeps the count.
        await withCheckedContinuation { self.closeQueue.append($0) }
    }

    private func releaseCloseSlot() {
        if self.closeQueue.isEmpty {
            self.closesRunning -= 1
        } else {
            self.closeQueue.removeFirst().resume()
        }
    }

    /// Waits until no close and no write to the store is under way (for tests and a graceful shutdown).
    func closesSettled() async {
        while true {
            if let task = self.closing.values.first {
                await task.value
            } else if let writer = self.live.values.lazy.compactMap(\.writer).first {
                await writer.value
            } else {
                return
            }
        }
    }

    private func checkProcesses(_ id: Session.ID) async {
        guard let entry = self.live[id], [.starting, .connected, .held].contains(entry.machine.state), entry.machine.startedAt != nil else {
            return
        }
        let liveness = await self.checkLiveness(id)
        switch liveness {
        case .alive:
            self.noteKnown(id)
        case .dead(let evidence):
            self.noteKnown(id)
            // Still running by the time the answer came (not closed by someone else meanwhile)?
            guard let state = self.live[id]?.machine.state, [.starting, .connected, .held].contains(state) else { return }
            self.logger.notice("session's processes ended", metadata: ["session.id": "\(id)", "evidence": "\(evidence)"])
            await self.apply(id) { machine, now in machine.closeRequested(reason: .processesDied, at: now) }
        case .unknown:
            self.noteUnknown(liveness, of: id)
        }
    }

    /// Asks the host whether `id` runs, for at most `livenessTimeout`. The host's check runs
    /// detached (a check stuck in the kernel blocks a thread, never this actor); one that has not
    /// returned is not asked again, and counts as unknown until it does.
    private func checkLiveness(_ id: Session.ID) async -> SessionLiveness {
        guard !self.checksInFlight.contains(id) else {
            return .unknown(reason: "an earlier check has not answered yet")
        }
        self.checksInFlight.insert(id)
        let timeout = self.configuration.livenessTimeout
        let (answers, answer) = AsyncStream.makeStream(of: SessionLiveness.self)
        Task.detached { [host] in
            answer.yield(await host.liveness(id))
            answer.finish()
            await self.checkReturned(id)
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            answer.yield(.unknown(reason: "no answer within \(timeout)"))
            answer.finish()
        }
        defer { timer.cancel() }
        var first = answers.makeAsyncIterator()
        return await first.next() ?? .unknown(reason: "no answer")
    }

    private func checkReturned(_ id: Session.ID) {
        self.checksInFlight.remove(id)
    }

    /// The session's liveness is known again: whatever alert its unknown state raised is over.
    private func noteKnown(_ id: Session.ID) {
        if self.unknownSince.removeValue(forKey: id) != nil {
            self.logger.info("session's liveness is known again", metadata: ["session.id": "\(id)"])
        }
        self.livenessAlerts[id] = nil
    }

    /// Keeps the session as it is, and alerts an operator once it has been unknown for
    /// `unknownAlertAfter`: an unanswered check is a fault of the host, never the user's.
    private func noteUnknown(_ liveness: SessionLiveness, of id: Session.ID) {
        let now = self.now()
        let since = self.unknownSince[id] ?? now
        if self.unknownSince[id] == nil {
            self.unknownSince[id] = now
            self.logger.warning("could not tell whether a session runs", metadata: ["session.id": "\(id)", "liveness": "\(liveness)"])
        }
        guard self.livenessAlerts[id] == nil, now.timeIntervalSince(since) >= self.configuration.unknownAlertAfter,
            let session = self.live[id]?.session
        else { return }
        let message =
            "Could not tell for \(DurationText.format(seconds: Int(now.timeIntervalSince(since)))) whether session \(id)'s "
            + "processes run (\(liveness)); it is kept open. Check the host's load and /proc."
        self.logger.critical("\(message)", metadata: ["session.id": "\(id)"])
        self.livenessAlerts[id] = SessionAlert(
            sessionID: id, tenantID: session.tenantID, userID: session.userID, message: message, since: since)
    }

    private func stored(_ id: Session.ID) async throws -> Session {
        if let entry = self.live[id] {
            return entry.reported
        }
        guard let session = try await self.repositories.sessions.find(id: id) else {
            throw CoreError.notFound("There is no session \(id).")
        }
        return session
    }

    /// The user's workspace on this host (see `WorkspaceBackups.prepare`), with the `restored`
    /// event for the new session's timeline. A failed restore fails the start: a session on an
    /// empty workspace would look as if the user's files were gone.
    private func prepareWorkspace(tenant: Tenant, user: User) async throws -> (String, SessionEvent?) {
        let prepared = try await self.backups.prepare(tenant: tenant, user: user)
        var event = prepared.restored.map {
            SessionEvent(
                at: self.now(), type: .restored, detail: "workspace restored from snapshot \($0.shortID) of \($0.time.formatted(.iso8601))")
        }
        if let replaced = prepared.replaced {
            event = SessionEvent(
                at: self.now(), type: .restored,
                detail: "workspace replaced by the newer snapshot \(replaced.snapshot.shortID) of "
                    + "\(replaced.snapshot.time.formatted(.iso8601)); this host's older copy is kept in '\(replaced.keptAs)'")
        }
        return (prepared.path, event)
    }

    // MARK: Snapshots

    /// Snapshots sessions whose workspace changed since their last snapshot more than
    /// `snapshotInterval` ago. Called by the clock every few seconds.
    public func snapshotChangedWorkspaces() async {
        let now = self.now()
        for (id, entry) in self.live
        where [.connected, .held].contains(entry.machine.state) && !entry.snapshotting
            && now.timeIntervalSince(entry.lastSnapshotAt) >= self.configuration.snapshotInterval
        {
            guard await self.backups.hasChangedSinceLastSnapshot(tenant: entry.session.tenantID, user: entry.session.userID) else {
                self.live[id]?.lastSnapshotAt = now
                continue
            }
            self.snapshotInBackground(id, reason: "every \(DurationText.format(seconds: Int(self.configuration.snapshotInterval)))")
        }
    }

    /// Starts a snapshot of the session's workspace without holding up the caller; the result
    /// lands on the timeline. A failure is logged and retried at the next interval.
    ///
    /// These snapshots (on loss, every interval) yield to closes: while a close waits for its
    /// turn the backup store is the bottleneck, and they would hold up the final snapshots a
    /// close needs (the churn soak saw 220 sessions wait minutes in `closing` behind them). The
    /// interval one is tried again at the next tick; a lost client's workspace is snapshotted
    /// at its close anyway.
    private func snapshotInBackground(_ id: Session.ID, reason: String) {
        guard let entry = self.live[id], !entry.snapshotting else { return }
        guard self.closeQueue.isEmpty else {
            self.snapshotsYielded.increment()
            self.logger.debug("snapshot left out: closes are waiting", metadata: ["session.id": "\(id)", "reason": "\(reason)"])
            return
        }
        self.live[id]?.snapshotting = true
        self.live[id]?.lastSnapshotAt = self.now()
        let session = entry.session
        Task {
            do {
                if let summary = try await self.backups.snapshot(tenant: session.tenantID, user: session.userID, session: id) {
                    await self.record(summary, reason: reason, for: id)
                }
            } catch {
                self.logger.warning("snapshot failed", metadata: ["session.id": "\(id)", "reason": "\(reason)", "error": "\(error)"])
            }
            self.snapshotFinished(id)
        }
    }

    private func snapshotFinished(_ id: Session.ID) {
        self.live[id]?.snapshotting = false
    }

    private func record(_ summary: BackupSummary, reason: String, for id: Session.ID) async {
        var detail =
            "snapshot \(summary.snapshot.shortID) (\(reason)): \(summary.filesNew) new, \(summary.filesChanged) changed, "
            + "\(summary.filesUnmodified) unchanged files; \(ByteText.format(summary.bytesAdded)) added"
        if !summary.unreadable.isEmpty {
            detail += "; could not read \(Self.listed(summary.unreadable))"
        }
        await self.append(SessionEvent(at: self.now(), type: .snapshot, detail: detail), to: id)
    }

    /// "3 files: a, b, c", at most five named.
    static func listed(_ paths: [String]) -> String {
        let named = paths.prefix(5).joined(separator: ", ") + (paths.count > 5 ? ", …" : "")
        return (paths.count == 1 ? "1 file: " : "\(paths.count) files: ") + named
    }

    /// Adds a row to a live session's timeline (through its writer, after every earlier change).
    private func append(_ event: SessionEvent, to id: Session.ID) async {
        self.queueSave([event], of: id)
    }
}
