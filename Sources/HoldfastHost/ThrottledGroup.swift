import Foundation
import Glibc

/// A control group whose processes together get a small, fixed share of one CPU.
///
/// It exists for `restic init`. restic sizes the key derivation (scrypt) of a new repository so
/// that opening it takes half a second *on the machine running init, as fast as it runs then*,
/// and every later restic command of that repository pays it again: 0.45 s of CPU and 50 MB here,
/// more than a listing or a small backup costs otherwise, and on a 2-core host the closes of a busy
/// hour queue behind it. Run throttled to 5 % of a CPU, init measures a slow machine and picks cheap
/// parameters (N 8192, r 8, p 1: a command opens the repository in 20 ms instead of 460). That
/// weakens nothing: a tenant's password is 32 random bytes, which no amount of guessing reaches,
/// so stretching it protects nothing. The throttle costs init about 3 s of waiting (and saves it
/// the 2.9 s of CPU its calibration burns at full speed).
///
/// v1: `ROOT/cpu/NAME` with `cpu.cfs_quota_us`; v2: `ROOT/NAME` with `cpu.max`, after enabling
/// `cpu` for the root's children. The group is a leaf that only ever holds throttled processes.
public struct ThrottledGroup: Sendable {
    /// The file a process writes its pid into to join the group.
    public let procsFile: String

    /// The share of one CPU the group's processes get, in percent.
    public static let defaultPercent = 5

    /// Makes (or reuses) the group `NAME` and sets its CPU quota.
    ///
    /// - Throws: `HostError` `cgroup_controller_missing` when the host has no `cpu` controller the
    ///   server may use, or `system_call_failed` when the cgroup files refuse.
    public static func prepare(
        name: String = "holdfast-restic-init", percent: Int = ThrottledGroup.defaultPercent, root: String = "/sys/fs/cgroup"
    ) throws -> ThrottledGroup {
        precondition((1...100).contains(percent), "a CPU share is 1–100 %")
        let period = 100_000
        let quota = period * percent / 100
        guard let layout = CgroupLayout.detect(root: root), layout.hasCPU else {
            throw HostError(code: "cgroup_controller_missing", message: "no cgroup cpu controller under \(root)")
        }
        let group = layout.hierarchy(of: .cpu) + "/" + name
        switch layout.version {
        case .v2:
            let enabled = ProcessTable.text(of: root + "/cgroup.subtree_control") ?? ""
            if !enabled.split(whereSeparator: \.isWhitespace).contains("cpu") {
                try writeCgroupFile(root + "/cgroup.subtree_control", "+cpu")
            }
            try makeGroup(group)
            try writeCgroupFile(group + "/cpu.max", "\(quota) \(period)")
        case .v1:
            // cpu.shares alone (no CFS bandwidth control in the kernel) cannot cap anything.
            guard cgroupFileExists(layout.hierarchy(of: .cpu) + "/cpu.cfs_quota_us") else {
                throw HostError(code: "cgroup_controller_missing", message: "the kernel's cgroup v1 cpu controller has no CFS quotas")
            }
            try makeGroup(group)
            try writeCgroupFile(group + "/cpu.cfs_period_us", "\(period)")
            try writeCgroupFile(group + "/cpu.cfs_quota_us", "\(quota)")
        }
        return ThrottledGroup(procsFile: group + "/cgroup.procs")
    }

    /// Removes the group; it must hold no process. A group already gone is fine.
    public func remove() throws {
        let directory = (self.procsFile as NSString).deletingLastPathComponent
        guard rmdir(directory) != 0 else { return }
        let code = errno
        guard code == ENOENT else {
            throw HostError.systemCall("rmdir", errno: code, while: "removing \(directory)", hint: "end its processes first")
        }
    }
}
