import Foundation
import Glibc
import HoldfastCore

/// The files of one session on the host: `SESSIONS/<id>/`, owned by the server, mode 0700.
///
/// ```
/// SESSIONS/<id>/
///   tmux.conf     the tmux server's configuration (bound read-only into the sandbox)
///   desktop       a desktop session's program (`DesktopProgram`, bound read-only)
///   passwd group  the sandbox's /etc/passwd and /etc/group (bound read-only)
///   resolv.conf   the sandbox's resolver: slirp4netns's, or none without a network
///   seccomp.bpf   the sandbox's seccomp program, for bwrap and for every client that enters
///   account       uid:gid the session runs as, for the clients a restarted server starts
///   sandbox.pid   pid of `holdfast-jail start` → bwrap, the leader of the sandbox's process group
///   slirp.pid     pid and start time of the session's slirp4netns, when it has the internet
///   slirp.log     what slirp4netns printed
///   sandbox.log   what bwrap and the tmux server printed, for launch errors
///   socket/       owned by the session's account; bound into the sandbox as /run/holdfast
///     tmux.sock
///     vnc.sock    a desktop's Xvnc
/// ```
///
/// Only `socket/` is writable by the session's user. The pid files stay outside it, because the
/// server kills by those pids: a user who could rewrite them could make the server kill anything.
/// Everything here is derived from the directory name, so a restarted server re-adopts a session
/// from the disk alone.
struct SessionDirectory: Sendable {
    let id: Session.ID
    let path: String

    init(sessionsDirectory: String, id: Session.ID) {
        self.id = id
        self.path = (sessionsDirectory as NSString).appendingPathComponent(id.description)
    }

    var socketDirectory: String { self.path + "/socket" }
    static let socketName = "tmux.sock"
    var socket: String { self.socketDirectory + "/" + Self.socketName }
    var hasSocket: Bool { FileManager.default.fileExists(atPath: self.socket) }
    var configuration: String { self.path + "/tmux.conf" }
    var desktopProgram: String { self.path + "/desktop" }
    var passwd: String { self.path + "/passwd" }
    var group: String { self.path + "/group" }
    var pidFile: String { self.path + "/sandbox.pid" }
    var log: String { self.path + "/sandbox.log" }
    var resolvConf: String { self.path + "/resolv.conf" }
    var seccompProgram: String { self.path + "/seccomp.bpf" }
    var accountFile: String { self.path + "/account" }
    var slirpPIDFile: String { self.path + "/slirp.pid" }

    /// Writes the session's files afresh, leaving no socket or pid of an earlier run behind.
    ///
    /// - Parameters:
    ///   - identity: who runs in the sandbox; `socket/` is given to that uid so its tmux server can
    ///     create the socket.
    ///   - desktopProgram: a desktop session's script; `nil` for a terminal.
    func prepare(
        tmuxConfiguration: String, identity: SandboxIdentity, shell: String, resolvConf: String, seccompProgram: [UInt8],
        desktopProgram: String? = nil
    ) throws {
        let parent = (self.path as NSString).deletingLastPathComponent
        try makeDirectory(parent, mode: 0o700, createParents: true)
        try makeDirectory(self.path, mode: 0o700, createParents: false)
        for stale in [self.socketDirectory, self.pidFile, self.log, self.desktopProgram] {
            try removeIfPresent(stale)
        }
        try makeDirectory(self.socketDirectory, mode: 0o700, createParents: false)
        try changeOwner(self.socketDirectory, uid: identity.uid, gid: identity.gid)
        try writeFile(self.configuration, tmuxConfiguration)
        try writeFile(self.passwd, identity.passwd(home: Sandbox.home, shell: shell))
        try writeFile(self.group, identity.group)
        try writeFile(self.resolvConf, resolvConf)
        try writeFile(self.accountFile, identity.recorded, mode: 0o600)
        if let desktopProgram {
            try writeFile(self.desktopProgram, desktopProgram, mode: 0o755)
        }
        do {
            try Data(seccompProgram).write(to: URL(fileURLWithPath: self.seccompProgram), options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: self.seccompProgram)
        } catch {
            throw HostError(code: "write_failed", message: "could not write \(self.seccompProgram); check the disk", cause: error)
        }
    }

    /// Who the session runs as, as recorded at launch.
    func recordedIdentity() -> SandboxIdentity? {
        guard let text = try? String(contentsOfFile: self.accountFile, encoding: .utf8) else { return nil }
        return SandboxIdentity(recorded: text)
    }

    /// Records the pid of the sandbox's leader so that a later server can end it.
    func recordSandbox(pid: pid_t) throws {
        try writeFile(self.pidFile, "\(pid)\n", mode: 0o600)
    }

    /// The recorded pid of the sandbox's leader, if any.
    func recordedSandboxPID() -> pid_t? {
        guard let text = try? String(contentsOfFile: self.pidFile, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The last lines bwrap and tmux printed, to quote in an error.
    func logTail(maximumBytes: Int = 2_000) -> String {
        guard let data = FileManager.default.contents(atPath: self.log), !data.isEmpty else { return "" }
        let text = String(decoding: data.suffix(maximumBytes), as: UTF8.self)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Removes everything the host created for the session; the workspace lives elsewhere and stays.
    ///
    /// `socket/` was writable by the user, so it is removed without following links in it.
    func remove() throws {
        for item in [
            self.socketDirectory, self.configuration, self.desktopProgram, self.passwd, self.group, self.pidFile, self.log, self.resolvConf,
            self.seccompProgram, self.accountFile, self.slirpPIDFile, SessionNetwork.logFile(for: self.slirpPIDFile),
        ] {
            try removeIfPresent(item)
        }
        if rmdir(self.path) != 0 && errno != ENOENT {
            throw HostError.systemCall(
                "rmdir", errno: errno, while: "removing \(self.path)",
                hint: "something else put files there; remove the folder by hand once the session is gone")
        }
    }
}

/// Creates a directory with exactly `mode` (not filtered by the umask); an existing one gets `mode` too.
func makeDirectory(_ path: String, mode: mode_t, createParents: Bool) throws {
    if createParents {
        let parent = (path as NSString).deletingLastPathComponent
        if parent != path && !FileManager.default.fileExists(atPath: parent) {
            try makeDirectory(parent, mode: 0o755, createParents: true)
        }
    }
    if mkdir(path, mode) != 0 {
        let code = errno
        guard code == EEXIST else {
            throw HostError.systemCall("mkdir", errno: code, while: "creating \(path)", hint: "check the permissions of its parent")
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw HostError(code: "not_a_directory", message: "\(path) exists and is not a directory; move it away")
        }
    }
    guard chmod(path, mode) == 0 else {
        throw HostError.systemCall("chmod", errno: errno, while: "setting the mode of \(path)", hint: "check who owns it")
    }
}

func changeOwner(_ path: String, uid: uid_t, gid: gid_t) throws {
    guard lchown(path, uid, gid) == 0 else {
        throw HostError.systemCall(
            "lchown", errno: errno, while: "giving \(path) to uid \(uid)",
            hint: "the server must run as root to run sessions as other accounts")
    }
}

/// Writes `text` to `path` through a temporary file, so a reader never sees half a file.
func writeFile(_ path: String, _ text: String, mode: Int = 0o644) throws {
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    } catch {
        throw HostError(code: "write_failed", message: "could not write \(path); check the disk and its permissions", cause: error)
    }
}

/// Removes a file or a directory tree; symbolic links are removed, not followed.
func removeIfPresent(_ path: String) throws {
    var info = stat()
    guard lstat(path, &info) == 0 else { return }
    do {
        try FileManager.default.removeItem(atPath: path)
    } catch {
        throw HostError(code: "remove_failed", message: "could not remove \(path); remove it by hand", cause: error)
    }
}
