import Glibc

/// Reads the host's process table from `/proc`, tolerating processes that vanish mid-read.
///
/// The host finds a session's sandbox processes by their command lines, including those started
/// by an earlier server process, which only the kernel still knows about.
enum ProcessTable {
    /// The pids of every process now, in no particular order.
    static func processIDs() -> [pid_t] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var pids: [pid_t] = []
        while let entry = readdir(directory) {
            if let pid = pid_t(Self.name(of: entry)) { pids.append(pid) }
        }
        return pids
    }

    /// An entry's name, read up to its NUL only. Not `entry.pointee.d_name`: that copies the whole
    /// 256-byte array, but the kernel's record is only as long as the name, so for the last entry
    /// of `readdir`'s buffer the copy read past it — the churn soak's server died of a segfault
    /// there, listing /proc with 2,600 processes.
    static func name(of entry: UnsafeMutablePointer<dirent>) -> String {
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name) ?? 19
        return String(cString: UnsafeRawPointer(entry).advanced(by: offset).assumingMemoryBound(to: CChar.self))
    }

    /// The arguments a process was started with; `nil` when it is gone, and empty for a zombie
    /// or a kernel thread.
    static func arguments(of pid: pid_t) -> [String]? {
        guard let bytes = self.contents(of: "/proc/\(pid)/cmdline") else { return nil }
        return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }

    /// The whole of a file in `/proc` or `/sys`, read until its end; `nil` when it cannot be read.
    ///
    /// Not `String(contentsOfFile:)`: these files report a size of 0 or 4096, and Foundation
    /// stops there — a `/proc/self/mountinfo` past 4 KiB came back cut short, and the mounts
    /// listed after the cut were not found.
    static func contents(of path: String) -> [UInt8]? {
        try? self.read(path).get()
    }

    /// Why a read of `/proc` failed: `errno` tells a process that is gone (`ENOENT`, `ESRCH`) from
    /// a read that could not be done (`EACCES`, `EMFILE`, `EIO`), which says nothing about it.
    struct ReadFailure: Error, CustomStringConvertible {
        var errno: Int32
        var isGone: Bool { self.errno == ENOENT || self.errno == ESRCH }
        var description: String { String(cString: strerror(self.errno)) }
    }

    /// `contents(of:)` with the reason a read failed.
    static func read(_ path: String) -> Result<[UInt8], ReadFailure> {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(ReadFailure(errno: errno)) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = Glibc.read(descriptor, &buffer, buffer.count)
            if count > 0 {
                bytes += buffer[0..<count]
            } else if count < 0 && errno == EINTR {
                continue
            } else if count < 0 {
                return .failure(ReadFailure(errno: errno))
            } else {
                return .success(bytes)
            }
        }
    }

    /// `contents(of:)` as text.
    static func text(of path: String) -> String? {
        self.contents(of: path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The live processes one of whose arguments is exactly `argument`, this process excepted.
    static func processes(withArgument argument: String) -> [pid_t] {
        let me = getpid()
        return self.processIDs().filter { pid in
            pid != me && (self.arguments(of: pid)?.contains(argument) ?? false)
        }
    }
}
