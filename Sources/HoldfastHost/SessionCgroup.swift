import Foundation
import Glibc
import HoldfastCore

/// Where the cgroup controllers a session's limits need are mounted.
///
/// Two shapes are supported: pure **v2** (one unified hierarchy whose root `cgroup.controllers`
/// lists `memory` and `pids`), and **v1** (one hierarchy per controller, `ROOT/pids`, `ROOT/memory`
/// and, when there, `ROOT/cpu`). A hybrid host, v1 controllers beside an empty `ROOT/unified`, is v1:
/// the controllers are where they are bound. `pids` and `memory` are required, since they are the
/// bounds that hold a fork bomb and a memory hog; `cpu` is optional (without it, sessions share the
/// CPU evenly, which is the default weight anyway).
struct CgroupLayout: Sendable, Hashable {
    enum Version: Sendable, Hashable {
        case v1
        case v2
    }

    /// A controller the session's limits use.
    enum Controller: String, Sendable, Hashable, CaseIterable {
        case pids
        case memory
        case cpu
    }

    var version: Version
    /// v2: the unified hierarchy's mount point; v1: the folder holding one mount per controller.
    var root: String
    /// Whether the `cpu` controller is available, and so whether sessions get their CPU weight.
    var hasCPU: Bool

    init(version: Version, root: String, hasCPU: Bool) {
        self.version = version
        self.root = root
        self.hasCPU = hasCPU
    }

    /// The layout of the host's cgroups, or `nil` when neither v2 with `memory` and `pids` nor the
    /// v1 `memory` and `pids` hierarchies are mounted under `root`.
    static func detect(root: String = "/sys/fs/cgroup") -> CgroupLayout? {
        if let listed = try? String(contentsOfFile: root + "/cgroup.controllers", encoding: .utf8) {
            let controllers = Set(listed.split(whereSeparator: \.isWhitespace).map(String.init))
            guard controllers.isSuperset(of: ["memory", "pids"]) else { return nil }
            return CgroupLayout(version: .v2, root: root, hasCPU: controllers.contains("cpu"))
        }
        let files = FileManager.default
        guard files.fileExists(atPath: root + "/pids/cgroup.procs"),
            files.fileExists(atPath: root + "/memory/memory.limit_in_bytes")
        else { return nil }
        return CgroupLayout(version: .v1, root: root, hasCPU: files.fileExists(atPath: root + "/cpu/cpu.shares"))
    }

    /// The controllers sessions get groups in.
    var controllers: [Controller] { self.hasCPU ? [.pids, .memory, .cpu] : [.pids, .memory] }

    /// The root of the hierarchy that holds `controller`.
    func hierarchy(of controller: Controller) -> String {
        switch self.version {
        case .v1: self.root + "/" + controller.rawValue
        case .v2: self.root
        }
    }
}

/// One session's control groups: the kernel's bound on its processes, memory and CPU share.
///
/// The groups are `holdfast/<session id>` in each hierarchy (v1: in `pids`, `memory` and `cpu`; v2:
/// one group). They are made before the sandbox starts, and the sandbox's first process (the
/// jail that becomes bwrap) joins them before it execs, so nothing the session forks is ever
/// outside them; a child inherits its parent's groups. Files are written with one `write(2)` each,
/// as cgroup files require.
///
/// The memory limit counts the session's `/tmp` (a tmpfs) and its kernel memory. An OOM kill takes
/// only the process that ran out (v2 `memory.oom.group` 0), so the user's shell survives a hog and
/// sees "Killed". Swap is not given (v2 `memory.swap.max` 0, v1 `memory.memsw.limit_in_bytes` equal to
/// the memory limit), so the limit cannot be dodged by swapping out.
struct SessionCgroup: Sendable {
    /// The group, in every hierarchy, that holds every session's group.
    static let parent = "holdfast"

    let layout: CgroupLayout
    let sessionID: Session.ID

    init(layout: CgroupLayout, sessionID: Session.ID) {
        self.layout = layout
        self.sessionID = sessionID
    }

    /// The session's group in `controller`'s hierarchy.
    func directory(of controller: CgroupLayout.Controller) -> String {
        self.layout.hierarchy(of: controller) + "/" + Self.parent + "/" + self.sessionID.description
    }

    /// The session's group in each hierarchy, once each (v2 has one).
    var directories: [String] {
        var seen: [String] = []
        for controller in self.layout.controllers where !seen.contains(self.directory(of: controller)) {
            seen.append(self.directory(of: controller))
        }
        return seen
    }

    /// The `cgroup.procs` files a process writes its pid into to join every one of the session's groups.
    var procsFiles: [String] { self.directories.map { $0 + "/cgroup.procs" } }

    /// Makes the session's groups and sets their limits; repeating it with other limits changes them.
    ///
    /// - Throws: `HostError` `invalid_limits` for limits out of range (nothing is changed), or
    ///   `cgroup_controller_missing` / `system_call_failed` when the host's cgroups refuse.
    func create(limits: SessionLimits) throws {
        guard limits.memoryMiB > 0, limits.pids > 0, (1...10_000).contains(limits.cpuWeight) else {
            throw HostError(
                code: "invalid_limits",
                message: "session limits out of range (memory \(limits.memoryMiB) MiB, \(limits.pids) processes, "
                    + "CPU weight \(limits.cpuWeight)): memory and processes must be positive and the CPU weight 1–10000"
            )
        }
        for controller in self.layout.controllers {
            let hierarchy = self.layout.hierarchy(of: controller)
            guard FileManager.default.fileExists(atPath: hierarchy + "/cgroup.procs") else {
                throw HostError(
                    code: "cgroup_controller_missing",
                    message: "cgroup controller \(controller.rawValue) not mounted: \(hierarchy) is not a cgroup hierarchy; "
                        + "mount it (or boot with cgroup v2) so that sessions can be bounded"
                )
            }
        }
        let memoryBytes = limits.memoryMiB * 1024 * 1024
        switch self.layout.version {
        case .v2:
            let parent = self.layout.root + "/" + Self.parent
            // v2 gives a group a controller only when its parent enables it for its children, and
            // a group with processes in it cannot enable any (the "no internal processes" rule): so
            // `holdfast` holds groups only, never a process.
            try self.enableControllers(in: self.layout.root)
            try makeGroup(parent)
            try self.enableControllers(in: parent)
            let group = self.directory(of: .pids)
            try makeGroup(group)
            try writeCgroupFile(group + "/pids.max", "\(limits.pids)")
            try writeCgroupFile(group + "/memory.max", "\(memoryBytes)")
            if cgroupFileExists(group + "/memory.swap.max") {
                try writeCgroupFile(group + "/memory.swap.max", "0")
            }
            if cgroupFileExists(group + "/memory.oom.group") {
                try writeCgroupFile(group + "/memory.oom.group", "0")
            }
            if self.layout.hasCPU && cgroupFileExists(group + "/cpu.weight") {
                try writeCgroupFile(group + "/cpu.weight", "\(limits.cpuWeight)")
            }
        case .v1:
            for controller in self.layout.controllers {
                try makeGroup(self.layout.hierarchy(of: controller) + "/" + Self.parent)
                try makeGroup(self.directory(of: controller))
            }
            try writeCgroupFile(self.directory(of: .pids) + "/pids.max", "\(limits.pids)")
            let memory = self.directory(of: .memory)
            // The kernel keeps memory+swap ≥ memory: lift the first out of the way, set the
            // second, then bring the first down to it, whichever way the limit moves.
            let swapAccounted = cgroupFileExists(memory + "/memory.memsw.limit_in_bytes")
            if swapAccounted {
                try writeCgroupFile(memory + "/memory.memsw.limit_in_bytes", "-1")
            }
            try writeCgroupFile(memory + "/memory.limit_in_bytes", "\(memoryBytes)")
            if swapAccounted {
                try writeCgroupFile(memory + "/memory.memsw.limit_in_bytes", "\(memoryBytes)")
            }
            if self.layout.hasCPU {
                // v1 shares are relative like v2 weights, with 1024 as the even share.
                let shares = max(2, limits.cpuWeight * 1024 / 100)
                try writeCgroupFile(self.directory(of: .cpu) + "/cpu.shares", "\(shares)")
            }
        }
    }

    /// Moves the process `pid` (all its threads) into every one of the session's groups.
    ///
    /// The jail joins by itself before it execs (it writes its pid into `procsFiles`); this is for
    /// a process the server started and holds before it runs anything.
    func add(_ pid: pid_t) throws {
        for procs in self.procsFiles {
            try writeCgroupFile(procs, "\(pid)")
        }
    }

    /// The session's use against its limits now, or `nil` when its groups do not exist.
    func usage() -> SessionUsage? {
        let pids = self.directory(of: .pids)
        let memory = self.directory(of: .memory)
        guard FileManager.default.fileExists(atPath: pids + "/pids.max") else { return nil }
        var usage = SessionUsage(
            pids: readCgroupNumber(pids + "/pids.current"), pidsLimit: readCgroupNumber(pids + "/pids.max"),
            pidsRefused: readCgroupKey(pids + "/pids.events", "max")
        )
        switch self.layout.version {
        case .v2:
            usage.memoryBytes = readCgroupNumber(memory + "/memory.current")
            usage.memoryLimitBytes = readCgroupNumber(memory + "/memory.max")
            usage.oomKills = readCgroupKey(memory + "/memory.events", "oom_kill")
        case .v1:
            usage.memoryBytes = readCgroupNumber(memory + "/memory.usage_in_bytes")
            usage.memoryLimitBytes = readCgroupNumber(memory + "/memory.limit_in_bytes")
            usage.oomKills = readCgroupKey(memory + "/memory.oom_control", "oom_kill")
        }
        return usage
    }

    /// Every process in any of the session's groups, for ending them all: what is in the groups is
    /// the session's, whatever its command line says.
    func pids() -> [pid_t] {
        var pids = Set<pid_t>()
        for procs in self.procsFiles {
            guard let text = ProcessTable.text(of: procs) else { continue }
            for line in text.split(whereSeparator: \.isNewline) {
                if let pid = pid_t(line) { pids.insert(pid) }
            }
        }
        return pids.sorted()
    }

    /// Removes the session's groups, once its processes are gone; groups already gone are fine.
    ///
    /// A group stays busy for a moment after its last process is reaped (the kernel finishes
    /// tearing the task down), so `EBUSY` is retried for up to two seconds.
    ///
    /// - Throws: `HostError` `cgroup_busy` when a group still holds processes after that.
    func remove() async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(2)
        for directory in self.directories {
            while rmdir(directory) != 0 {
                let code = errno
                if code == ENOENT { break }
                guard code == EBUSY, clock.now < deadline else {
                    if code == EBUSY {
                        throw HostError(
                            code: "cgroup_busy",
                            message: "cannot remove \(directory): processes \(self.pids()) are still in it; "
                                + "end them (the session's terminate does) and remove the session again"
                        )
                    }
                    throw HostError.systemCall(
                        "rmdir", errno: code, while: "removing \(directory)", hint: "check the host's cgroup mounts")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Lets the children of `group` use the session's controllers (v2 `cgroup.subtree_control`).
    ///
    /// `pids` and `memory` must be enabled. `cpu` is tried on its own and may fail, which leaves
    /// sessions an even CPU share: the kernel refuses it while a real-time process runs in a
    /// non-root group (without real-time group scheduling), and that is no reason to refuse sessions.
    private func enableControllers(in group: String) throws {
        let file = group + "/cgroup.subtree_control"
        let enabled = Set(
            (ProcessTable.text(of: file) ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
        let missing = ["pids", "memory"].filter { !enabled.contains($0) }
        if !missing.isEmpty {
            do {
                try writeCgroupFile(file, missing.map { "+" + $0 }.joined(separator: " "))
            } catch let error as HostError {
                throw HostError(
                    code: "cgroup_controller_missing",
                    message: "cannot enable the \(missing.joined(separator: " and ")) controllers for the groups under \(group): "
                        + "\(error.message). A group with processes of its own cannot (cgroup v2's no-internal-process rule): "
                        + "keep \(group) free of processes, or delegate a cgroup subtree to the server"
                )
            }
        }
        if self.layout.hasCPU && !enabled.contains("cpu") {
            try? writeCgroupFile(file, "+cpu")
        }
    }
}

/// Makes a cgroup; one that exists already is fine.
func makeGroup(_ path: String) throws {
    guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
        let code = errno
        throw HostError.systemCall(
            "mkdir", errno: code, while: "creating the cgroup \(path)",
            hint: code == EACCES || code == EPERM || code == EROFS
                ? "the server must run as root (or be delegated this cgroup subtree) to bound sessions"
                : "check that the cgroup hierarchy is mounted read-write")
    }
}

/// Writes `value` into a cgroup file in one `write(2)`, as the kernel parses each write whole.
func writeCgroupFile(_ path: String, _ value: String) throws {
    let descriptor = open(path, O_WRONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
        let code = errno
        throw HostError.systemCall(
            "open", errno: code, while: "opening \(path)",
            hint: code == ENOENT
                ? "the controller is not available in this group; check the host's cgroup mounts"
                : "the server must run as root to set session limits")
    }
    defer { close(descriptor) }
    let bytes = Array(value.utf8)
    let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    guard written == bytes.count else {
        let code = errno
        let hint: String
        switch code {
        case ESRCH: hint = "the process has already ended"
        case EINVAL: hint = "the kernel does not accept \(value) there"
        case EBUSY: hint = "the group has processes or children that prevent it"
        default: hint = "check the host's cgroup mounts"
        }
        throw HostError.systemCall("write", errno: code, while: "writing \(value) to \(path)", hint: hint)
    }
}

func cgroupFileExists(_ path: String) -> Bool {
    access(path, F_OK) == 0
}

/// A cgroup file holding one number; `nil` when it is missing or says "no limit".
private func readCgroupNumber(_ path: String) -> Int? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8),
        let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    else { return nil }
    // v1 writes "no memory limit" as the largest page-aligned count, 0x7FFFFFFFFFFFF000.
    return value >= 1 << 62 ? nil : value
}

/// The number after `key` in a flat-keyed cgroup file such as `memory.events` ("oom_kill 3").
private func readCgroupKey(_ path: String, _ key: String) -> Int? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    for line in text.split(whereSeparator: \.isNewline) {
        let fields = line.split(separator: " ")
        if fields.count == 2, fields[0] == key { return Int(fields[1]) }
    }
    return nil
}
