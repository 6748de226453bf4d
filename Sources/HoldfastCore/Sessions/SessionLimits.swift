import Foundation

/// What a session may reach on the network (ARCHITECTURE §2a).
///
/// Every session has a network namespace of its own. `none` gives it loopback only; `internet`
/// adds outbound access through a user-mode stack (slirp4netns) that refuses the host's loopback
/// and every private, link-local, CGNAT and unique-local address (see `NetworkPolicy`).
public enum NetworkAccess: String, Sendable, Codable, Hashable, CaseIterable {
    case none
    case internet

    /// The default for a tenant that has not chosen.
    public static let standard = NetworkAccess.internet
}

/// The bounds of one tenant's sessions: per session (memory, processes, CPU share, attached
/// clients), per user (workspace disk, live sessions).
///
/// A tenant stores only what it overrides; `SessionLimits.standard` fills the rest.
public struct SessionLimits: Sendable, Codable, Hashable {
    /// The session's memory (its cgroup's `memory.max`), `/tmp` included.
    public var memoryMiB: Int
    /// How many processes and threads the session may run at once (`pids.max`): bounds a fork bomb.
    public var pids: Int
    /// The session's share of the CPU against other sessions: 1–10,000, 100 being an even share.
    public var cpuWeight: Int
    /// The user's workspace: its home folder may not grow beyond this.
    public var diskGiB: Int
    /// How many sessions one user may have live (starting, connected, held or closing) at once.
    public var sessionsPerUser: Int
    /// How many clients (browser tabs, API attachments) one session may have attached at once.
    public var clientsPerSession: Int

    public init(memoryMiB: Int, pids: Int, cpuWeight: Int, diskGiB: Int, sessionsPerUser: Int, clientsPerSession: Int) {
        self.memoryMiB = memoryMiB
        self.pids = pids
        self.cpuWeight = cpuWeight
        self.diskGiB = diskGiB
        self.sessionsPerUser = sessionsPerUser
        self.clientsPerSession = clientsPerSession
    }

    /// The defaults every tenant starts with.
    public static let standard = SessionLimits(
        memoryMiB: 2_048, pids: 512, cpuWeight: 100, diskGiB: 10, sessionsPerUser: 5, clientsPerSession: 4
    )

    /// The size of the session's private `/tmp`: a quarter of its memory, at least 64 MiB.
    ///
    /// `/tmp` is a tmpfs whose pages count against the session's memory, so the cap keeps a full
    /// `/tmp` from leaving the shell no memory to run in.
    public var tmpMiB: Int { max(64, self.memoryMiB / 4) }
}

/// What a host can give one session at most; limits above it are refused, not silently capped.
public struct HostCapacity: Sendable, Hashable {
    public var memoryMiB: Int
    /// The kernel's `pid_max`.
    public var pids: Int
    /// The size of the filesystem where workspaces live: no one workspace can grow beyond it.
    public var diskGiB: Int

    public init(memoryMiB: Int, pids: Int, diskGiB: Int) {
        self.memoryMiB = memoryMiB
        self.pids = pids
        self.diskGiB = diskGiB
    }
}

/// The use of one running session against its limits, for the admin page.
public struct SessionUsage: Sendable, Codable, Hashable {
    public var memoryBytes: Int?
    public var memoryLimitBytes: Int?
    public var pids: Int?
    public var pidsLimit: Int?
    /// How often the session hit its memory limit (the kernel's OOM kills in its cgroup).
    public var oomKills: Int?
    /// How often a fork was refused because the session was at its process limit.
    public var pidsRefused: Int?

    public init(
        memoryBytes: Int? = nil, memoryLimitBytes: Int? = nil, pids: Int? = nil, pidsLimit: Int? = nil, oomKills: Int? = nil,
        pidsRefused: Int? = nil
    ) {
        self.memoryBytes = memoryBytes
        self.memoryLimitBytes = memoryLimitBytes
        self.pids = pids
        self.pidsLimit = pidsLimit
        self.oomKills = oomKills
        self.pidsRefused = pidsRefused
    }
}

extension SessionLimits {
    /// The six limits by their wire names, in the order messages list them.
    public static let fieldNames = ["memoryMiB", "pids", "cpuWeight", "diskGiB", "sessionsPerUser", "clientsPerSession"]

    /// The most processes a session may be given, whatever the host's `pid_max`: far beyond what
    /// a shell needs, and low enough that one session cannot take the host's whole pid space.
    public static let maximumPids = 100_000

    /// The values allowed for each limit on a host of `capacity`, with the reason for the upper bound.
    ///
    /// The lower bounds are what a shell needs to run at all (64 MiB, 16 processes); the upper
    /// ones are the host's own figure where there is one, so a limit is never silently above
    /// what the host can give.
    public static func allowedRanges(on capacity: HostCapacity) -> [String: (range: ClosedRange<Int>, bound: String)] {
        func range(_ lower: Int, _ upper: Int) -> ClosedRange<Int> { lower...max(lower, upper) }
        let pidsBound = capacity.pids < Self.maximumPids ? "this host's pid_max" : "the most one session may run"
        return [
            "memoryMiB": (range(64, capacity.memoryMiB), "this host's memory"),
            "pids": (range(16, min(capacity.pids, Self.maximumPids)), pidsBound),
            "cpuWeight": (1...10_000, "the kernel's CPU weight range; 100 is an even share"),
            "diskGiB": (range(1, capacity.diskGiB), "this host's disk for workspaces"),
            "sessionsPerUser": (1...100, "the most one user may have"),
            "clientsPerSession": (1...64, "the most one session may have"),
        ]
    }

    /// The value of the limit named `field` (one of `fieldNames`).
    public subscript(field field: String) -> Int {
        get {
            switch field {
            case "memoryMiB": self.memoryMiB
            case "pids": self.pids
            case "cpuWeight": self.cpuWeight
            case "diskGiB": self.diskGiB
            case "sessionsPerUser": self.sessionsPerUser
            case "clientsPerSession": self.clientsPerSession
            default: preconditionFailure("unknown limit \(field)")
            }
        }
        set {
            switch field {
            case "memoryMiB": self.memoryMiB = newValue
            case "pids": self.pids = newValue
            case "cpuWeight": self.cpuWeight = newValue
            case "diskGiB": self.diskGiB = newValue
            case "sessionsPerUser": self.sessionsPerUser = newValue
            case "clientsPerSession": self.clientsPerSession = newValue
            default: preconditionFailure("unknown limit \(field)")
            }
        }
    }

    /// Checks the limits named in `fields` (all six by default) against what `capacity` allows.
    ///
    /// Only the fields a caller changes are checked by the settings API: a standard value the host
    /// cannot give (a 2 GiB session on a 1 GiB host) is the host's problem, not the caller's input.
    /// - Throws: `CoreError.invalidInput("invalid_limits", …)` naming every field out of range, its
    ///   allowed range and the host's figure, e.g. "memoryMiB must be 64 to 23,000 (this host's memory)."
    public func validate(against capacity: HostCapacity, fields: [String] = SessionLimits.fieldNames) throws {
        let ranges = Self.allowedRanges(on: capacity)
        let problems = Self.fieldNames.filter(fields.contains).compactMap { field -> String? in
            guard let (range, bound) = ranges[field], !range.contains(self[field: field]) else { return nil }
            return "\(field) must be \(Self.grouped(range.lowerBound)) to \(Self.grouped(range.upperBound)) (\(bound)), "
                + "not \(Self.grouped(self[field: field]))"
        }
        guard problems.isEmpty else {
            throw CoreError.invalidInput("invalid_limits", problems.joined(separator: "; ") + ". Nothing was changed.")
        }
    }

    /// The names of the limits that are higher (more generous) here than in `current`.
    public func raised(over current: SessionLimits) -> [String] {
        Self.fieldNames.filter { self[field: $0] > current[field: $0] }
    }

    /// `23000` as "23,000": messages are read by people.
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return value < 0 ? "-" + text : text
    }
}

/// A limit a session ran into: what the timeline records and what its terminal shows.
public struct LimitHit: Sendable, Hashable {
    public enum Limit: String, Sendable, Hashable {
        case memory
        case processes
    }

    public var limit: Limit
    /// The timeline's detail, e.g. "memory limit 2,048 MiB reached: a process was killed (oom)".
    public var detail: String
    /// What the user reads in the terminal: what happened and what to do.
    public var message: String

    public init(limit: Limit, detail: String, message: String) {
        self.limit = limit
        self.detail = detail
        self.message = message
    }
}

extension SessionUsage {
    /// What the session ran into since `previous`: one hit per limit whose counter grew. `limits`
    /// supplies the figures when the host does not report them.
    ///
    /// A counter the host cannot read (`nil`, now or before) says nothing: the session may or may
    /// not have hit the limit, and the timeline records only what happened. A counter that went
    /// down (the host recreated the cgroup) is no hit either.
    public func limitsHit(since previous: SessionUsage, limits: SessionLimits) -> [LimitHit] {
        var hits: [LimitHit] = []
        if let now = self.oomKills, let before = previous.oomKills, now > before {
            let mebibytes = SessionLimits.grouped(self.memoryLimitBytes.map { $0 / (1024 * 1024) } ?? limits.memoryMiB)
            let killed = now - before == 1 ? "a process was killed" : "\(now - before) processes were killed"
            hits.append(
                LimitHit(
                    limit: .memory, detail: "memory limit \(mebibytes) MiB reached: \(killed) (oom)",
                    message:
                        "This session reached its memory limit of \(mebibytes) MiB, so \(killed) to free memory. "
                        + "Files in /tmp count against it too; close programs or remove files there to make room."))
        }
        if let now = self.pidsRefused, let before = previous.pidsRefused, now > before {
            let pids = SessionLimits.grouped(self.pidsLimit ?? limits.pids)
            let refused = now - before == 1 ? "a fork was refused" : "\(now - before) forks were refused"
            hits.append(
                LimitHit(
                    limit: .processes, detail: "process limit \(pids) reached: \(refused)",
                    message:
                        "This session reached its limit of \(pids) processes, so \(refused): new programs cannot start "
                        + "until some end. End the programs you do not need (for example with `kill`)."))
        }
        return hits
    }
}
