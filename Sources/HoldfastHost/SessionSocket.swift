import Glibc

/// Connects the server to a Unix socket that a session's own processes created (its tmux server,
/// later its Xvnc), without trusting anything the session's user could have put in the way.
///
/// The socket's folder is writable by the session's user, who may swap the socket for a symlink
/// to another session's socket (or anything else). So the socket is opened without following
/// links (`O_PATH | O_NOFOLLOW` below the folder, itself opened `O_NOFOLLOW`), connected through
/// that very inode (`/proc/self/fd/N`, which also keeps the path far inside `sockaddr_un`'s 108
/// bytes), and the peer is checked with `SO_PEERCRED`: the session's uid, and a process inside the
/// session's own pid namespace. A socket that fails any check is closed and refused.
enum SessionSocket {
    /// Returns a connected descriptor (close-on-exec, non-blocking), which the caller owns.
    ///
    /// The connect does not wait: a listener that stopped accepting (its backlog full, the
    /// session's program stopped) is refused at once rather than holding the server's thread.
    ///
    /// - Parameters:
    ///   - directory: the socket's folder on the host.
    ///   - name: the socket's name in it, a single path component.
    ///   - uid: the session's uid; the listening process must run as it.
    ///   - namespacePID: a process in the session's sandbox (its pid 1, seen from the host); the
    ///     listening process must be in the same pid namespace.
    static func connect(directory: String, name: String, uid: uid_t, namespacePID: pid_t) throws -> Int32 {
        precondition(!name.contains("/"), "a socket name is one path component")
        let folder = open(directory, openPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard folder >= 0 else { throw refused("its folder \(directory) cannot be opened (\(errorText(errno)))") }
        defer { close(folder) }
        let node = openat(folder, name, openPath | O_NOFOLLOW | O_CLOEXEC)
        guard node >= 0 else { throw refused("\(directory)/\(name) cannot be opened (\(errorText(errno)))") }
        defer { close(node) }
        var info = stat()
        guard fstat(node, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw refused("\(directory)/\(name) is not a socket (a link or a file put in its place)")
        }
        guard info.st_uid == uid else {
            throw refused("\(directory)/\(name) belongs to uid \(info.st_uid), not the session's \(uid)")
        }

        let descriptor = socket(
            AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else {
            throw HostError.systemCall(
                "socket", errno: errno, while: "connecting to a session", hint: "the server may be out of file descriptors")
        }
        do {
            try self.connect(descriptor, through: "/proc/self/fd/\(node)")
            try self.checkPeer(descriptor, uid: uid, namespacePID: namespacePID, socket: "\(directory)/\(name)")
            return descriptor
        } catch {
            close(descriptor)
            throw error
        }
    }

    private static func connect(_ descriptor: Int32, through path: String) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            if code == EAGAIN {
                throw refused("its listener is not accepting connections (backlog full)", code: "session_socket_busy")
            }
            throw refused("nothing listens on it (\(errorText(code)))", code: "session_socket_closed")
        }
    }

    private static func checkPeer(_ descriptor: Int32, uid: uid_t, namespacePID: pid_t, socket: String) throws {
        var credentials = PeerCredentials()
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else {
            throw refused("SO_PEERCRED failed (\(errorText(errno)))")
        }
        guard credentials.uid == uid else {
            throw refused("\(socket) is served by uid \(credentials.uid), not the session's \(uid)")
        }
        guard let theirs = pidNamespace(of: credentials.pid), let ours = pidNamespace(of: namespacePID), theirs == ours else {
            throw refused("\(socket) is served by pid \(credentials.pid), which is not inside the session's sandbox")
        }
    }

    private static func refused(_ reason: String, code: String = "session_socket_refused") -> HostError {
        HostError(code: code, message: "refused to connect to a session's socket: \(reason)")
    }
}

/// `struct ucred` (`<sys/socket.h>`), which Swift's Glibc module hides (it needs `_GNU_SOURCE`).
private struct PeerCredentials {
    var pid: pid_t = 0
    var uid: uid_t = 0
    var gid: gid_t = 0
}

/// `O_PATH` (`<fcntl.h>`, the same on every Linux architecture we run on), hidden likewise.
let openPath: Int32 = 0o10_000_000

/// The identity of a process's pid namespace (`pid:[4026532…]`), or `nil` when it is gone.
func pidNamespace(of pid: pid_t) -> String? {
    var buffer = [CChar](repeating: 0, count: 64)
    let count = readlink("/proc/\(pid)/ns/pid", &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
