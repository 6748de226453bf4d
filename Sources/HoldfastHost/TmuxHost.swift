import Foundation
import Glibc
import HoldfastCore
import Logging
import NIOCore
import NIOPosix

/// Runs terminal sessions as tmux servers in bubblewrap sandboxes that outlive the server process.
///
/// Each session is a detached `holdfast-jail start → bwrap … tmux -D` (its own session and process
/// group, not the server's, in cgroups of its own) whose tmux socket sits in
/// `sessionsDirectory/<id>/socket/`. The host keeps no state of its own: everything it needs is on
/// the disk, so a server restarted after `kill -9` finds the sessions again with
/// `runningSessions()` and attaches to them as if it had launched them.
///
/// The server never talks to a session's tmux server: a tmux server can make its clients run
/// commands (`detach-client -E`), and it belongs to the session's user. Every client (attach,
/// `new-session`, `kill-server`) starts through `holdfast-jail enter`, which puts it inside the
/// sandbox — its namespaces, cgroups and seccomp filter — as the session's uid. Whether a session
/// lives is read from `/proc`, never asked of tmux.
public struct TmuxHost: SessionHost {
    public struct Configuration: Sendable {
        /// One folder per session id; created if missing. An absolute path.
        public var sessionsDirectory: String
        public var tmuxPath: String
        public var bwrapPath: String
        /// Starts the sandbox in its cgroups and every tmux client inside it (Sources/holdfast-jail).
        public var jailPath: String
        /// Used to drop to the session's account inside the sandbox.
        public var setprivPath: String
        /// The user-mode network stack for sessions with the internet.
        public var network: SessionNetwork.Configuration
        /// Where the cgroup hierarchies are mounted.
        public var cgroupRoot: String
        /// The login shell tmux starts in the session's window.
        public var shell: String
        /// How long a sandbox may take to answer on its socket before the launch fails.
        public var startTimeout: Duration
        /// How long one tmux command (creating the window, ending the server) may take.
        public var commandTimeout: Duration
        /// What a desktop session runs.
        public var desktop: DesktopProgram

        public init(
            sessionsDirectory: String,
            tmuxPath: String = "/usr/bin/tmux",
            bwrapPath: String = "/usr/bin/bwrap",
            jailPath: String = TmuxHost.defaultJailPath,
            setprivPath: String = "/usr/bin/setpriv",
            network: SessionNetwork.Configuration = .init(),
            cgroupRoot: String = "/sys/fs/cgroup",
            shell: String = "/bin/bash",
            startTimeout: Duration = .seconds(10),
            commandTimeout: Duration = .seconds(10),
            desktop: DesktopProgram = DesktopProgram()
        ) {
            self.sessionsDirectory = sessionsDirectory
            self.tmuxPath = tmuxPath
            self.bwrapPath = bwrapPath
            self.jailPath = jailPath
            self.setprivPath = setprivPath
            self.network = network
            self.cgroupRoot = cgroupRoot
            self.shell = shell
            self.startTimeout = startTimeout
            self.commandTimeout = commandTimeout
            self.desktop = desktop
        }
    }

    /// `holdfast-jail` beside the running executable, where `swift build` puts both.
    public static var defaultJailPath: String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return ((executable as NSString).deletingLastPathComponent as NSString).appendingPathComponent("holdfast-jail")
    }

    public let configuration: Configuration
    private let logger: Logger
    private let eventLoopGroup: any EventLoopGroup
    /// Where sessions' cgroups go; `nil` when neither cgroup v2 nor the v1 controllers are mounted,
    /// and then no session is launched (its limits could not hold).
    let cgroups: CgroupLayout?
    /// A client per session, set up ahead inside its sandbox, that the next attach wakes.
    let standbys = StandbyClients()

    /// - Parameter eventLoopGroup: reads and writes attached terminals; must be NIOPosix's.
    public init(
        configuration: Configuration, logger: Logger, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
        self.cgroups = CgroupLayout.detect(root: configuration.cgroupRoot)
    }

    /// The tmux configuration every session gets.
    ///
    /// `exit-empty` is not in it: the server is started with `-D` before any session exists, and
    /// with `exit-empty on` it would exit at once. `launch` turns it on right after creating the
    /// session, so the sandbox ends when the user's shell does.
    var tmuxConfiguration: String {
        """
        set -g status off
        set -g window-size latest
        set -g aggressive-resize on
        set -g default-terminal "xterm-256color"
        set -g default-shell "\(self.configuration.shell)"
        set -g history-limit 10000
        set -sg escape-time 0
        set -g update-environment ""
        # OSC 52 from programs (a vim or tmux yank) goes on to the browser, which asks the user
        # before it writes their clipboard; tmux answers a read from its own buffer only.
        set -s set-clipboard on

        """
    }

    // MARK: - SessionHost

    public func launch(_ launch: TerminalLaunch) async throws {
        var logger = self.logger
        logger[metadataKey: "session.id"] = "\(launch.sessionID)"
        let directory = self.directory(launch.sessionID)
        guard self.configuration.sessionsDirectory.hasPrefix("/") else {
            throw HostError(
                code: "sessions_directory_not_absolute",
                message: "the sessions directory \(self.configuration.sessionsDirectory) must be an absolute path"
            )
        }
        guard launch.workspace.hasPrefix("/") else {
            throw HostError(code: "workspace_not_absolute", message: "the workspace \(launch.workspace) must be an absolute path")
        }
        let identity = try SandboxIdentity.resolve(account: launch.account)
        guard let cgroups = self.cgroups else {
            throw HostError(
                code: "cgroups_unavailable",
                message: "no cgroup controllers for memory and pids under \(self.configuration.cgroupRoot), so a session's "
                    + "limits could not hold; mount cgroup v2 (or the v1 memory and pids controllers) there"
            )
        }
        if self.running(directory) != nil {
            throw HostError(
                code: "session_already_running",
                message: "session \(launch.sessionID) is already running on this host; attach to it instead of launching it"
            )
        }
        var phases = LaunchPhases()
        let configuration = self.tmuxConfiguration
        let shell = self.configuration.shell
        let program = try SeccompFilter.program()
        let resolvConf = launch.network == .internet ? SessionNetwork.resolvConf : "# this session has no network\n"
        let desktop = launch.kind == .desktop ? self.configuration.desktop.script(for: launch.sessionID) : nil
        try await NIOThreadPool.singleton.runIfActive {
            try directory.prepare(
                tmuxConfiguration: configuration, identity: identity, shell: shell, resolvConf: resolvConf, seccompProgram: program,
                desktopProgram: desktop)
            try prepareWorkspace(launch.workspace, identity: identity)
        }
        phases.end("files")
        let sandbox = Sandbox(
            bwrapPath: self.configuration.bwrapPath, setprivPath: self.configuration.setprivPath,
            tmuxPath: self.configuration.tmuxPath, shell: shell, directory: directory, workspace: launch.workspace,
            identity: identity, tmpMiB: launch.limits.tmpMiB, desktop: launch.kind == .desktop
        )
        let cgroup = SessionCgroup(layout: cgroups, sessionID: launch.sessionID)
        do {
            try cgroup.create(limits: launch.limits)
            phases.end("cgroups")
            let leader = try self.startSandbox(sandbox, cgroup: cgroup, logger: logger)
            let namespacePID = try await self.waitUntilSandboxed(directory, leader: leader)
            phases.end("sandbox")
            let running = try await self.waitUntilListening(directory, leader: leader, identity: identity)
            phases.end("tmux server")
            // The network is connected once bwrap has set the sandbox up (tmux listens, so bwrap's
            // own setup is over) and before the shell exists (`new-session` below), so nothing in
            // the session ever sees it unguarded. Not sooner: slirp4netns brings `lo` up, the
            // kernel then gives it 127.0.0.1, and a bwrap still setting up its loopback fails on
            // the address that already exists ("loopback: Failed RTM_NEWADDR"; 1 start in 200
            // under load, most starts of a fast release build right after another).
            try await self.connectNetwork(launch.network, namespacePID: namespacePID, directory: directory)
            phases.end("network")
            // A desktop's window runs its program instead of the shell; the shell is in its xterm.
            let program = launch.kind == .desktop ? ["/bin/sh", DesktopProgram.pathInSandbox] : []
            try await self.tmux(
                running,
                [
                    "new-session", "-d", "-s", "main", "-x", "\(launch.columns)", "-y", "\(launch.rows)", "-c", Sandbox.home,
                ] + program + [";", "set-option", "-g", "exit-empty", "on"],
                doing: "creating the session's window"
            )
            phases.end("window")
            if launch.kind == .desktop {
                try await self.waitUntilDesktopListens(running)
                phases.end("desktop")
            } else {
                self.standbys.prepare(launch.sessionID, command: self.attachCommand(running, standby: true))
            }
            logger.debug(
                "session launched",
                metadata: ["sandbox.pid": "\(leader.pid)", "network": "\(launch.network.rawValue)", "took": "\(phases)"])
        } catch {
            logger.debug("launch failed; ending the sandbox", metadata: ["error": "\(error)"])
            try? await self.terminate(launch.sessionID)
            throw error
        }
    }

    /// Whether the session's sandbox runs, read from `/proc`: tmux is the sandbox's main process, so
    /// the sandbox's leader lives exactly as long as the tmux server does.
    ///
    /// `dead` needs evidence: the session's folder or pid file is gone, or the recorded leader has
    /// exited (`pidfd_open` finds no such process, its pidfd polls readable, or its pid now runs
    /// another program). A read that fails for another reason (`EACCES`, `EMFILE`, `EIO`) is
    /// `unknown`, as is a leader whose inner process is not found (the sandbox starting or ending).
    public func liveness(_ id: Session.ID) async -> SessionLiveness {
        let directory = self.directory(id)
        let recorded: [UInt8]
        switch ProcessTable.read(directory.pidFile) {
        case .success(let bytes):
            recorded = bytes
        case .failure(let failure) where failure.isGone:
            let folderExists = FileManager.default.fileExists(atPath: directory.path)
            return .dead(evidence: folderExists ? "the sandbox's pid file is gone" : "the session's sandbox folder is gone")
        case .failure(let failure):
            return .unknown(reason: "could not read \(directory.pidFile): \(failure)")
        }
        let text = String(decoding: recorded, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let leader = pid_t(text), leader > 1 else {
            return .unknown(reason: "the sandbox's pid file holds \(text.debugDescription)")
        }
        // A pidfd pins the leader: what is read by pid below is this process's only while the
        // pidfd has not reported an exit afterwards.
        var pidfd: Int32 = -1
        if let openProcess = GNUFunctions.pidfdOpen {
            pidfd = openProcess(leader, 0)
            if pidfd < 0 {
                let failure = ProcessTable.ReadFailure(errno: errno)
                return failure.errno == ESRCH
                    ? .dead(evidence: "the sandbox's leader (pid \(leader)) has exited")
                    : .unknown(reason: "pidfd_open(\(leader)): \(failure)")
            }
        }
        defer { if pidfd >= 0 { close(pidfd) } }
        func exited() -> Bool {
            guard pidfd >= 0 else { return false }
            var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            return poll(&entry, 1, 0) == 1 && entry.revents & Int16(POLLIN) != 0
        }
        let children: [pid_t]
        switch (ProcessTable.read("/proc/\(leader)/cmdline"), ProcessTable.read("/proc/\(leader)/task/\(leader)/children")) {
        case (.failure(let failure), _) where failure.isGone, (_, .failure(let failure)) where failure.isGone:
            return .dead(evidence: "the sandbox's leader (pid \(leader)) has exited")
        case (.failure(let failure), _), (_, .failure(let failure)):
            return .unknown(reason: "could not read /proc/\(leader): \(failure)")
        case (.success(let arguments), .success(let list)):
            if exited() { return .dead(evidence: "the sandbox's leader (pid \(leader)) has exited") }
            let socketDirectory = Array(directory.socketDirectory.utf8)
            guard arguments.split(separator: 0).contains(where: { $0.elementsEqual(socketDirectory) }) else {
                // A zombie's command line is empty; a reused pid's is someone else's.
                return .dead(evidence: "the sandbox's leader (pid \(leader)) has exited")
            }
            children = String(decoding: list, as: UTF8.self).split(separator: " ")
                .compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        guard children.contains(where: { isSandboxProcess($0, of: directory) }) else {
            return .unknown(reason: "the sandbox's leader (pid \(leader)) runs without its inner process (starting or ending)")
        }
        return .alive
    }

    public func runningSessions() async throws -> [Session.ID] {
        guard FileManager.default.fileExists(atPath: self.configuration.sessionsDirectory) else { return [] }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: self.configuration.sessionsDirectory)
        } catch {
            throw HostError(
                code: "sessions_directory_unreadable",
                message: "could not list \(self.configuration.sessionsDirectory); check that it exists and the server may read it",
                cause: error
            )
        }
        return names.compactMap(Session.ID.init).filter { self.running(self.directory($0)) != nil }
            .sorted { $0.description < $1.description }
    }

    public func attachTerminal(_ id: Session.ID, columns: Int, rows: Int) async throws -> any TerminalConnection {
        var logger = self.logger
        logger[metadataKey: "session.id"] = "\(id)"
        let directory = self.directory(id)
        guard let running = self.running(directory) else {
            throw HostError.notRunning("attaching to session \(id)")
        }
        // The standby set up ahead when there is one (the usual case); a cold start otherwise
        // (the first attach after a server restart, or a standby that died).
        let cold = self.attachCommand(running, standby: false)
        let connection = try await PseudoTerminalConnection.open(
            columns: columns, rows: rows, eventLoopGroup: self.eventLoopGroup, logger: logger
        ) { slave in
            if let standby = self.standbys.start(id, terminal: slave) { return standby }
            return try ProcessSpawner.spawn(cold, controllingTerminal: try terminalName(slave))
        }
        self.standbys.prepare(id, command: self.attachCommand(running, standby: true))
        logger.debug("terminal attached")
        return connection
    }

    public func attachDesktop(_ id: Session.ID) async throws -> any TerminalConnection {
        var logger = self.logger
        logger[metadataKey: "session.id"] = "\(id)"
        let directory = self.directory(id)
        guard let running = self.running(directory) else {
            throw HostError.notRunning("attaching to desktop \(id)")
        }
        let descriptor = try self.connectDesktop(running)
        let connection = try DesktopConnection(descriptor: descriptor, eventLoopGroup: self.eventLoopGroup, logger: logger)
        logger.debug("desktop viewer attached")
        return connection
    }

    public func terminate(_ id: Session.ID) async throws {
        var logger = self.logger
        logger[metadataKey: "session.id"] = "\(id)"
        let directory = self.directory(id)
        self.standbys.discard(id)
        var tmuxIsEnding = false
        let running = self.running(directory)
        if let running {
            // Lets tmux hang up the shells (SIGHUP) the way a closed terminal would.
            let result = try? await ProcessSpawner.run(self.tmuxCommand(running, ["kill-server"]), timeout: .seconds(1))
            tmuxIsEnding = result?.status.isSuccess ?? false
        }
        // tmux's exit ends bwrap's outer process (the recorded leader) at once. Its inner process,
        // pid 1 of the sandbox, lives on while anything else does (a `nohup` job), and the kernel
        // kills the whole pid namespace only when that one dies: so whatever is left now gets SIGKILL.
        let leader = directory.recordedSandboxPID()
        if let leader, tmuxIsEnding {
            _ = await waitUntil(within: .seconds(2)) { !isSandboxProcess(leader, of: directory) }
        }
        let cgroup = self.cgroups.map { SessionCgroup(layout: $0, sessionID: id) }
        func remaining() -> [pid_t] { Array(Set(sandboxProcesses(of: directory) + (cgroup?.pids() ?? []))) }
        if !remaining().isEmpty {
            logger.debug("killing what is left of the sandbox", metadata: ["pids": "\(remaining())"])
            // The leader's process group holds both bwrap processes and the tmux server.
            if let leader, isSandboxProcess(leader, of: directory) {
                _ = Glibc.kill(-leader, SIGKILL)
            }
            for pid in sandboxProcesses(of: directory) {
                signalSandboxProcess(pid, SIGKILL, of: directory)
            }
            // What is left in the session's cgroups is the session's, whatever its command line.
            for pid in cgroup?.pids() ?? [] {
                _ = Glibc.kill(pid, SIGKILL)
            }
            guard await waitUntil(within: .seconds(5), { remaining().isEmpty }) else {
                throw HostError(
                    code: "sandbox_survived",
                    message: "processes of session \(id) survived SIGKILL (\(remaining())); "
                        + "check the host for processes stuck in the kernel (state D)"
                )
            }
        }
        await SessionNetwork(configuration: self.configuration.network).disconnect(pidFile: directory.slirpPIDFile)
        if let cgroup {
            do {
                try await cgroup.remove()
            } catch {
                logger.warning("could not remove a session's cgroup", metadata: ["error": "\(error)"])
            }
        }
        try await NIOThreadPool.singleton.runIfActive { try directory.remove() }
        logger.debug("session terminated")
    }

    public func usage(_ id: Session.ID) async -> SessionUsage? {
        guard let cgroups = self.cgroups, self.running(self.directory(id)) != nil else { return nil }
        return SessionCgroup(layout: cgroups, sessionID: id).usage()
    }

    // MARK: - Running tmux inside the sandbox

    func directory(_ id: Session.ID) -> SessionDirectory {
        SessionDirectory(sessionsDirectory: self.configuration.sessionsDirectory, id: id)
    }

    /// The session's sandbox as `/proc` shows it now, or `nil` when it is not running.
    ///
    /// The recorded leader must still be this sandbox's bwrap (its command line names the
    /// session's socket folder: a pid reused by a stranger does not), and its one child is the
    /// sandbox's pid 1, whose namespaces the clients join.
    func running(_ directory: SessionDirectory) -> RunningSandbox? {
        guard let leader = directory.recordedSandboxPID(), isSandboxProcess(leader, of: directory),
            let identity = directory.recordedIdentity(),
            let children = ProcessTable.text(of: "/proc/\(leader)/task/\(leader)/children"),
            let inner = children.split(separator: " ").compactMap({ pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
                .first(where: { isSandboxProcess($0, of: directory) })
        else { return nil }
        return RunningSandbox(directory: directory, leader: leader, namespacePID: inner, identity: identity)
    }

    /// A tmux client command against the session's server, run inside its sandbox as its user.
    ///
    /// `holdfast-jail enter` joins the sandbox's namespaces (so the socket path is the short one
    /// inside, `/run/holdfast/tmux.sock`, and a symlink put in its place can only lead somewhere
    /// in the sandbox), its cgroups (the client counts against the session's limits) and its
    /// seccomp filter, and drops to the session's uid with no capabilities and `no_new_privs`.
    /// `-N`: should the sandboxed server be gone, a `new-session` fails rather than starting one.
    ///
    /// - Parameter clientTerminal: whether the client draws on a terminal (attach), which needs to
    ///   know its type and character set.
    func tmuxCommand(
        _ running: RunningSandbox, _ arguments: [String], clientTerminal: Bool = false, standby: Bool = false
    ) -> Command {
        var environment = ["PATH": Sandbox.path, "HOME": Sandbox.home]
        if clientTerminal {
            environment["TERM"] = "xterm-256color"
            environment["LANG"] = "C.UTF-8"
        }
        var jail = [
            "enter", "--target", "\(running.namespacePID)", "--uid", "\(running.identity.uid)", "--gid",
            "\(running.identity.gid)", "--seccomp", running.directory.seccompProgram,
        ]
        if let cgroups = self.cgroups {
            for procs in SessionCgroup(layout: cgroups, sessionID: running.directory.id).procsFiles {
                jail += ["--cgroup", procs]
            }
        }
        if standby { jail.append("--standby") }
        jail += ["--", self.configuration.tmuxPath, "-N", "-S", Sandbox.socket]
        return Command(self.configuration.jailPath, jail + arguments, environment: environment)
    }

    /// The attach client; `-u`: the browser's terminal speaks UTF-8 whatever the locale says.
    func attachCommand(_ running: RunningSandbox, standby: Bool) -> Command {
        self.tmuxCommand(running, ["-u", "attach-session", "-t", "main"], clientTerminal: true, standby: standby)
    }

    /// Runs a tmux command in the sandbox and fails with its output when it does not succeed.
    @discardableResult
    private func tmux(_ running: RunningSandbox, _ arguments: [String], doing: String) async throws -> String {
        let result = try await ProcessSpawner.run(
            self.tmuxCommand(running, arguments), timeout: self.configuration.commandTimeout)
        guard result.status.isSuccess else {
            throw HostError(
                code: "tmux_failed",
                message: "tmux failed while \(doing) (\(result.status)): \(result.output)"
                    + Self.quoted(log: running.directory.logTail())
            )
        }
        return result.output
    }

    /// Starts `holdfast-jail start → bwrap …` detached from the server, in the session's cgroups,
    /// its output going to the session's log.
    private func startSandbox(_ sandbox: Sandbox, cgroup: SessionCgroup, logger: Logger) throws -> ChildProcess {
        let directory = sandbox.directory
        let log = Glibc.open(directory.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard log >= 0 else {
            throw HostError.systemCall("open", errno: errno, while: "creating \(directory.log)", hint: "check the disk and its permissions")
        }
        defer { Glibc.close(log) }
        let program = Glibc.open(directory.seccompProgram, O_RDONLY | O_CLOEXEC)
        guard program >= 0 else {
            throw HostError.systemCall(
                "open", errno: errno, while: "reading \(directory.seccompProgram)", hint: "check the disk and its permissions")
        }
        defer { Glibc.close(program) }
        // The jail joins the cgroups before it becomes bwrap, so nothing in the sandbox is ever
        // outside them; it calls setsid, so the sandbox leads a session and process group of its own.
        var jail = ["start"]
        for procs in cgroup.procsFiles {
            jail += ["--cgroup", procs]
        }
        let command = Command(
            self.configuration.jailPath, jail + ["--", sandbox.bwrapPath] + sandbox.bwrapArguments,
            environment: ["PATH": Sandbox.path]
        )
        logger.trace("starting sandbox", metadata: ["command": "\(command)"])
        let leader = try ProcessSpawner.spawn(command, standardOutput: log, standardError: log, extraDescriptors: [program])
        do {
            try directory.recordSandbox(pid: leader.pid)
        } catch {
            leader.kill(SIGKILL)
            throw error
        }
        // Only for the log: the reaper collects the sandbox whether or not anyone watches.
        leader.exit.onCompletion { [pid = leader.pid] status in
            logger.debug("sandbox exited", metadata: ["sandbox.pid": "\(pid)", "status": "\(status)"])
        }
        return leader
    }

    /// Waits until bwrap's inner process, the holder of the sandbox's namespaces, is there.
    private func waitUntilSandboxed(_ directory: SessionDirectory, leader: ChildProcess) async throws -> pid_t {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: self.configuration.startTimeout)
        while clock.now < deadline && leader.exit.status == nil {
            if let running = self.running(directory) { return running.namespacePID }
            try await Task.sleep(for: .milliseconds(1))
        }
        // Either bwrap exited or it is very slow: the wait for its socket says which, and why.
        return try await self.waitUntilListening(
            directory, leader: leader, identity: directory.recordedIdentity() ?? SandboxIdentity(uid: 0, gid: 0)
        ).namespacePID
    }

    private func connectNetwork(_ access: NetworkAccess, namespacePID: pid_t, directory: SessionDirectory) async throws {
        guard access == .internet else { return }
        try await SessionNetwork(configuration: self.configuration.network)
            .connect(namespacePID: namespacePID, pidFile: directory.slirpPIDFile)
    }

    /// Waits until the sandboxed tmux server listens on its socket, failing early if bwrap exits.
    ///
    /// The server connects to the socket itself only here, and as `SessionSocket` does it: without
    /// following links, and only to a peer that is the session's uid inside the session's sandbox.
    private func waitUntilListening(
        _ directory: SessionDirectory, leader: ChildProcess, identity: SandboxIdentity
    ) async throws -> RunningSandbox {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: self.configuration.startTimeout)
        var lastRefusal: HostError?
        while clock.now < deadline {
            if let status = leader.exit.status {
                throw HostError(
                    code: "sandbox_did_not_start",
                    message: "the sandbox exited at once (\(status))" + Self.quoted(log: directory.logTail())
                        + ". Check that bubblewrap works on this host (bwrap --ro-bind / / true) and that the workspace exists"
                )
            }
            if let running = self.running(directory), directory.hasSocket {
                do {
                    let descriptor = try SessionSocket.connect(
                        directory: directory.socketDirectory, name: SessionDirectory.socketName, uid: identity.uid,
                        namespacePID: running.namespacePID)
                    Glibc.close(descriptor)
                    return running
                } catch let error as HostError {
                    lastRefusal = error
                }
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw HostError(
            code: "sandbox_did_not_start",
            message: "the session's tmux server did not listen within \(self.configuration.startTimeout)"
                + (lastRefusal.map { " (\($0.message))" } ?? "") + Self.quoted(log: directory.logTail())
                + "; check the host's load"
        )
    }

    /// A connection to the desktop's Xvnc, made as `SessionSocket` makes every connection into a
    /// sandbox: no link followed, the listener the session's uid inside the session's sandbox.
    private func connectDesktop(_ running: RunningSandbox) throws -> Int32 {
        try SessionSocket.connect(
            directory: running.directory.socketDirectory, name: DesktopProgram.socketName, uid: running.identity.uid,
            namespacePID: running.namespacePID)
    }

    /// Waits until the desktop's Xvnc listens, failing early if its program or the sandbox ends.
    private func waitUntilDesktopListens(_ running: RunningSandbox) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: self.configuration.startTimeout)
        var lastRefusal: HostError?
        while clock.now < deadline {
            guard self.running(running.directory) != nil else { break }
            do {
                Glibc.close(try self.connectDesktop(running))
                return
            } catch let error as HostError {
                lastRefusal = error
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HostError(
            code: "desktop_did_not_start",
            message: "the session's desktop (Xvnc) did not listen within \(self.configuration.startTimeout)"
                + (lastRefusal.map { " (\($0.message))" } ?? "")
                + "; check that tigervnc-standalone-server, openbox and xterm are installed, and the host's load")
    }

    /// What the sandbox printed, for an error message (the log is removed with the failed session).
    private static func quoted(log: String) -> String {
        log.isEmpty ? "" : "; the sandbox printed: \(log)"
    }
}

/// A session's sandbox found running: whom its clients run as and whose namespaces they join.
struct RunningSandbox: Sendable {
    let directory: SessionDirectory
    /// `holdfast-jail start`, now bwrap's outer process, leader of the sandbox's process group.
    let leader: pid_t
    /// bwrap's inner process: pid 1 of the sandbox's namespaces, as the host numbers it.
    let namespacePID: pid_t
    let identity: SandboxIdentity
}

/// Makes the workspace exist and belong to the session's account, so that its shell can write to it.
///
/// A workspace its account does not own yet (new, or restored from a backup by root) is handed
/// over whole, links changed themselves and never followed. One the account already owns is left
/// alone below the top: walking a tree its owner may be changing while a session of theirs runs
/// is how a swapped-in symlink gets root to chown a file outside it.
private func prepareWorkspace(_ workspace: String, identity: SandboxIdentity) throws {
    try makeDirectory(workspace, mode: 0o700, createParents: true)
    var info = stat()
    guard lstat(workspace, &info) == 0 else {
        throw HostError.systemCall("lstat", errno: errno, while: "checking \(workspace)", hint: "check the workspace folder")
    }
    if info.st_uid == identity.uid && info.st_gid == identity.gid { return }
    try changeOwner(workspace, uid: identity.uid, gid: identity.gid)
    guard let entries = FileManager.default.enumerator(atPath: workspace) else { return }
    for case let relative as String in entries {
        try changeOwner(workspace + "/" + relative, uid: identity.uid, gid: identity.gid)
    }
}

/// The live bwrap processes of a session's sandbox: those with its socket folder (the source of a
/// bind) among their arguments. The tmux server and the shells live in the sandbox's pid namespace,
/// which the kernel empties before bwrap's inner process (its pid 1) can be reaped, so once these
/// are gone, everything is.
///
/// Matching the command line rather than trusting the pid file alone also guards against a pid
/// reused by a stranger after a reboot. A zombie has no command line and counts as gone.
private func sandboxProcesses(of directory: SessionDirectory) -> [pid_t] {
    ProcessTable.processes(withArgument: directory.socketDirectory)
}

private func isSandboxProcess(_ pid: pid_t, of directory: SessionDirectory) -> Bool {
    ProcessTable.arguments(of: pid)?.contains(directory.socketDirectory) ?? false
}

/// Signals one of the sandbox's processes through a pidfd taken before its command line is
/// checked, so the signal cannot reach a process that took over a reused pid in between.
private func signalSandboxProcess(_ pid: pid_t, _ signal: Int32, of directory: SessionDirectory) {
    guard let openProcess = GNUFunctions.pidfdOpen, let send = GNUFunctions.pidfdSendSignal else {
        if isSandboxProcess(pid, of: directory) { _ = Glibc.kill(pid, signal) }
        return
    }
    let descriptor = openProcess(pid, 0)
    guard descriptor >= 0 else { return }
    defer { Glibc.close(descriptor) }
    if isSandboxProcess(pid, of: directory) {
        _ = send(descriptor, signal, nil, 0)
    }
}

/// Polls `condition` every 20 ms until it holds (`true`) or `timeout` passes (`false`).
private func waitUntil(within timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while !condition() {
        if clock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return true
}

/// How long each step of a launch took, for the "session launched" debug line: where a slow
/// start went, on a host where nobody can attach a profiler.
struct LaunchPhases: CustomStringConvertible {
    private let clock = ContinuousClock()
    private var last: ContinuousClock.Instant
    private var steps: [(String, Duration)] = []

    init() { self.last = self.clock.now }

    /// Ends the step running since the previous call (or since the launch began).
    mutating func end(_ step: String) {
        let now = self.clock.now
        self.steps.append((step, now - self.last))
        self.last = now
    }

    var description: String {
        self.steps.map { step, duration in "\(step) \(String(format: "%.1f", duration / .milliseconds(1))) ms" }
            .joined(separator: ", ")
    }
}
