import Glibc
import HoldfastCore
import Synchronization

/// One tmux client per session, started ahead and waiting inside the sandbox for its terminal.
///
/// Entering a sandbox costs an attach more than it used to: above all, joining the session's
/// cgroups (a v1 `cgroup.procs` write waits for an RCU grace period, 10–16 ms measured), then the
/// namespaces, the credentials and the seccomp filter. A standby (`holdfast-jail enter --standby`)
/// does all of that while nobody waits, then blocks on a socket; an attach sends it the PTY's
/// slave (`SCM_RIGHTS`) and tmux starts at once. After each attach the next standby is started.
/// A standby is the session's user's process in the session's cgroups like any client, and it
/// exits when its socket closes (the server went away, or the session ended).
final class StandbyClients: Sendable {
    private struct Standby {
        var process: ChildProcess
        var socket: Int32
    }

    private let waiting = Mutex<[Session.ID: Standby]>([:])

    deinit {
        self.waiting.withLock { waiting in
            for standby in waiting.values { close(standby.socket) }
        }
    }

    /// Starts a standby for the session with `command` (which must carry `--standby`), replacing
    /// one that is waiting already. A failure is not an error: the next attach starts cold.
    func prepare(_ id: Session.ID, command: Command) {
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else { return }
        defer { close(ends[1]) }
        guard let process = try? ProcessSpawner.spawn(command, standardInput: ends[1]) else {
            close(ends[0])
            return
        }
        let replaced = self.waiting.withLock { $0.updateValue(Standby(process: process, socket: ends[0]), forKey: id) }
        if let replaced { close(replaced.socket) }
    }

    /// Wakes the session's standby on `terminal`; `nil` when there is none alive (start cold).
    func start(_ id: Session.ID, terminal: Int32) -> ChildProcess? {
        guard let standby = self.waiting.withLock({ $0.removeValue(forKey: id) }) else { return nil }
        defer { close(standby.socket) }
        guard standby.process.exit.status == nil, send(descriptor: terminal, over: standby.socket) else {
            standby.process.kill(SIGKILL)
            return nil
        }
        return standby.process
    }

    /// Lets the session's standby go (it exits on the closed socket).
    func discard(_ id: Session.ID) {
        if let standby = self.waiting.withLock({ $0.removeValue(forKey: id) }) {
            close(standby.socket)
        }
    }
}

/// Sends one descriptor over a Unix socket (`SCM_RIGHTS`), with one byte of data.
private func send(descriptor: Int32, over socket: Int32) -> Bool {
    // struct cmsghdr is { size_t len; int level; int type; } followed by the data, aligned to
    // size_t: 16 bytes of header and 8 of space for one int on a 64-bit system.
    let headerSize = MemoryLayout<Int>.size + 2 * MemoryLayout<Int32>.size
    var control = [UInt8](repeating: 0, count: headerSize + MemoryLayout<Int>.size)
    control.withUnsafeMutableBytes { buffer in
        buffer.storeBytes(of: headerSize + MemoryLayout<Int32>.size, toByteOffset: 0, as: Int.self)
        buffer.storeBytes(of: SOL_SOCKET, toByteOffset: MemoryLayout<Int>.size, as: Int32.self)
        buffer.storeBytes(of: scmRights, toByteOffset: MemoryLayout<Int>.size + MemoryLayout<Int32>.size, as: Int32.self)
        buffer.storeBytes(of: descriptor, toByteOffset: headerSize, as: Int32.self)
    }
    var byte: UInt8 = 1
    return withUnsafeMutablePointer(to: &byte) { bytePointer in
        var data = iovec(iov_base: UnsafeMutableRawPointer(bytePointer), iov_len: 1)
        return control.withUnsafeMutableBytes { controlBuffer in
            withUnsafeMutablePointer(to: &data) { dataPointer in
                var message = msghdr()
                message.msg_iov = dataPointer
                message.msg_iovlen = 1
                message.msg_control = controlBuffer.baseAddress
                message.msg_controllen = controlBuffer.count
                var sent: Int
                repeat {
                    sent = sendmsg(socket, &message, Int32(MSG_NOSIGNAL))
                } while sent < 0 && errno == EINTR
                return sent == 1
            }
        }
    }
}

/// `SCM_RIGHTS` (`<sys/socket.h>`), which Swift's Glibc module does not import.
private let scmRights: Int32 = 1
