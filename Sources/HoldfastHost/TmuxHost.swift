import Foundation
import Glibc
import HoldfastCore
import Logging
import NIOCore
import NIOPosix

/// Runs terminal sessions as tmux servers in bubblewrap sandboxes that outlive the server process.
///
/// Each session is a detached `setsid bwrap … tmux -D` (its own session and process group, not
/// the server's) whose tmux socket sits in `sessionsDirectory/<id>/socket/`. The host keeps no
/// state of its own: everything it needs is on the disk, so a server restarted after `kill -9`
/// finds the sessions again with `runningSessions()` and attaches to them as if it had launched them.
public struct TmuxHost: SessionHost {
    public struct Configuration: Sendable {
        /// One folder per session id; created if missing. An absolute path.
        public var sessionsDirectory: String
        public var tmuxPath: String
        public var bwrapPath: String
        public var setsidPath: String
        /// Used to drop to the session's account inside the sandbox.
        public var setprivPath: String
        /// The login shell tmux starts in the session's window.
        public var shell: String
        /// How long a sandbox may take to answer on its socket before the launch fails.
        public var startTimeout: Duration
        /// How long one tmux command may take; a tmux that does not answer in time counts as dead.
        public var commandTimeout: Duration

        public init(
            sessionsDirectory: String,
            tmuxPath: String = "/usr/bin/tmux",
            bwrapPath: String = "/usr/bin/bwrap",
            setsidPath: String = "/usr/bin/setsid",
            setprivPath: String = "/usr/bin/setpriv",
            shell: String = "/bin/bash",
            startTimeout: Duration = .seconds(10),
            commandTimeout: Duration = .seconds(3)
        ) {
            self.sessionsDirectory = sessionsDirectory
            self.tmuxPath = tmuxPath
            self.bwrapPath = bwrapPath
            self.setsidPath = setsidPath
            self.setprivPath = setprivPath
            self.shell = shell
            self.startTimeout = startTimeout
            self.commandTimeout = commandTimeout
        }
    }

    public let configuration: Configuration
    private let logger: Logger
    private let eventLoopGroup: any EventLoopGroup

    /// - Parameter eventLoopGroup: reads and writes attached terminals; must be NIOPosix's.
    public init(
        configuration: Configuration, logger: Logger, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
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
        if await self.answers(directory) {
            throw HostError(
                code: "session_already_running",
                message: "session \(launch.sessionID) is already running on this host; attach to it instead of launching it"
            )
        }
        let configuration = self.tmuxConfiguration
        let shell = self.configuration.shell
        try await NIOThreadPool.singleton.runIfActive {
            try directory.prepare(tmuxConfiguration: configuration, identity: identity, shell: shell)
            try prepareWorkspace(launch.workspace, identity: identity)
        }
        let sandbox = Sandbox(
            bwrapPath: self.configuration.bwrapPath, setprivPath: self.configuration.setprivPath,
            tmuxPath: self.configuration.tmuxPath, shell: shell, directory: directory, workspace: launch.workspace,
            identity: identity
        )
        let leader = try self.startSandbox(sandbox, logger: logger)
        do {
            try await self.waitUntilAnswering(directory, leader: leader)
            try await self.tmux(
                directory,
                [
                    "new-session", "-d", "-s", "main", "-x", "\(launch.columns)", "-y", "\(launch.rows)", "-c", Sandbox.home,
                    ";", "set-option", "-g", "exit-empty", "on",
                ],
                doing: "creating the session's window"
            )
        } catch {
            logger.debug("launch failed; ending the sandbox", metadata: ["error": "\(error)"])
            try? await self.terminate(launch.sessionID)
            throw error
        }
        logger.debug("session launched", metadata: ["sandbox.pid": "\(leader.pid)"])
    }

    public func isAlive(_ id: Session.ID) async -> Bool {
        await self.answers(self.directory(id))
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
        return await withTaskGroup(of: Session.ID?.self) { group in
            for name in names {
                guard let id = Session.ID(name) else { continue }
                group.addTask { await self.isAlive(id) ? id : nil }
            }
            var running: [Session.ID] = []
            for await id in group {
                if let id { running.append(id) }
            }
            return running.sorted { $0.description < $1.description }
        }
    }

    public func attachTerminal(_ id: Session.ID, columns: Int, rows: Int) async throws -> any TerminalConnection {
        var logger = self.logger
        logger[metadataKey: "session.id"] = "\(id)"
        let directory = self.directory(id)
        // A look at /proc rather than a `tmux has-session` round trip, which cost a resume ~4 ms:
        // tmux is the sandbox's main process, so the sandbox lives as long as tmux does. Should
        // tmux be gone all the same, the client prints tmux's reason and exits, and the process
        // check closes the session.
        guard directory.hasSocket, let leader = directory.recordedSandboxPID(), isSandboxProcess(leader, of: directory) else {
            throw HostError.notRunning("attaching to session \(id)")
        }
        // The client runs outside the sandbox as the server's user; tmux admits root to any server.
        // `-u`: the browser's terminal speaks UTF-8 whatever the locale says.
        let client = self.tmuxCommand(directory, ["-u", "attach-session", "-t", "main"], clientTerminal: true)
        let connection = try await PseudoTerminalConnection.open(
            client: client, columns: columns, rows: rows,
            eventLoopGroup: self.eventLoopGroup, logger: logger
        )
        logger.debug("terminal attached")
        return connection
    }

    public func terminate(_ id: Session.ID) async throws {
        var logger = self.logger
        logger[metadataKey: "session.id"] = "\(id)"
        let directory = self.directory(id)
        var tmuxIsEnding = false
        if FileManager.default.fileExists(atPath: directory.socket) {
            // Lets tmux hang up the shells (SIGHUP) the way a closed terminal would.
            let result = try? await ProcessSpawner.run(self.tmuxCommand(directory, ["kill-server"]), timeout: .seconds(1))
            tmuxIsEnding = result?.status.isSuccess ?? false
        }
        // tmux's exit ends bwrap's outer process (the recorded leader) at once. Its inner process,
        // pid 1 of the sandbox, lives on while anything else does (a `nohup` job), and the kernel
        // kills the whole pid namespace only when that one dies: so whatever is left now gets SIGKILL.
        let leader = directory.recordedSandboxPID()
        if let leader, tmuxIsEnding {
            _ = await waitUntil(within: .seconds(2)) { !isSandboxProcess(leader, of: directory) }
        }
        let remaining = sandboxProcesses(of: directory)
        if !remaining.isEmpty {
            logger.debug("killing what is left of the sandbox", metadata: ["pids": "\(remaining)"])
            // The leader's process group holds both bwrap processes and the tmux server.
            if let leader, remaining.contains(leader) {
                _ = Glibc.kill(-leader, SIGKILL)
            }
            for pid in remaining {
                _ = Glibc.kill(pid, SIGKILL)
            }
            guard await waitUntil(within: .seconds(5), { sandboxProcesses(of: directory).isEmpty }) else {
                throw HostError(
                    code: "sandbox_survived",
                    message: "processes of session \(id) survived SIGKILL (\(sandboxProcesses(of: directory))); "
                        + "check the host for processes stuck in the kernel (state D)"
                )
            }
        }
        try await NIOThreadPool.singleton.runIfActive { try directory.remove() }
        logger.debug("session terminated")
    }

    // MARK: - Running tmux

    func directory(_ id: Session.ID) -> SessionDirectory {
        SessionDirectory(sessionsDirectory: self.configuration.sessionsDirectory, id: id)
    }

    /// A tmux client command against the session's socket.
    ///
    /// It runs in the socket's folder and names the socket relatively, so the path fits in a
    /// `sockaddr_un` however deep the sessions directory is. `-N` everywhere: should the sandboxed
    /// server be gone, a `new-session` must fail rather than start a new tmux server here, outside
    /// the sandbox, as root.
    ///
    /// - Parameter clientTerminal: whether the client draws on a terminal (attach), which needs to
    ///   know its type and character set.
    func tmuxCommand(_ directory: SessionDirectory, _ arguments: [String], clientTerminal: Bool = false) -> Command {
        var environment = ["PATH": Sandbox.path]
        if clientTerminal {
            environment["TERM"] = "xterm-256color"
            environment["LANG"] = "C.UTF-8"
        }
        return Command(
            self.configuration.tmuxPath, ["-N", "-S", SessionDirectory.socketName] + arguments, environment: environment,
            workingDirectory: directory.socketDirectory
        )
    }

    /// Runs a tmux command and fails with its output when it does not succeed.
    @discardableResult
    private func tmux(_ directory: SessionDirectory, _ arguments: [String], doing: String) async throws -> String {
        let result = try await self.run(self.tmuxCommand(directory, arguments))
        guard result.status.isSuccess else {
            throw HostError(
                code: "tmux_failed",
                message: "tmux failed while \(doing) (\(result.status)): \(result.output)"
                    + Self.quoted(log: directory.logTail())
            )
        }
        return result.output
    }

    private func run(_ command: Command) async throws -> CommandResult {
        try await ProcessSpawner.run(command, timeout: self.configuration.commandTimeout)
    }

    /// Whether the session's tmux server answers and still has its window.
    private func answers(_ directory: SessionDirectory) async -> Bool {
        guard directory.hasSocket else { return false }
        let result = try? await self.run(self.tmuxCommand(directory, ["has-session", "-t", "main"]))
        return result?.status.isSuccess ?? false
    }

    /// Starts `setsid bwrap …` detached from the server, its output going to the session's log.
    private func startSandbox(_ sandbox: Sandbox, logger: Logger) throws -> ChildProcess {
        let directory = sandbox.directory
        let log = Glibc.open(directory.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard log >= 0 else {
            throw HostError.systemCall("open", errno: errno, while: "creating \(directory.log)", hint: "check the disk and its permissions")
        }
        defer { Glibc.close(log) }
        // A spawned child is never a process-group leader, so setsid does not fork: the pid we get
        // is bwrap's, and it leads a new session and process group of its own.
        let command = Command(
            self.configuration.setsidPath, [sandbox.bwrapPath] + sandbox.bwrapArguments, environment: ["PATH": Sandbox.path]
        )
        logger.trace("starting sandbox", metadata: ["command": "\(command)"])
        let leader = try ProcessSpawner.spawn(command, standardOutput: log, standardError: log)
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

    /// Waits until the sandboxed tmux server answers on its socket, failing early if bwrap exits.
    private func waitUntilAnswering(_ directory: SessionDirectory, leader: ChildProcess) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: self.configuration.startTimeout)
        while clock.now < deadline {
            if let status = leader.exit.status {
                throw HostError(
                    code: "sandbox_did_not_start",
                    message: "the sandbox exited at once (\(status))" + Self.quoted(log: directory.logTail())
                        + ". Check that bubblewrap works on this host (bwrap --ro-bind / / true) and that the workspace exists"
                )
            }
            if FileManager.default.fileExists(atPath: directory.socket),
                let result = try? await self.run(self.tmuxCommand(directory, ["start-server"])), result.status.isSuccess
            {
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HostError(
            code: "sandbox_did_not_start",
            message: "the session's tmux server did not answer within \(self.configuration.startTimeout)"
                + Self.quoted(log: directory.logTail()) + "; check the host's load"
        )
    }

    /// What the sandbox printed, for an error message (the log is removed with the failed session).
    private static func quoted(log: String) -> String {
        log.isEmpty ? "" : "; the sandbox printed: \(log)"
    }
}

/// Makes the workspace exist and belong to the session's account, so that its shell can write to it.
///
/// A workspace its account does not own yet (new, or restored from a backup by root) is handed
/// over whole, links changed themselves and never followed. One the account already owns is left
/// alone below the top: walking a tree its owner may be changing while a session of theirs runs
/// is how a swapped-in symlink gets root to chown a file outside it.
private func prepareWorkspace(_ workspace: String, identity: SandboxIdentity) throws {
    try makeDirectory(workspace, mode: 0o700, createParents: true)
    guard identity.dropsPrivileges else { return }
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
