import Foundation
import Glibc

/// A program to run: its path, arguments, complete environment and working directory.
struct Command: Sendable, CustomStringConvertible {
    var executable: String
    var arguments: [String]
    /// The whole environment of the child: nothing of the server's own environment leaks through.
    var environment: [String: String]
    /// Where the child starts; `nil` keeps the server's.
    var workingDirectory: String?

    init(_ executable: String, _ arguments: [String], environment: [String: String], workingDirectory: String? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
    }

    var description: String { ([self.executable] + self.arguments).joined(separator: " ") }
}

/// A spawned child: its pid and its end, which the shared `ChildReaper` collects.
struct ChildProcess: Sendable {
    let pid: pid_t
    let exit: ProcessExit

    /// Sends `signal` unless the child has already been reaped (its pid may be reused by then).
    func kill(_ signal: Int32) {
        if self.exit.status == nil {
            _ = Glibc.kill(self.pid, signal)
        }
    }

    /// Waits up to `grace` for the child to end on its own, then kills it and waits for the reap.
    @discardableResult
    func end(grace: Duration) async -> ExitStatus? {
        if let status = await self.exit.wait(timeout: grace) { return status }
        self.kill(SIGKILL)
        return await self.exit.wait()
    }
}

/// What a short command printed and how it ended.
struct CommandResult: Sendable {
    var status: ExitStatus
    /// Standard output and standard error together, trimmed.
    var output: String
}

/// Starts child processes with `posix_spawn`, so that no child inherits what it should not.
///
/// Every child gets: only descriptors 0–2 (all others closed with `closefrom`, because NIO's pipe
/// channels `dup` the PTY master without `FD_CLOEXEC`, and a client that inherits another client's
/// master is never hung up); every signal at its default disposition (NIO ignores SIGPIPE, and an
/// ignored SIGPIPE would be inherited by the user's shell, breaking `yes | head`); an empty signal
/// mask; and the environment given, nothing more. `Foundation.Process` is avoided because its
/// `waitUntilExit` hangs after spawning a daemonising tmux (ARCHITECTURE §7).
enum ProcessSpawner {
    /// Spawns `command` and hands its pid to the shared reaper.
    ///
    /// - Parameters:
    ///   - standardInput, standardOutput, standardError: descriptors for the child's 0, 1 and 2;
    ///     `nil` connects `/dev/null`.
    ///   - controllingTerminal: the path of a terminal (a PTY slave) that becomes the child's 0, 1, 2
    ///     and its controlling terminal, in a session of its own (what `setsid --ctty` does, without
    ///     the extra exec); the standard descriptors must then be `nil`.
    ///   - extraDescriptors: descriptors the child gets as 3, 4, … in this order (a pipe for
    ///     `bwrap --info-fd`, `slirp4netns --ready-fd`); every other one is closed.
    static func spawn(
        _ command: Command, standardInput: Int32? = nil, standardOutput: Int32? = nil, standardError: Int32? = nil,
        controllingTerminal: String? = nil, extraDescriptors: [Int32] = []
    ) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        guard posix_spawn_file_actions_init(&actions) == 0 else {
            throw HostError.systemCall(
                "posix_spawn_file_actions_init", errno: errno, while: "starting \(command.executable)",
                hint: "the host is out of memory")
        }
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let controllingTerminal {
            precondition(standardInput == nil && standardOutput == nil && standardError == nil)
            // glibc runs setsid (POSIX_SPAWN_SETSID) before the file actions, so this open, the
            // session leader's first of a terminal, makes it the controlling one.
            posix_spawn_file_actions_addopen(&actions, 0, controllingTerminal, O_RDWR, 0)
            posix_spawn_file_actions_adddup2(&actions, 0, 1)
            posix_spawn_file_actions_adddup2(&actions, 0, 2)
        } else {
            for (target, source) in [(Int32(0), standardInput), (1, standardOutput), (2, standardError)] {
                if let source {
                    posix_spawn_file_actions_adddup2(&actions, source, target)
                } else {
                    posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
                }
            }
        }
        // Each extra descriptor is first copied above any target (3, 4, …), so that moving one into
        // place can never overwrite another still to be moved; the copies close themselves on exec.
        var staged: [Int32] = []
        defer {
            for descriptor in staged { Glibc.close(descriptor) }
        }
        for (offset, source) in extraDescriptors.enumerated() {
            let copy = fcntl(source, F_DUPFD_CLOEXEC, 3 + Int32(extraDescriptors.count))
            guard copy >= 0 else {
                throw HostError.systemCall(
                    "fcntl(F_DUPFD_CLOEXEC)", errno: errno, while: "passing descriptors to \(command.executable)",
                    hint: "the server may be out of file descriptors; raise its limit (ulimit -n)")
            }
            staged.append(copy)
            posix_spawn_file_actions_adddup2(&actions, copy, 3 + Int32(offset))
        }
        let firstClosed = 3 + Int32(extraDescriptors.count)
        guard let addCloseFrom = GNUFunctions.addCloseFrom, addCloseFrom(&actions, firstClosed) == 0 else {
            throw HostError(
                code: "spawn_unsupported",
                message: "this C library cannot close inherited descriptors in a child (posix_spawn_file_actions_addclosefrom_np); "
                    + "run the host on glibc 2.34 or later (Debian 12)"
            )
        }

        if let directory = command.workingDirectory {
            guard let addChangeDirectory = GNUFunctions.addChangeDirectory, addChangeDirectory(&actions, directory) == 0 else {
                throw HostError(
                    code: "spawn_unsupported",
                    message: "this C library cannot start a child in another directory (posix_spawn_file_actions_addchdir_np); "
                        + "run the host on glibc 2.29 or later (Debian 12)"
                )
            }
        }

        var attributes = posix_spawnattr_t()
        guard posix_spawnattr_init(&attributes) == 0 else {
            throw HostError.systemCall(
                "posix_spawnattr_init", errno: errno, while: "starting \(command.executable)",
                hint: "the host is out of memory")
        }
        defer { posix_spawnattr_destroy(&attributes) }
        var everySignal = sigset_t()
        sigfillset(&everySignal)
        posix_spawnattr_setsigdefault(&attributes, &everySignal)
        var noSignal = sigset_t()
        sigemptyset(&noSignal)
        posix_spawnattr_setsigmask(&attributes, &noSignal)
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        if controllingTerminal != nil { flags |= spawnNewSession }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = [command.executable] + command.arguments
        let envp = command.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let result = withCStringArray(argv) { argv in
            withCStringArray(envp) { envp in
                posix_spawn(&pid, command.executable, &actions, &attributes, argv, envp)
            }
        }
        guard result == 0 else {
            throw HostError(
                code: "spawn_failed",
                message: "could not start \(command.executable): \(errorText(result)) (errno \(result)); "
                    + "check that it is installed and executable, or set its path in the host configuration"
            )
        }
        return ChildProcess(pid: pid, exit: ChildReaper.shared.watch(pid))
    }

    /// Runs a short command to its end and returns what it printed.
    ///
    /// The output goes through a pipe that is read after the exit, so it must fit in the pipe
    /// (64 KiB); that holds for the tmux commands the host runs.
    ///
    /// - Throws: `HostError` `command_timed_out` when it runs longer than `timeout` (it is killed).
    static func run(_ command: Command, timeout: Duration) async throws -> CommandResult {
        var ends: [Int32] = [-1, -1]
        // Close-on-exec is set right after: only our own spawns, which close everything above 2, can
        // run in between.
        guard pipe(&ends) == 0 else {
            throw HostError.systemCall(
                "pipe2", errno: errno, while: "running \(command.executable)",
                hint: "the server may be out of file descriptors; raise its limit (ulimit -n)")
        }
        let (reader, writer) = (ends[0], ends[1])
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        defer { Glibc.close(reader) }
        let child: ChildProcess
        do {
            defer { Glibc.close(writer) }
            child = try self.spawn(command, standardOutput: writer, standardError: writer)
        }
        guard let status = await child.exit.wait(timeout: timeout) else {
            await child.end(grace: .zero)
            throw HostError(
                code: "command_timed_out",
                message: "\(command) did not finish within \(timeout) and was killed; the host may be overloaded"
            )
        }
        return CommandResult(status: status, output: readAvailable(reader))
    }

    /// Reads what is in a pipe now, without waiting for writers that may outlive the child.
    private static func readAvailable(_ descriptor: Int32) -> String {
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = Glibc.read(descriptor, &buffer, buffer.count)
            if count > 0 {
                bytes += buffer[0..<count]
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Calls `body` with a NULL-terminated C array of copies of `strings`, freed afterwards.
private func withCStringArray<Result>(
    _ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Result
) -> Result {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer {
        for pointer in pointers { free(pointer) }
    }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// glibc's `POSIX_SPAWN_SETSID` (`<spawn.h>`), which the Glibc module does not import.
private let spawnNewSession: Int32 = 0x80
