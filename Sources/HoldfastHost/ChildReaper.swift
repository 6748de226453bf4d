import Foundation
import Glibc
import Synchronization

/// Reaps every child process the host spawns, with one thread for all of them and no SIGCHLD handler.
///
/// A session's `setsid bwrap` child lives for hours and exits on its own (the user types `exit`);
/// if nobody called `waitpid` it would stay a zombie until the server exits. A thread blocked in
/// `waitpid` per child would cost a stack per session, and a SIGCHLD handler or `waitpid(-1)` would
/// steal the exit statuses of children that other parts of the server (restic runs) wait for. So
/// each child gets a *pidfd*, which becomes readable when that child exits, and one thread `poll`s
/// all of them and reaps exactly the pids it was given. Where the kernel has no `pidfd_open`
/// (before Linux 5.3), it falls back to a thread per child.
final class ChildReaper: Sendable {
    /// The process-wide reaper: a child must be reaped by exactly one owner.
    static let shared = ChildReaper()

    private struct Watched {
        var pid: pid_t
        var exit: ProcessExit
    }

    private struct State {
        /// Watched children by pidfd.
        var watched: [Int32: Watched] = [:]
        /// Both ends of the pipe that wakes the poll loop when a child is added; nil until started.
        var wake: (read: Int32, write: Int32)?
        /// Set when the poll loop could not be started; children then get a thread each.
        var useThreads = false
    }

    private let state = Mutex(State())

    /// Starts watching `pid`, a child of this process that nobody else waits for.
    ///
    /// - Returns: the exit that completes once the child has been reaped.
    func watch(_ pid: pid_t) -> ProcessExit {
        let exit = ProcessExit()
        guard let open = GNUFunctions.pidfdOpen else {
            self.reapOnThread(pid, exit)
            return exit
        }
        let pidfd = open(pid, 0)
        if pidfd < 0 {
            self.reapOnThread(pid, exit)
            return exit
        }
        let wakeWriter: Int32? = self.state.withLock { state in
            if state.useThreads { return nil }
            if state.wake == nil {
                guard let wake = Self.startPollLoop(self) else {
                    state.useThreads = true
                    return nil
                }
                state.wake = wake
            }
            state.watched[pidfd] = Watched(pid: pid, exit: exit)
            return state.wake?.write
        }
        guard let wakeWriter else {
            Glibc.close(pidfd)
            self.reapOnThread(pid, exit)
            return exit
        }
        var byte: UInt8 = 1
        // A full pipe already guarantees a wake-up, so EAGAIN is fine to ignore.
        _ = Glibc.write(wakeWriter, &byte, 1)
        return exit
    }

    /// Creates the wake pipe and starts the thread that polls the pidfds.
    private static func startPollLoop(_ reaper: ChildReaper) -> (read: Int32, write: Int32)? {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return nil }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        let wake = (read: ends[0], write: ends[1])
        let thread = Thread { reaper.pollLoop(wakeReader: wake.read) }
        thread.name = "holdfast-child-reaper"
        thread.start()
        return wake
    }

    private func pollLoop(wakeReader: Int32) -> Never {
        while true {
            let pidfds = self.state.withLock { Array($0.watched.keys) }
            var descriptors = [pollfd(fd: wakeReader, events: Int16(POLLIN), revents: 0)]
            descriptors += pidfds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&descriptors, nfds_t(descriptors.count), -1)
            if ready < 0 {
                // EINTR is routine; anything else (ENOMEM) is transient: back off briefly and retry.
                if errno != EINTR { usleep(10_000) }
                continue
            }
            if descriptors[0].revents != 0 {
                var buffer = [UInt8](repeating: 0, count: 64)
                while Glibc.read(wakeReader, &buffer, buffer.count) > 0 {}
            }
            for descriptor in descriptors.dropFirst() where descriptor.revents != 0 {
                self.reap(pidfd: descriptor.fd)
            }
        }
    }

    /// Collects the exit status of the child behind a readable pidfd and completes its exit.
    private func reap(pidfd: Int32) {
        guard let watched = self.state.withLock({ $0.watched[pidfd] }) else { return }
        var status: Int32 = 0
        var result: pid_t
        repeat {
            result = waitpid(watched.pid, &status, WNOHANG)
        } while result < 0 && errno == EINTR
        if result == 0 { return }  // Not exited after all; keep watching.
        // ECHILD: someone reaped it behind our back (a waitpid(-1) elsewhere); it has still exited.
        let exitStatus = result == watched.pid ? ExitStatus(waitStatus: status) : .unknown
        _ = self.state.withLock { $0.watched.removeValue(forKey: pidfd) }
        Glibc.close(pidfd)
        watched.exit.complete(exitStatus)
    }

    private func reapOnThread(_ pid: pid_t, _ exit: ProcessExit) {
        let thread = Thread {
            var status: Int32 = 0
            var result: pid_t
            repeat {
                result = waitpid(pid, &status, 0)
            } while result < 0 && errno == EINTR
            exit.complete(result == pid ? ExitStatus(waitStatus: status) : .unknown)
        }
        thread.name = "holdfast-reap-\(pid)"
        thread.stackSize = 64 * 1024
        thread.start()
    }
}

/// How a child process ended.
enum ExitStatus: Sendable, Hashable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    /// Reaped by someone else, so the status is lost.
    case unknown

    init(waitStatus status: Int32) {
        let signal = status & 0x7f
        if signal == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signaled(signal)
        }
    }

    var isSuccess: Bool { self == .exited(0) }

    var description: String {
        switch self {
        case .exited(let code): "exit code \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        case .unknown: "an unknown status"
        }
    }
}

/// The end of one child process, which any number of tasks can await.
///
/// Unlike an `AsyncStream`, a waiter that gives up (a timeout) does not end the wait for others,
/// so "wait 2 s, then SIGKILL, then wait again" works.
final class ProcessExit: Sendable {
    private struct State {
        var status: ExitStatus?
        var waiters: [Int: CheckedContinuation<ExitStatus?, Never>] = [:]
        var nextWaiter = 0
        var observers: [@Sendable (ExitStatus) -> Void] = []
    }

    private let state = Mutex(State())

    /// The status once the child has been reaped, `nil` while it runs.
    var status: ExitStatus? { self.state.withLock { $0.status } }

    func complete(_ status: ExitStatus) {
        let (waiters, observers) = self.state.withLock { state in
            state.status = status
            defer {
                state.waiters = [:]
                state.observers = []
            }
            return (Array(state.waiters.values), state.observers)
        }
        for waiter in waiters { waiter.resume(returning: status) }
        for observer in observers { observer(status) }
    }

    /// Calls `observer` once the child has been reaped (at once if it already has), on the reaper's
    /// thread: it must be quick. For children nobody awaits, such as a session's sandbox.
    func onCompletion(_ observer: @escaping @Sendable (ExitStatus) -> Void) {
        let status = self.state.withLock { state in
            if state.status == nil { state.observers.append(observer) }
            return state.status
        }
        if let status { observer(status) }
    }

    /// Waits until the child has been reaped; `nil` if the calling task is cancelled first.
    func wait() async -> ExitStatus? {
        let id = self.state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ExitStatus?, Never>) in
                let resumeNow: ExitStatus?? = self.state.withLock { state in
                    if let status = state.status { return .some(status) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return .none
                }
                if case .some(let status) = resumeNow { continuation.resume(returning: status) }
            }
        } onCancel: {
            let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: nil)
        }
    }

    /// Waits at most `timeout`; `nil` when the child is still running by then.
    func wait(timeout: Duration) async -> ExitStatus? {
        if let status = self.status { return status }
        return await withTaskGroup(of: ExitStatus?.self) { group in
            group.addTask { await self.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
