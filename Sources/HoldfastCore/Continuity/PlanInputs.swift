import Foundation

/// Everything a tenant's continuity plans are made from, and nothing else.
///
/// The generator is a pure function of these inputs (plus the version number and the time), so the app keeps
/// the ``digest`` of the inputs beside each plan version and makes a new version exactly when the digest
/// changes. No secret belongs here: the plans are shown to the tenant and printed, so the database is
/// described without its password and the backup repository without credentials.
public struct PlanInputs: Sendable, Codable, Hashable {
    public var tenantSlug: String
    public var tenantName: String
    /// Validated (``Troubleshooter/validatedEscalationList(_:)``); the order is the escalation order.
    public var troubleshooters: [Troubleshooter]
    /// How often a connected session's changed workspace is snapshotted; it is the RPO (``rpoSeconds``).
    public var snapshotIntervalSeconds: Int
    /// The recovery time the service aims for; the RTO until a drill has measured one.
    public var rtoTargetSeconds: Int
    /// The most recent `holdfast drill` of this tenant, if one ever ran.
    public var latestDrill: DrillResult?
    /// How often a drill is due; the test schedule (appendix C) names the next date from it.
    public var drillIntervalDays: Int
    public var deployment: Deployment
    public var support: Support
    public var maintenance: Maintenance
    /// How long a dropped session is held for the tenant before it is closed.
    public var graceSeconds: Int

    /// One hour: long enough to restore a tenant's workspaces on a fresh host, short enough to promise.
    public static let defaultRTOTargetSeconds = 3_600
    /// The server's default hold for a dropped session.
    public static let defaultGraceSeconds = 1_800
    /// A drill every quarter, so the recorded RTO is never older than a few months.
    public static let defaultDrillIntervalDays = 90

    public init(
        tenantSlug: String, tenantName: String, troubleshooters: [Troubleshooter], snapshotIntervalSeconds: Int,
        rtoTargetSeconds: Int = PlanInputs.defaultRTOTargetSeconds, latestDrill: DrillResult? = nil,
        drillIntervalDays: Int = PlanInputs.defaultDrillIntervalDays, deployment: Deployment, support: Support,
        maintenance: Maintenance = .standard, graceSeconds: Int = PlanInputs.defaultGraceSeconds
    ) {
        self.tenantSlug = tenantSlug
        self.tenantName = tenantName
        self.troubleshooters = troubleshooters
        self.snapshotIntervalSeconds = snapshotIntervalSeconds
        self.rtoTargetSeconds = rtoTargetSeconds
        self.latestDrill = latestDrill
        self.drillIntervalDays = drillIntervalDays
        self.deployment = deployment
        self.support = support
        self.maintenance = maintenance
        self.graceSeconds = graceSeconds
    }

    /// The recovery point objective: the snapshot interval.
    ///
    /// While a session is connected its changed workspace is snapshotted every interval, so the newest
    /// snapshot is never older than one interval; when the connection drops, a snapshot is taken at once
    /// (the drop is when data is at risk), and a held session changes nothing until it is resumed. So at
    /// most one interval of work is lost, whatever happens.
    public var rpoSeconds: Int { self.snapshotIntervalSeconds }

    /// Where the recovery time objective comes from.
    public enum RTOBasis: String, Sendable, Codable, Hashable {
        /// Measured by the latest drill: evidence, not a promise.
        case drill
        /// No drill has run yet: the target, not yet proven.
        case target
    }

    /// The recovery time objective: the latest drill's measured time when a drill ran, else the target.
    ///
    /// A measured time is used even when it is worse than the target, because it is what a real recovery
    /// would take; the plan says which it is and whether the drill passed.
    public var rto: (seconds: Int, basis: RTOBasis) {
        if let drill = self.latestDrill { return (drill.rtoSeconds, .drill) }
        return (self.rtoTargetSeconds, .target)
    }

    /// Checks what the app assembled: a valid slug, a valid escalation list (normalised), positive durations,
    /// and no credentials in the backup repository or the public address.
    /// - Throws: `CoreError.invalidInput` with the code of the rule broken.
    public func validated() throws(CoreError) -> PlanInputs {
        do {
            try Tenant.validate(slug: self.tenantSlug)
        } catch let error as CoreError {
            throw error
        } catch {
            throw CoreError.invalidInput("invalid_slug", "The slug '\(self.tenantSlug)' is not valid.")
        }
        var inputs = self
        inputs.troubleshooters = try Troubleshooter.validatedEscalationList(self.troubleshooters)
        let durations = [
            ("snapshot interval", self.snapshotIntervalSeconds), ("RTO target", self.rtoTargetSeconds),
            ("grace period", self.graceSeconds), ("drill interval", self.drillIntervalDays),
        ]
        for (name, value) in durations where value <= 0 {
            throw CoreError.invalidInput("invalid_plan_input", "The \(name) must be positive (it is \(value)).")
        }
        let repositories = [self.deployment.backupRepository, self.deployment.serverBackupLocation]
        if repositories.contains(where: { $0.flagValue != $0.rawFlagValue }) {
            throw CoreError.invalidInput(
                "secret_in_plan_input",
                "The backup repository URL carries credentials; remove them, restic reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
            )
        }
        if let address = self.deployment.publicURL, PlanText.withoutUserInfo(address) != address {
            throw CoreError.invalidInput("secret_in_plan_input", "The public address carries credentials; give it without them.")
        }
        return inputs
    }
}

// MARK: - Deployment

extension PlanInputs {
    /// How this installation is put together, as far as a recovery needs to know.
    public struct Deployment: Sendable, Codable, Hashable {
        /// The server's `--data-dir`, absolute.
        public var dataDirectory: String
        public var database: Database
        /// The server's `--backup-repository`, under which every tenant has its own repository.
        public var serverBackupLocation: BackupRepository
        /// The tenant's own restic repository (the server's location plus the tenant's id).
        public var backupRepository: BackupRepository
        /// The tenant's repository password file; the plan names the file, never its contents.
        public var passwordFile: String
        /// Scratch space for restores, beside the workspaces.
        public var restoresDirectory: String
        /// The address users open, e.g. `https://holdfast.example.com`; `nil` when not configured, and the
        /// plans then give paths only.
        public var publicURL: String?

        public init(
            dataDirectory: String, database: Database, serverBackupLocation: BackupRepository, backupRepository: BackupRepository,
            passwordFile: String, restoresDirectory: String, publicURL: String? = nil
        ) {
            self.dataDirectory = dataDirectory
            self.database = database
            self.serverBackupLocation = serverBackupLocation
            self.backupRepository = backupRepository
            self.passwordFile = passwordFile
            self.restoresDirectory = restoresDirectory
            self.publicURL = publicURL
        }
    }

    /// The service's database, without credentials.
    public enum Database: Sendable, Codable, Hashable {
        /// The embedded default: one file, one node.
        case sqlite(path: String)
        /// A shared PostgreSQL database. There is deliberately no password: the plan is printed and shared.
        case postgresql(host: String, port: Int, database: String, user: String?)

        /// Describes a `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` URL, dropping the password.
        /// - Throws: `CoreError.invalidInput` with `invalid_database` when the URL has no host or database.
        public static func postgresql(url: String) throws(CoreError) -> Database {
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"), let components = URLComponents(string: url),
                let host = components.host, !host.isEmpty
            else {
                throw CoreError.invalidInput(
                    "invalid_database", "The database URL is not of the form postgres://USER@HOST:PORT/DB; give the host and database.")
            }
            let name = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
            guard !name.isEmpty, !name.contains("/") else {
                throw CoreError.invalidInput("invalid_database", "The database URL names no database; end it with /DBNAME.")
            }
            let user = components.user.flatMap { $0.isEmpty ? nil : $0 }
            return .postgresql(host: host, port: components.port ?? 5_432, database: name, user: user)
        }
    }

    /// A tenant's restic repository, without credentials.
    public enum BackupRepository: Sendable, Codable, Hashable {
        /// A folder on the server (or a mounted share), absolute.
        case local(directory: String)
        /// An S3 (or compatible) repository in restic's notation: `s3:https://HOST[:PORT]/BUCKET/PREFIX`.
        case s3(url: String)

        /// The argument for `restic -r`. Any user information in an S3 URL is dropped, so a credential that
        /// slipped into the configuration still never reaches a plan.
        public var resticArgument: String {
            switch self {
            case .local(let directory): return directory
            case .s3(let url): return PlanText.withoutUserInfo(url)
            }
        }

        /// The value for `holdfast serve --backup-repository`: `local:DIR` or the S3 URL, without credentials.
        public var flagValue: String {
            switch self {
            case .local(let directory): return "local:" + directory
            case .s3(let url): return PlanText.withoutUserInfo(url)
            }
        }

        /// The flag value exactly as given, credentials and all; only for ``PlanInputs/validated()`` to compare.
        fileprivate var rawFlagValue: String {
            switch self {
            case .local(let directory): return "local:" + directory
            case .s3(let url): return url
            }
        }

        /// Whether the repository is on the server itself, and so lost with the server's disk.
        public var isOnServer: Bool {
            if case .local = self { return true }
            return false
        }
    }
}

// MARK: - Support and maintenance

extension PlanInputs {
    /// The support desk as the plans describe it: when it is open and what it promises.
    public struct Support: Sendable, Codable, Hashable {
        /// The IANA zone of the support calendar.
        public var timeZone: String
        /// The weekly hours in words, e.g. `Mon–Fri 09:00–17:00`.
        public var openingHours: String
        /// How many holidays the calendar closes for.
        public var holidayCount: Int
        /// Business minutes until the first response, as the SLA policy promises.
        public var firstResponseMinutes: Int
        /// The address whose mail reaches `holdfast mail-gate`; `nil` when mail tickets are not set up.
        public var email: String?
        /// The support line, where an agent enters tickets by phone; `nil` when there is none.
        public var phone: String?

        public init(
            timeZone: String, openingHours: String, holidayCount: Int, firstResponseMinutes: Int, email: String? = nil,
            phone: String? = nil
        ) {
            self.timeZone = timeZone
            self.openingHours = openingHours
            self.holidayCount = holidayCount
            self.firstResponseMinutes = firstResponseMinutes
            self.email = email
            self.phone = phone
        }

        /// The summary of a support calendar and its first-response promise.
        public init(calendar: BusinessCalendar, firstResponseMinutes: Int, email: String? = nil, phone: String? = nil) {
            self.init(
                timeZone: calendar.timeZone.identifier, openingHours: Self.openingHours(calendar.weeklyHours),
                holidayCount: calendar.holidays.count, firstResponseMinutes: firstResponseMinutes, email: email, phone: phone
            )
        }

        /// Weekly hours in words, consecutive days with the same hours run together:
        /// `Mon–Fri 09:00–17:00; Sat 10:00–13:00`.
        public static func openingHours(_ intervals: [OpeningInterval]) -> String {
            let days = Weekday.allCases.map { day in
                (
                    day,
                    intervals.filter { $0.day == day }.sorted { $0.opens < $1.opens }.map { "\($0.opens)–\($0.closes)" }
                        .joined(separator: ", ")
                )
            }
            var runs: [(first: Weekday, last: Weekday, hours: String)] = []
            for (day, hours) in days where !hours.isEmpty {
                if let last = runs.last, last.hours == hours,
                    Weekday.allCases.firstIndex(of: last.last)! + 1 == Weekday.allCases.firstIndex(of: day)!
                {
                    runs[runs.count - 1].last = day
                } else {
                    runs.append((day, day, hours))
                }
            }
            guard !runs.isEmpty else { return "no opening hours" }
            let name = { (day: Weekday) in day.rawValue.prefix(1).uppercased() + day.rawValue.dropFirst() }
            return runs.map { run in
                (run.first == run.last ? name(run.first) : "\(name(run.first))–\(name(run.last))") + " \(run.hours)"
            }
            .joined(separator: "; ")
        }
    }

    /// How planned maintenance treats the tenant's users.
    public struct Maintenance: Sendable, Codable, Hashable {
        /// How long before its start a window is announced at the latest.
        public var minimumNoticeSeconds: Int
        /// When reminders go out, as time before the start.
        public var reminderOffsetsSeconds: [Int]
        /// Whether windows are placed in the quietest hours of recorded usage.
        public var placedInQuietestHours: Bool
        /// Whether sessions are snapshotted and closed when a window starts (rather than cut off).
        public var sessionsSavedAndClosedAtStart: Bool

        public init(
            minimumNoticeSeconds: Int, reminderOffsetsSeconds: [Int], placedInQuietestHours: Bool, sessionsSavedAndClosedAtStart: Bool
        ) {
            self.minimumNoticeSeconds = minimumNoticeSeconds
            self.reminderOffsetsSeconds = reminderOffsetsSeconds
            self.placedInQuietestHours = placedInQuietestHours
            self.sessionsSavedAndClosedAtStart = sessionsSavedAndClosedAtStart
        }

        /// Announced at least 24 h ahead, in the quietest hours, reminders 24 h and 1 h before, sessions
        /// saved and closed at the start.
        public static let standard = Maintenance(
            minimumNoticeSeconds: 86_400, reminderOffsetsSeconds: [86_400, 3_600], placedInQuietestHours: true,
            sessionsSavedAndClosedAtStart: true
        )
    }
}
