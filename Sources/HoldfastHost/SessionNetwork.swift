import Foundation
import Glibc
import HoldfastCore
import Logging

/// Gives a session's network namespace outbound internet through slirp4netns, behind `NetworkPolicy`.
///
/// A sandbox started with `bwrap --unshare-net` has a network namespace with loopback only, which
/// is all a session with `network: none` gets. For `internet`, `connect` attaches a slirp4netns to
/// that namespace: a user-mode TCP/IP stack on the host that re-makes each of the session's
/// connections from the host. Nothing routes the session's packets on the host (no bridge, no NAT,
/// no firewall rules to leak or forget), and the policy's `prohibit` routes inside the namespace
/// refuse the host's loopback, its own addresses and every non-public range before a packet leaves.
///
/// slirp4netns runs detached in a session of its own, like the sandbox, so it outlives the server;
/// its pid is kept in a file, so a restarted server can end it. It does *not* end on its own when
/// the sandbox does (it holds the namespace open): `disconnect` must be called when a session ends,
/// and for every dead session found at adoption.
public struct SessionNetwork: Sendable {
    public struct Configuration: Sendable {
        public var slirp4netnsPath: String
        public var nsenterPath: String
        public var ipPath: String
        public var setsidPath: String
        /// Feeds the policy's lines to `ip -batch`.
        public var shellPath: String
        /// Runs slirp4netns with `--enable-sandbox --enable-seccomp`: its own mount namespace, no
        /// capabilities but `CAP_NET_BIND_SERVICE`, and a syscall filter. It parses packets the
        /// session writes, so it is the first thing an attacker inside would aim at.
        public var confinesSlirp: Bool
        /// Networks refused besides `NetworkPolicy.refusedRanges` and the host's own addresses: a
        /// database or S3 endpoint on a public address.
        public var refused: [IPNetwork]
        /// Networks opened inside a refused range (an egress proxy on a private address).
        public var exceptions: [IPNetwork]
        /// How long slirp4netns may take to configure the namespace.
        public var startTimeout: Duration
        /// How long one `ip -batch` may take.
        public var commandTimeout: Duration

        public init(
            slirp4netnsPath: String = "/usr/bin/slirp4netns",
            nsenterPath: String = "/usr/bin/nsenter",
            ipPath: String = "/bin/ip",
            setsidPath: String = "/usr/bin/setsid",
            shellPath: String = "/bin/sh",
            confinesSlirp: Bool = true,
            refused: [IPNetwork] = [],
            exceptions: [IPNetwork] = [],
            startTimeout: Duration = .seconds(5),
            commandTimeout: Duration = .seconds(3)
        ) {
            self.slirp4netnsPath = slirp4netnsPath
            self.nsenterPath = nsenterPath
            self.ipPath = ipPath
            self.setsidPath = setsidPath
            self.shellPath = shellPath
            self.confinesSlirp = confinesSlirp
            self.refused = refused
            self.exceptions = exceptions
            self.startTimeout = startTimeout
            self.commandTimeout = commandTimeout
        }
    }

    /// The `/etc/resolv.conf` a sandbox with internet sees: slirp4netns's DNS forwarder, which
    /// passes port 53 on to the host's own resolver (the host's file may name a loopback or
    /// private resolver the session cannot reach).
    public static let resolvConf = "nameserver \(NetworkPolicy.UserModeNetwork.nameserver)\n"

    public let configuration: Configuration
    private let logger: Logger

    public init(configuration: Configuration = .init(), logger: Logger = Logger(label: "holdfast.host.network")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The host's own addresses (`getifaddrs`), those of loopback interfaces excluded.
    ///
    /// Read at each `connect`, so an address the host gained since the last session is refused
    /// for the next one.
    public static func hostAddresses() -> [IPAddress] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var addresses: Set<IPAddress> = []
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard entry.pointee.ifa_flags & UInt32(IFF_LOOPBACK) == 0, let socketAddress = entry.pointee.ifa_addr else { continue }
            switch Int32(socketAddress.pointee.sa_family) {
            case AF_INET:
                let value = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
                addresses.insert(IPAddress(ipv4: UInt32(bigEndian: value)))
            case AF_INET6:
                var raw = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                let value = withUnsafeBytes(of: &raw) { bytes in bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) } }
                addresses.insert(IPAddress(ipv6: value))
            default:
                continue
            }
        }
        return addresses.sorted()
    }

    /// The policy `connect` installs now: the configured ranges and the host's current addresses.
    ///
    /// - Throws: `HostError` `network_policy_invalid` when the configured exceptions are unsafe.
    public func policy() throws -> NetworkPolicy {
        do {
            return try NetworkPolicy(
                hostAddresses: Self.hostAddresses(), refused: self.configuration.refused, exceptions: self.configuration.exceptions,
                includesIPv6: FileManager.default.fileExists(atPath: "/proc/net/if_inet6")
            )
        } catch {
            throw HostError(
                code: "network_policy_invalid", message: "the session network's configuration is refused: \(error)", cause: error)
        }
    }

    /// Gives the network namespace of `namespacePID` an outbound connection to the internet.
    ///
    /// The refused ranges go into the bare namespace first, then slirp4netns starts and configures
    /// its interface (`--ready-fd` says when), then the routes that close slirp's own network go
    /// in. So a session never has a moment with more access than the policy allows: before
    /// slirp4netns it has no way out at all.
    ///
    /// - Parameters:
    ///   - namespacePID: a process inside the namespace, as the host sees it (the sandbox's).
    ///   - pidFile: where slirp4netns's pid and start time are recorded (mode 0600) for
    ///     `disconnect`, also from a later server; it must be in a folder the session's user cannot
    ///     write. slirp4netns's output goes beside it, `slirp.pid` → `slirp.log`, and is quoted in errors.
    /// - Throws: `HostError`; slirp4netns is ended and `pidFile` removed first, so a failed
    ///   connect leaves nothing running.
    public func connect(namespacePID: pid_t, pidFile: String) async throws {
        let logFile = Self.logFile(for: pidFile)
        let namespace = try self.namespacePath(of: namespacePID)
        let policy = try self.policy()
        try await self.install(policy.linesBeforeConnecting, in: namespace, step: "refusing the host's addresses and private ranges")
        let (slirp, ready) = try self.startSlirp(namespacePID: namespacePID, logFile: logFile)
        defer { Glibc.close(ready) }
        do {
            // Only a slirp4netns that already ended has no start time, and its ready pipe says why.
            let startTime = try? Self.startTime(of: slirp.pid)
            if let startTime {
                try writeFile(pidFile, "\(slirp.pid) \(startTime)\n", mode: 0o600)
            }
            try await self.waitUntilReady(slirp, ready: ready, logFile: logFile)
            guard startTime != nil else {
                throw HostError(
                    code: "network_did_not_start",
                    message: "slirp4netns (pid \(slirp.pid)) runs but /proc/\(slirp.pid)/stat is unreadable, so it could not be "
                        + "recorded for its end; mount /proc without hidepid for the server")
            }
            try await self.install(policy.linesAfterConnecting, in: namespace, step: "closing slirp's own network")
        } catch {
            await slirp.end(grace: .zero)
            try? removeIfPresent(pidFile)
            throw error
        }
        self.logger.debug("session network connected", metadata: ["namespace.pid": "\(namespacePID)", "slirp.pid": "\(slirp.pid)"])
    }

    /// Ends the slirp4netns recorded in `pidFile` and removes the file and the log beside it; does
    /// nothing more without them, so it is safe to call for any session, twice, or after a crash.
    ///
    /// The pid is only signalled while it is still that slirp4netns (its command and start time
    /// match the record): a pid reused by another process, another session's slirp4netns
    /// included, is never killed.
    public func disconnect(pidFile: String) async {
        let text = (try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? ""
        let fields = text.split(whereSeparator: \.isWhitespace)
        if fields.count == 2, let pid = pid_t(fields[0]), pid > 0, let startTime = UInt64(fields[1]) {
            await self.end(pid: pid, startTime: startTime)
        }
        try? removeIfPresent(pidFile)
        try? removeIfPresent(Self.logFile(for: pidFile))
    }

    /// slirp4netns's log beside its pid file: `slirp.pid` → `slirp.log`.
    static func logFile(for pidFile: String) -> String {
        (pidFile as NSString).deletingPathExtension + ".log"
    }

    // MARK: - Steps

    /// `/proc/PID/ns/net`, after checking that it is not the server's own namespace: the policy
    /// there would cut the host off its private networks.
    private func namespacePath(of pid: pid_t) throws -> String {
        let path = "/proc/\(pid)/ns/net"
        var target = stat()
        var own = stat()
        guard pid > 0, stat(path, &target) == 0 else {
            throw HostError(
                code: "network_namespace_missing",
                message: "process \(pid) does not exist (any more), so its network namespace cannot be connected; "
                    + "the sandbox ended before its network was set up, see its log")
        }
        guard stat("/proc/self/ns/net", &own) == 0, own.st_ino != target.st_ino || own.st_dev != target.st_dev else {
            throw HostError(
                code: "network_namespace_shared",
                message: "process \(pid) runs in the host's own network namespace; a session's network is only set up "
                    + "in a sandbox started with bwrap --unshare-net")
        }
        return path
    }

    /// Runs `ip -batch` with `lines` inside the namespace; the first failing line fails it all.
    private func install(_ lines: [String], in namespace: String, step: String) async throws {
        // sh feeds the lines to ip's standard input; they travel as arguments, so nothing is quoted.
        let script = #"printf '%s\n' "$@" | "$0" -batch -"#
        let command = Command(
            self.configuration.nsenterPath,
            ["--net=\(namespace)", "--", self.configuration.shellPath, "-c", script, self.configuration.ipPath] + lines,
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        )
        let result = try await ProcessSpawner.run(command, timeout: self.configuration.commandTimeout)
        guard result.status.isSuccess else {
            throw HostError(
                code: "network_policy_failed",
                message: "could not install the session's routes (\(step)): \(result.status): \(result.output). "
                    + "Check that iproute2 is installed at \(self.configuration.ipPath) and that the server runs as root; "
                    + "'File exists' means the namespace was connected already")
        }
    }

    /// Starts `setsid slirp4netns …` detached, with the write end of a pipe as its `--ready-fd`.
    ///
    /// - Returns: the child and the read end of the pipe (the caller closes it).
    private func startSlirp(namespacePID: pid_t, logFile: String) throws -> (ChildProcess, Int32) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw HostError.systemCall(
                "pipe", errno: errno, while: "starting slirp4netns", hint: "the server may be out of file descriptors; raise its limit")
        }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let (reader, writer) = (ends[0], ends[1])
        defer { Glibc.close(writer) }
        let log = Glibc.open(logFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard log >= 0 else {
            Glibc.close(reader)
            throw HostError.systemCall("open", errno: errno, while: "creating \(logFile)", hint: "check the disk and its permissions")
        }
        defer { Glibc.close(log) }
        let network = NetworkPolicy.UserModeNetwork.self
        var arguments = [
            self.configuration.slirp4netnsPath, "--configure", "--mtu=\(network.mtu)", "--disable-host-loopback", "--ready-fd=3",
        ]
        if self.configuration.confinesSlirp { arguments += ["--enable-sandbox", "--enable-seccomp"] }
        arguments += ["\(namespacePID)", network.interface]
        // A spawned child is never a process-group leader, so setsid does not fork: the pid is
        // slirp4netns's own, in a session of its own that the server's end does not touch.
        let command = Command(self.configuration.setsidPath, arguments, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        self.logger.trace("starting slirp4netns", metadata: ["command": "\(command)"])
        do {
            let child = try ProcessSpawner.spawn(command, standardOutput: log, standardError: log, extraDescriptors: [writer])
            return (child, reader)
        } catch {
            Glibc.close(reader)
            throw error
        }
    }

    /// Waits for slirp4netns's "1" on the ready pipe; an end of the pipe without it means it failed.
    private func waitUntilReady(_ slirp: ChildProcess, ready: Int32, logFile: String) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: self.configuration.startTimeout)
        while clock.now < deadline {
            var poller = pollfd(fd: ready, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 0) > 0 {
                var byte: UInt8 = 0
                if Glibc.read(ready, &byte, 1) == 1 && byte == UInt8(ascii: "1") { return }
                let status = await slirp.exit.wait(timeout: .seconds(1))
                throw HostError(
                    code: "network_did_not_start",
                    message: "slirp4netns ended before the session's network was up (\(status.map { "\($0)" } ?? "still running"))"
                        + Self.quoted(logFile: logFile)
                        + ". Check that \(self.configuration.slirp4netnsPath) runs on this host (slirp4netns --version) and that /dev/net/tun exists"
                )
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        throw HostError(
            code: "network_did_not_start",
            message: "slirp4netns did not configure the session's network within \(self.configuration.startTimeout)"
                + Self.quoted(logFile: logFile) + "; the host may be overloaded")
    }

    /// Ends `pid` if it is still the slirp4netns started at `startTime`: SIGTERM, then SIGKILL.
    private func end(pid: pid_t, startTime: UInt64) async {
        let name = (self.configuration.slirp4netnsPath as NSString).lastPathComponent
        let isOurs = { () -> Bool in
            guard (try? Self.startTime(of: pid)) == startTime, !Self.isZombie(pid) else { return false }
            let arguments = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            let program = arguments.split(separator: 0, omittingEmptySubsequences: false).first.map { String(decoding: $0, as: UTF8.self) }
            return program.map { ($0 as NSString).lastPathComponent } == name
        }
        for (signal, grace) in [(SIGTERM, Duration.milliseconds(500)), (SIGKILL, .seconds(2))] {
            guard isOurs() else { return }
            Glibc.kill(pid, signal)
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: grace)
            while clock.now < deadline {
                guard (try? Self.startTime(of: pid)) == startTime, !Self.isZombie(pid) else {
                    self.logger.debug("session network disconnected", metadata: ["slirp.pid": "\(pid)"])
                    return
                }
                try? await Task.sleep(for: .milliseconds(2))
            }
        }
        self.logger.debug("slirp4netns did not end", metadata: ["slirp.pid": "\(pid)"])
    }

    // MARK: - /proc

    /// The process's start time in clock ticks since boot (`/proc/PID/stat` field 22): with the
    /// pid, it names one process for the life of the host.
    static func startTime(of pid: pid_t) throws -> UInt64 {
        let fields = try Self.statFields(of: pid)
        // Fields after the command's ")": state is field 3, so starttime (22) is index 19.
        guard fields.count > 19, let startTime = UInt64(fields[19]) else {
            throw HostError(code: "proc_unreadable", message: "/proc/\(pid)/stat has no start time")
        }
        return startTime
    }

    private static func isZombie(_ pid: pid_t) -> Bool {
        (try? Self.statFields(of: pid).first) == "Z"
    }

    /// The fields of `/proc/PID/stat` after the command name (which may hold spaces and parentheses).
    private static func statFields(of pid: pid_t) throws -> [Substring] {
        let text = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        guard let close = text.lastIndex(of: ")") else {
            throw HostError(code: "proc_unreadable", message: "/proc/\(pid)/stat is not in the expected form")
        }
        return text[text.index(after: close)...].split(separator: " ")
    }

    private static func quoted(logFile: String) -> String {
        guard let data = FileManager.default.contents(atPath: logFile), !data.isEmpty else { return "" }
        let text = String(decoding: data.suffix(1_000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "" : "; it said: \(text)"
    }
}
