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

        public init() {}
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

        init(session: Session, machine: SessionStateMachine, now: Date) {
            self.session = session
            self.machine = machine
            self.lastSnapshotAt = now
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
        didSet { self.alertGauge.record(self.alerts.count) }
    }
    private let alertGauge = Gauge(label: "holdfast_session_alerts")

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
        guard kind == .terminal else {
            throw CoreError.invalidInput(
                "unsupported_kind", "Desktop sessions are not available on this server yet; start a terminal session.")
        }
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
        let session = Session(tenantID: tenant.id, userID: user.id, kind: kind, machine: machine.persistedState)
        try await self.repositories.sessions.create(session, events: restored.map { [$0] } ?? [])
        self.live[session.id] = Live(session: session, machine: machine, now: createdAt)
        self.releaseStart(for: user)
        reserved = false
        var logger = self.logger
        logger[metadataKey: "session.id"] = "\(session.id)"

        do {
            let account = try await self.accountFor(user)
            try await self.host.launch(
                TerminalLaunch(
                    sessionID: session.id, workspace: workspace, account: account, network: tenant.effectiveNetwork,
                    limits: tenant.effectiveLimits))
            await self.apply(session.id) { machine, now in try machine.started(at: now) }
            logger.info("session started", metadata: ["user.id": "\(user.id)"])
        } catch {
            logger.error("session failed to start", metadata: ["error": "\(error)"])
            await self.apply(session.id) { machine, now in try machine.startFailed(error: "\(error)", at: now) }
            throw CoreError(
                .unavailable, code: "session_start_failed", message: "The session could not be started; the error is logged. Try again.")
        }
        return self.live[session.id]?.session ?? session
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
        return try await self.stored(id)
    }

    public func tenantSessions(_ tenant: Tenant, by user: User) async throws -> [Session] {
        try AccessPolicy.requireSessionAdministration(of: tenant, by: user)
        return try await self.repositories.sessions.listLive(tenantID: tenant.id).map { self.live[$0.id]?.session ?? $0 }
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
        return try await self.stored(id)
    }

    public func issueTicket(_ id: Session.ID, for user: User) async throws -> (ticket: String, expiresAt: Date) {
        let session = try await self.stored(id)
        try AccessPolicy.requireAttach(to: session, by: user)
        guard self.live[id] != nil else {
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
        // while the attach is being recorded, so a resume does not wait for the store's write.
        let actions = try self.transition(id) { machine, now in try machine.attach(client, at: now) }
        self.live[id]?.clients[client] = disconnect
        async let recorded: Void = self.perform(actions, on: id)
        let connection: any TerminalConnection
        do {
            connection = try await self.host.attachTerminal(id, columns: columns, rows: rows)
        } catch {
            await recorded
            self.logger.error("attach failed", metadata: ["session.id": "\(id)", "error": "\(error)"])
            self.live[id]?.clients[client] = nil
            await self.apply(id) { machine, now in machine.clientDisconnected(client, at: now) }
            await self.checkProcesses(id)
            throw CoreError(.unavailable, code: "attach_failed", message: "The terminal could not be attached; try again.")
        }
        await recorded
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

    /// Closes sessions whose processes died (the shell exited, the host was cleaned).
    public func watchProcesses() async {
        // checkProcesses skips sessions that are closing or not launched yet.
        for id in self.live.keys {
            await self.checkProcesses(id)
        }
    }

    /// Takes over what a previous server left: live sessions are adopted, dead ones closed,
    /// and processes that belong to no live session are ended.
    public func adoptAll() async throws {
        for session in try await self.repositories.sessions.listLive() where self.live[session.id] == nil {
            self.live[session.id] = Live(
                session: session, machine: SessionStateMachine(restoring: session.machine, configuration: self.machineConfiguration),
                now: .distantPast)
            let alive = await self.host.isAlive(session.id)
            await self.apply(session.id) { machine, now in try machine.adopt(processesAlive: alive, at: now) }
            self.logger.info("session adopted", metadata: ["session.id": "\(session.id)", "alive": "\(alive)"])
        }
        for id in try await self.host.runningSessions() where self.live[id] == nil {
            self.logger.warning("ending processes of a session that is not live in the store", metadata: ["session.id": "\(id)"])
            try? await self.host.terminate(id)
        }
    }

    public func alerts(visibleTo user: User) -> [SessionAlert] {
        let visible: [SessionAlert]
        switch user.role {
        case .operator: visible = Array(self.alerts.values)
        case .tenantAdmin: visible = self.alerts.values.filter { $0.tenantID == user.tenantID }
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

    /// Live sessions per tenant (starting, connected or held; not those closing): the usage the
    /// quiet-window planner learns from.
    public func activeSessionsPerTenant() -> [Tenant.ID: Int] {
        var counts: [Tenant.ID: Int] = [:]
        for entry in self.live.values where [.starting, .connected, .held].contains(entry.machine.state) {
            counts[entry.session.tenantID, default: 0] += 1
        }
        return counts
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
        guard !actions.isEmpty else { return [] }
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
        if (save || !events.isEmpty), let session = self.live[id]?.session {
            do {
                try await self.repositories.sessions.save(session, events: events)
            } catch {
                self.logger.error("could not save the session", metadata: ["session.id": "\(id)", "error": "\(error)"])
            }
        }
        if let reason = closeFor {
            self.startClosing(id, reason: reason)
        }
        if self.live[id]?.machine.state == .closed {
            self.live[id] = nil
            self.alerts[id] = nil
        }
    }

    /// The close itself: end the processes, then the final snapshot, verified; only then is the
    /// session closed. Ending the processes first means the snapshot holds everything they wrote.
    /// Any failure (the object store unreachable, say) leaves the session in `closing` with its
    /// workspace untouched, and the machine schedules a retry.
    private func finishClosing(_ id: Session.ID, reason: SessionCloseReason) async {
        guard let session = self.live[id]?.session else { return }
        do {
            try await self.host.terminate(id)
            // `nil`: a session that never got a workspace, or left it empty, has nothing to keep.
            if let summary = try await self.backups.snapshot(tenant: session.tenantID, user: session.userID, session: id) {
                await self.record(summary, reason: "final", for: id)
            }
            await self.apply(id) { machine, now in try machine.closingSucceeded(at: now) }
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

    /// Waits until no close is under way (for tests and a graceful shutdown).
    func closesSettled() async {
        while let task = self.closing.values.first {
            await task.value
        }
    }

    private func checkProcesses(_ id: Session.ID) async {
        guard let entry = self.live[id], [.starting, .connected, .held].contains(entry.machine.state), entry.machine.startedAt != nil else {
            return
        }
        if !(await self.host.isAlive(id)) {
            await self.apply(id) { machine, now in machine.closeRequested(reason: .processesDied, at: now) }
        }
    }

    private func stored(_ id: Session.ID) async throws -> Session {
        if let entry = self.live[id] {
            return entry.session
        }
        guard let session = try await self.repositories.sessions.find(id: id) else {
            throw CoreError.notFound("There is no session \(id).")
        }
        return session
    }

    /// The user's workspace on this host, put back from the newest snapshot when the host has no
    /// copy (a new host, a cleaned disk), with the `restored` event for the new session's
    /// timeline. A failed restore fails the start: a session on an empty workspace would look as
    /// if the user's files were gone.
    private func prepareWorkspace(tenant: Tenant, user: User) async throws -> (String, SessionEvent?) {
        // The quota volume before the restore, so that what is restored lands in it (and counts).
        do {
            try await self.backups.ensureVolume(
                tenant: tenant.id, user: user.id, sizeGiB: tenant.effectiveLimits.diskGiB, owner: try await self.accountFor(user))
        } catch let error as HostError where error.code == "workspace_too_large" {
            throw CoreError(
                .conflict, code: "workspace_too_large",
                message: "Your files take more than your workspace quota of \(tenant.effectiveLimits.diskGiB) GiB; "
                    + "ask your administrator for a larger quota.")
        } catch {
            self.logger.error("could not mount a workspace volume", metadata: ["user.id": "\(user.id)", "error": "\(error)"])
            throw CoreError(
                .unavailable, code: "workspace_unavailable", message: "Your workspace could not be prepared on this host; try again.")
        }
        let (tenant, user) = (tenant.id, user.id)
        let path = self.backups.workspace(tenant: tenant, user: user)
        let snapshot: Snapshot?
        do {
            snapshot = try await self.backups.restoreIfMissing(tenant: tenant, user: user)
        } catch {
            self.logger.error("could not restore a workspace before a start", metadata: ["user.id": "\(user)", "error": "\(error)"])
            throw CoreError(
                .unavailable, code: "workspace_restore_failed",
                message:
                    "Your files could not be fetched from the backup store, so the session was not started; try again in a few minutes.")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            self.logger.error("could not create a workspace", metadata: ["path": "\(path)", "error": "\(error)"])
            throw CoreError(
                .unavailable, code: "workspace_unavailable", message: "Your workspace could not be prepared on this host; try again.")
        }
        let event = snapshot.map {
            SessionEvent(
                at: self.now(), type: .restored, detail: "workspace restored from snapshot \($0.shortID) of \($0.time.formatted(.iso8601))")
        }
        return (path, event)
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
    private func snapshotInBackground(_ id: Session.ID, reason: String) {
        guard let entry = self.live[id], !entry.snapshotting else { return }
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
        let detail =
            "snapshot \(summary.snapshot.shortID) (\(reason)): \(summary.filesNew) new, \(summary.filesChanged) changed, "
            + "\(summary.filesUnmodified) unchanged files; \(ByteText.format(summary.bytesAdded)) added"
        await self.append(SessionEvent(at: self.now(), type: .snapshot, detail: detail), to: id)
    }

    /// Adds a row to a live session's timeline.
    private func append(_ event: SessionEvent, to id: Session.ID) async {
        guard let session = self.live[id]?.session else { return }
        do {
            try await self.repositories.sessions.save(session, events: [event])
        } catch {
            self.logger.error("could not save the session's timeline", metadata: ["session.id": "\(id)", "error": "\(error)"])
        }
    }
}
