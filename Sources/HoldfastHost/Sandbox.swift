import Foundation
import Glibc
import HoldfastCore

/// Who a session's processes are, as the host's kernel sees them.
struct SandboxIdentity: Sendable, Hashable {
    var uid: uid_t
    var gid: gid_t
    /// Picks the identity for a launch.
    ///
    /// A session always runs as an unprivileged account, and the server must be root: only root can
    /// become another uid, and only root can start the session's tmux clients inside its sandbox
    /// as that uid (`holdfast-jail enter`). A session running as the server's own user would hand
    /// it whatever the server may do; one that is uid 0 outside its sandbox is one kernel bug away
    /// from the host.
    static func resolve(account: UnixAccount?) throws -> SandboxIdentity {
        guard let account else {
            throw HostError(
                code: "account_required",
                message: "a session needs an unprivileged account to run as; start the server as root, "
                    + "which gives every user a uid of their own"
            )
        }
        guard account.uid != 0, account.gid != 0 else {
            throw HostError(
                code: "account_is_root",
                message: "a session may not run as uid 0 or gid 0; give it an unprivileged account (uid ≥ 1000)"
            )
        }
        guard geteuid() == 0 else {
            throw HostError(
                code: "account_requires_root",
                message: "running a session as uid \(account.uid) needs a server running as root; start the server as root"
            )
        }
        return SandboxIdentity(uid: account.uid, gid: account.gid)
    }

    /// The user's name inside the sandbox; the same for everyone, since nobody else is in there.
    var userName: String { "user" }

    /// The sandbox's `/etc/passwd`: the user, plus root and nobody so that files owned by them have names.
    func passwd(home: String, shell: String) -> String {
        [
            "root:x:0:0:root:/root:/usr/sbin/nologin",
            "user:x:\(self.uid):\(self.gid):Holdfast user:\(home):\(shell)",
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
        ].joined(separator: "\n") + "\n"
    }

    /// Written to the session's folder at launch, so that a restarted server starts the session's
    /// clients as the same account without asking the store.
    var recorded: String { "\(self.uid):\(self.gid)\n" }

    init(uid: uid_t, gid: gid_t) {
        self.uid = uid
        self.gid = gid
    }

    init?(recorded text: String) {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":")
        guard parts.count == 2, let uid = uid_t(parts[0]), let gid = gid_t(parts[1]), uid != 0, gid != 0 else { return nil }
        self.init(uid: uid, gid: gid)
    }

    /// The sandbox's `/etc/group`; `tty` names the group of the pseudo-terminals in `/dev/pts`.
    var group: String {
        var lines = ["root:x:0:", "tty:x:5:"]
        if self.gid != 0 && self.gid != 5 {
            lines.append("user:x:\(self.gid):")
        }
        lines.append("nogroup:x:65534:")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The bubblewrap command line that confines one session's tmux server and everything it starts.
///
/// The sandbox sees the system read-only, its own workspace as `$HOME`, its own size-capped
/// `/tmp`, a minimal `/etc`, and, of the host's data directory, only its own tmux socket folder,
/// as `/run/holdfast`. No other workspace, no other session, no `/etc/shadow`, not even the host's
/// paths. It has its own pid, IPC, UTS, cgroup and network namespaces (the network is loopback
/// only until `SessionNetwork` connects it), and a seccomp filter (`SeccompFilter`) refuses the
/// system calls a shell never needs.
///
/// Every tmux client of the session runs in here too, as the session's uid (`holdfast-jail
/// enter`): the server never talks to the tmux server itself.
struct Sandbox: Sendable {
    /// `$HOME` inside every sandbox, where the workspace is bound.
    static let home = "/home/user"
    static let hostname = "holdfast"
    /// `PATH` inside the sandbox and for its tmux clients (tmux hands a new session the `PATH` of
    /// the client that created it).
    static let path = "/usr/local/bin:/usr/bin:/bin"
    /// Where the session's socket folder appears inside the sandbox; `$TMUX` points there, so
    /// `tmux` typed in the session reaches its own server.
    static let socketDirectory = "/run/holdfast"
    static let socket = Self.socketDirectory + "/" + SessionDirectory.socketName
    static let configuration = "/etc/tmux.conf"
    /// The descriptor on which bwrap reads the seccomp program (`--seccomp 3`).
    static let seccompDescriptor: Int32 = 3
    /// What a login shell, a resolver and TLS need from `/etc`; bound read-only when present.
    /// `resolv.conf` is the session's own (its network's resolver, or none).
    static let etcEntries = [
        "X11", "alternatives", "bash.bashrc", "bash_completion", "bash_completion.d", "ca-certificates.conf", "environment",
        "fonts", "gai.conf", "host.conf", "hosts", "inputrc", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "locale.alias",
        "localtime", "mime.types", "nsswitch.conf", "profile", "profile.d", "protocols", "services",
        "ssl", "terminfo", "timezone", "vim", "xdg",
    ]
    /// Top-level folders taken from the host; on a merged-/usr system the last four are symlinks.
    static let systemDirectories = ["/usr", "/bin", "/lib", "/lib64", "/sbin"]

    var bwrapPath: String
    var setprivPath: String
    var tmuxPath: String
    var shell: String
    var directory: SessionDirectory
    var workspace: String
    var identity: SandboxIdentity
    /// The size of the private `/tmp`.
    var tmpMiB: Int
    /// Whether the sandbox runs a desktop (`DesktopProgram`) rather than a shell.
    var desktop = false

    /// The environment inside the sandbox; bwrap clears everything else (`--clearenv`).
    var environment: [(String, String)] {
        [
            ("HOME", Self.home),
            ("USER", self.identity.userName),
            ("LOGNAME", self.identity.userName),
            ("SHELL", self.shell),
            ("TERM", "xterm-256color"),
            ("PATH", Self.path),
            ("LANG", "C.UTF-8"),
            ("HOLDFAST_SESSION", self.directory.id.description),
        ]
    }

    /// `bwrap …` up to and including the tmux server it runs; see the flags' comments for why each is there.
    var bwrapArguments: [String] {
        var arguments: [String] = [
            // Own pid namespace: the session sees only its own processes, and killing bwrap's inner
            // process (the namespace's pid 1) kills everything in it at once, jobs that ignored
            // SIGHUP included: that is how `terminate` leaves nothing behind.
            "--unshare-pid",
            // Own System V IPC, host name and cgroup view; own network (loopback only, until
            // SessionNetwork gives it a user-mode stack): the host's ports are not there.
            "--unshare-ipc", "--unshare-uts", "--hostname", Self.hostname, "--unshare-net", "--unshare-cgroup",
            // No capabilities, except the three setpriv needs to become the account and then drop
            // even the bounding set; after the uid change the kernel clears them all.
            "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
            // The filter applies to everything the sandbox runs; setpriv's calls are allowed.
            "--seccomp", "\(Self.seccompDescriptor)",
        ]
        arguments += self.systemArguments()
        // A private /tmp that everyone may write, with the sticky bit, and a size: a full /tmp
        // costs the session its own memory, not the host's.
        arguments += ["--proc", "/proc", "--dev", "/dev"]
        arguments += ["--perms", "1777", "--size", "\(self.tmpMiB * 1_048_576)", "--tmpfs", "/tmp"]
        if self.desktop {
            // X's socket folder, made by root as X expects (a user-made one draws a warning).
            arguments += ["--perms", "1777", "--dir", "/tmp/.X11-unix"]
        }
        // bwrap creates missing parent folders with mode 0700, which a dropped uid cannot enter.
        arguments += ["--perms", "0755", "--dir", "/etc"]
        for entry in Self.etcEntries {
            arguments += ["--ro-bind-try", "/etc/\(entry)", "/etc/\(entry)"]
        }
        arguments += ["--ro-bind", self.directory.passwd, "/etc/passwd", "--ro-bind", self.directory.group, "/etc/group"]
        arguments += ["--ro-bind", self.directory.resolvConf, "/etc/resolv.conf"]
        if self.desktop {
            arguments += ["--ro-bind", self.directory.desktopProgram, DesktopProgram.pathInSandbox]
        }
        arguments += ["--perms", "0755", "--dir", "/home", "--bind", self.workspace, Self.home]
        arguments += ["--perms", "0755", "--dir", "/run", "--bind", self.directory.socketDirectory, Self.socketDirectory]
        arguments += ["--ro-bind", self.directory.configuration, Self.configuration]
        // `/`, not the home: bwrap changes directory as root without capabilities, which may not
        // enter the account's 0700 workspace. The shell starts in the home (`new-session -c`).
        arguments += ["--chdir", "/", "--clearenv"]
        for (name, value) in self.environment {
            arguments += ["--setenv", name, value]
        }
        arguments.append("--")
        arguments += [
            self.setprivPath, "--reuid=\(self.identity.uid)", "--regid=\(self.identity.gid)", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--",
        ]
        // The tmux server in the foreground as the sandbox's main process; `-D` takes no command.
        arguments += [self.tmuxPath, "-S", Self.socket, "-f", Self.configuration, "-D"]
        return arguments
    }

    /// `/usr` read-only, and `/bin`, `/lib`, … as the symlinks or folders they are on this host.
    private func systemArguments() -> [String] {
        var arguments: [String] = []
        for directory in Self.systemDirectories {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: directory) {
                arguments += ["--symlink", target, directory]
            } else {
                // Without /usr nothing runs: fail loudly. The others may be missing (no /lib64).
                arguments += [directory == "/usr" ? "--ro-bind" : "--ro-bind-try", directory, directory]
            }
        }
        return arguments
    }
}
