import Foundation
import HoldfastCore

#if canImport(Glibc)
    import Glibc
#endif

extension HostCapacity {
    /// What this machine can give one session: its memory (`MemTotal`), its `pid_max`, and the size
    /// of the filesystem that holds the data directory (no workspace can grow beyond it).
    ///
    /// Read when an operator changes a limit, not cached: memory can be added to a VM and a disk
    /// grown; it costs two small `/proc` reads and one `statvfs`. A figure that cannot be read is
    /// `Int.max`, so the check does not refuse a setting for a fault of this measurement (the
    /// kernel still enforces what the host has).
    public static func measure(dataDirectory: String) -> HostCapacity {
        let memoryKiB = Self.meminfo("MemTotal")
        let pidMax = (try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return HostCapacity(
            memoryMiB: memoryKiB.map { $0 / 1024 } ?? Int.max,
            pids: pidMax ?? Int.max,
            diskGiB: Self.filesystemBytes(at: dataDirectory).map { $0 / (1024 * 1024 * 1024) } ?? Int.max
        )
    }

    /// A `/proc/meminfo` figure in KiB.
    static func meminfo(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    /// The size of the filesystem holding `path` (`statvfs`), or of the nearest existing parent:
    /// the data directory may not exist yet on a first start.
    static func filesystemBytes(at path: String) -> Int? {
        var url = URL(fileURLWithPath: path).standardizedFileURL
        while !FileManager.default.fileExists(atPath: url.path) && url.path != "/" {
            url.deleteLastPathComponent()
        }
        var stats = statvfs()
        guard statvfs(url.path, &stats) == 0 else { return nil }
        return Int(stats.f_blocks) * Int(stats.f_frsize)
    }
}
