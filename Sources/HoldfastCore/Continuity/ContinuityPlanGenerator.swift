import Foundation

/// Writes a tenant's continuity plans on the NIST SP 800-34 Rev. 1 contingency-plan skeleton.
///
/// Both plans have the same outline — 1 Introduction, 2 Concept of Operations, 3 Activation and Notification,
/// 4 Recovery, 5 Reconstitution, appendices A contacts, B procedures, C test schedule, D support hours and SLA,
/// E maintenance policy — so a reader who knows one finds their way in the other. They differ in emphasis:
/// the Disaster Recovery Plan restores the service and its data (RPO, RTO, the commands for this deployment);
/// the Business Continuity Plan keeps the customer's work going (held sessions, support channels, the
/// communication plan and the status page).
///
/// Generation is a pure function of its arguments: the same inputs, version and time give the same plan.
public enum ContinuityPlanGenerator {
    /// Bumped whenever the wording or structure below changes; part of ``PlanInputs/digest``, so every tenant
    /// gets a new plan version when the template improves.
    public static let templateVersion = 1

    /// Minutes to wait for a troubleshooter to answer before calling the next one.
    public static let escalationWaitMinutes = 15

    /// The plan of `kind` for `inputs`, numbered `version` and dated `now`.
    public static func generate(kind: ContinuityPlan.Kind, inputs: PlanInputs, version: Int, now: Date) -> ContinuityPlan {
        let writer = PlanWriter(inputs: inputs)
        let sections: [PlanSection]
        switch kind {
        case .disasterRecovery: sections = writer.disasterRecovery() + writer.appendices(for: kind)
        case .businessContinuity: sections = writer.businessContinuity() + writer.appendices(for: kind)
        }
        return ContinuityPlan(
            kind: kind, tenant: inputs.tenantSlug, version: version, generatedAt: now, rpoSeconds: inputs.rpoSeconds,
            rtoSeconds: inputs.rto.seconds, troubleshooters: inputs.troubleshooters, sections: sections, lastDrill: inputs.latestDrill
        )
    }
}

/// The words of the plans, with the commands of one deployment worked out once.
private struct PlanWriter {
    let inputs: PlanInputs
    let commands: RecoveryCommands

    init(inputs: PlanInputs) {
        self.inputs = inputs
        self.commands = RecoveryCommands(inputs: inputs)
    }

    // MARK: Shared phrases

    var name: String { PlanText.escaped(self.inputs.tenantName) }
    var slug: String { PlanText.code(self.inputs.tenantSlug) }
    var rpo: String { DurationText.format(seconds: self.inputs.rpoSeconds) }
    var grace: String { DurationText.format(seconds: self.inputs.graceSeconds) }

    /// The RTO with where it comes from, as the plans must say.
    var rtoStatement: String {
        let target = DurationText.format(seconds: self.inputs.rtoTargetSeconds)
        guard let drill = self.inputs.latestDrill else {
            return "\(target), the target; no drill has run yet to prove it"
        }
        let outcome = drill.passed ? "passed" : "failed"
        return "\(DurationText.format(seconds: drill.rtoSeconds)), measured by the drill of \(Self.instant(drill.finishedAt)), "
            + "which \(outcome); the target is \(target)"
    }

    var rpoStatement: String {
        "\(self.rpo); a connected session's changed workspace is snapshotted every \(self.rpo), "
            + "and a session is snapshotted at once when its connection drops, so at most \(self.rpo) of work is lost"
    }

    /// The escalation list as numbered lines, the way it is called.
    var escalationList: String {
        Self.numbered(
            self.inputs.troubleshooters.map { person in
                var ways: [String] = []
                if let email = person.email { ways.append("e-mail \(PlanText.code(email))") }
                if let phone = person.phone { ways.append("phone \(PlanText.code(phone))") }
                return "\(PlanText.escaped(person.name)), \(PlanText.escaped(person.role)) — \(ways.joined(separator: ", "))"
            }
        )
    }

    /// A path of the service: an autolink when the public address is known, else the path as code.
    func address(_ path: String) -> String {
        if let base = self.inputs.deployment.publicURL.map({ $0.hasSuffix("/") ? String($0.dropLast()) : $0 }),
            PlanText.isLinkable(base + path)
        {
            return "<\(base + path)>"
        }
        return PlanText.code(path)
    }

    // MARK: Disaster Recovery Plan

    func disasterRecovery() -> [PlanSection] {
        let deployment = self.inputs.deployment
        let commands = self.commands
        let repository = PlanText.code(deployment.backupRepository.resticArgument)
        let repositoryAssumption =
            deployment.backupRepository.isOnServer
            ? "The backup repository \(repository) is a folder on the server: it does not survive the loss of the server's disk. "
                + "Copy it off the machine regularly, or move to an S3 repository, for this plan to cover a lost server."
            : "The backup repository \(repository) is in object storage, apart from the server, so it survives the loss of the server."
        return [
            PlanSection(
                title: "1 Introduction",
                body: "This Disaster Recovery Plan for \(self.name) (tenant \(self.slug)) follows the contingency-plan structure of "
                    + "NIST SP 800-34 Rev. 1. It says how the Holdfast service and the tenant's data are restored after a disruption, "
                    + "who is called and in what order. It is generated from the service's real configuration and regenerated, "
                    + "as a new version, whenever one of its inputs changes."
            ),
            PlanSection(
                title: "1.1 Purpose",
                body: "Restore the service and the tenant's workspaces within these objectives:\n\n"
                    + Self.bullets([
                        "Recovery point objective (RPO): \(self.rpoStatement).",
                        "Recovery time objective (RTO): \(self.rtoStatement).",
                    ])
            ),
            PlanSection(
                title: "1.2 Scope",
                body: Self.bullets([
                    "The tenant's workspaces, kept as snapshots in the restic repository \(repository).",
                    "The service database (\(commands.databaseDescription)): accounts, sessions and their timelines, tickets, plans.",
                    "The repository password file \(PlanText.code(deployment.passwordFile)).",
                    "The Holdfast server and its data directory \(PlanText.code(deployment.dataDirectory)).",
                ]) + "\n\nOut of scope: users' own devices and networks, and keeping their work going during the outage "
                    + "(see the Business Continuity Plan)."
            ),
            PlanSection(
                title: "1.3 Assumptions",
                body: Self.bullets([
                    repositoryAssumption,
                    "The password file \(PlanText.code(deployment.passwordFile)) is kept safe off the machine: "
                        + "without it the snapshots cannot be read.",
                    "The recovery host runs Debian with restic, tmux, TigerVNC, bubblewrap, the holdfast binary and "
                        + "\(commands.databaseTools).",
                    "A drill's RTO covers restoring and verifying the workspaces; it does not include noticing the outage "
                        + "or preparing a replacement host.",
                    "The troubleshooters in Appendix A can be reached as listed.",
                ])
            ),
            PlanSection(
                title: "2 Concept of Operations",
                body: "The service is recovered by an operator following section 4, led by the first troubleshooter who answers."
            ),
            PlanSection(
                title: "2.1 System description",
                body: "Holdfast runs terminal and Linux desktop sessions that users open in their browser. "
                    + "Sessions run on the server; each user's workspace is a folder backed up with restic. This deployment:\n\n"
                    + Self.bullets([
                        "Data directory: \(PlanText.code(deployment.dataDirectory)).",
                        "Database: \(commands.databaseDescription).",
                        "Backups: the tenant's restic repository \(repository), password file \(PlanText.code(deployment.passwordFile)).",
                        "Snapshots: every \(self.rpo) while a session is connected, at once when its connection drops, and a final "
                            + "verified one when it closes; a workspace is never released before that snapshot succeeded.",
                        "Held sessions: a dropped session is kept for \(self.grace) from the last traffic received.",
                    ])
            ),
            PlanSection(
                title: "2.2 Roles and responsibilities",
                body: Self.bullets([
                    "Operator: declares the disaster, runs the recovery procedures of section 4 and records the times.",
                    "Troubleshooters (Appendix A), in escalation order: the first who answers leads the recovery.",
                    "Support agents: answer the tenant's tickets and post updates on the status page.",
                    "Tenant administrators: tell their users and confirm that work is back.",
                ])
            ),
            PlanSection(
                title: "3 Activation and Notification",
                body: "The plan is activated by the operator or the first troubleshooter reached, when a criterion below is met. "
                    + "Record the time of activation: the recovery time is measured from it."
            ),
            PlanSection(
                title: "3.1 Activation criteria",
                body: Self.bullets([
                    "The server or its host is lost, or the service does not answer \(commands.health) and a restart does not bring it back.",
                    "The database is lost or fails its integrity check.",
                    "The backup repository is lost or unreachable, or restic check reports errors.",
                    "A recovery drill fails.",
                    "Users report lost data that a restore beside the live copy cannot repair.",
                ])
            ),
            PlanSection(
                title: "3.2 Notification procedures",
                body: "Call the troubleshooters in this order; when one does not answer within "
                    + "\(ContinuityPlanGenerator.escalationWaitMinutes) minutes, call the next. "
                    + "Say who you are, what failed, and since when.\n\n" + self.escalationList
                    + "\n\nThen open an incident on the status page \(self.address("/status")); its Atom feed "
                    + "\(self.address("/status/feed.atom")) and e-mail notices tell the tenant's users."
            ),
            PlanSection(
                title: "3.3 Outage assessment",
                body: Self.numbered([
                    "Is the server answering? \(commands.health)",
                    "Is the database intact? \(commands.databaseCheck)",
                    "Is the repository readable? \(PlanText.code(commands.snapshots))",
                    "Is it sound? \(PlanText.code(commands.check))",
                    "How old is the newest snapshot? Compare with the RPO of \(self.rpo).",
                    "Decide between a restart and a recovery under section 4, and record the decision and its time.",
                ])
            ),
            PlanSection(
                title: "4 Recovery",
                body: "Recover in the order of 4.1; each step needs the one before. The commands in 4.2 are this deployment's own."
            ),
            PlanSection(
                title: "4.1 Sequence of recovery activities",
                body: Self.numbered(
                    [
                        "Prepare the host: Debian with restic, tmux, TigerVNC, bubblewrap, the holdfast binary and \(commands.databaseTools).",
                        "Put the password file back at \(PlanText.code(deployment.passwordFile)) (mode 0600) from the server's backup.",
                        "Restore the database (4.2).",
                    ]
                        + (deployment.backupRepository.isOnServer
                            ? ["Put the backup repository back at \(repository) if the disk was lost."]
                            : ["Set AWS\\_ACCESS\\_KEY\\_ID and AWS\\_SECRET\\_ACCESS\\_KEY from the operator's secret store."])
                        + [
                            "Check the repository: \(PlanText.code(commands.check))",
                            "Start the server: \(PlanText.code(commands.serve))",
                            "Workspaces come back by themselves: a session that starts on a host without a current copy "
                                + "restores the user's newest snapshot first.",
                            "Prove the recovery with a drill: \(PlanText.code(commands.drill))",
                            "Reconstitute (section 5).",
                        ]
                )
            ),
            PlanSection(
                title: "4.2 Recovery procedures",
                body: "Backup repository of the tenant:\n\n" + Self.bullets(commands.repositoryProcedures) + "\n\nDatabase:\n\n"
                    + Self.bullets(commands.databaseProcedures) + "\n\nService:\n\n"
                    + Self.bullets(
                        [
                            "Start: \(PlanText.code(commands.serve))",
                            "Drill: \(PlanText.code(commands.drill))",
                        ] + commands.serviceNotes
                    )
            ),
            PlanSection(
                title: "4.3 Recovery escalation",
                body: "When a step fails, or the recovery will take longer than the RTO (\(self.rtoStatement)), call the next "
                    + "troubleshooter in Appendix A and post an update on the status page."
            ),
            PlanSection(
                title: "5 Reconstitution",
                body: "The service is reconstituted when the checks below pass; only then is the plan deactivated."
            ),
            PlanSection(
                title: "5.1 Validation data testing",
                body: Self.bullets([
                    "The repository is sound: \(PlanText.code(commands.check))",
                    "The database is intact: \(commands.databaseCheck)",
                    "A drill passes: \(PlanText.code(commands.drill)) restores the newest snapshots into scratch space, "
                        + "compares every file's size and SHA-256 digest with the snapshot, and measures the time.",
                ])
            ),
            PlanSection(
                title: "5.2 Validation functionality testing",
                body: Self.bullets([
                    "The service answers: \(commands.health)",
                    "A test user starts a terminal session, drops the connection, and resumes it within \(self.grace).",
                    "A test user starts a desktop session and files a ticket.",
                ])
            ),
            PlanSection(
                title: "5.3 Deactivation",
                body: Self.numbered([
                    "Declare the recovery over and record the time; the recovery time is that time minus the activation time.",
                    "Resolve the incident on the status page; its feed and e-mail notices tell the tenant's users.",
                    "Tell the troubleshooters and the tenant administrators.",
                    "Remove the scratch restores under \(PlanText.code(deployment.restoresDirectory)).",
                    "Take fresh copies of the database and the password file, and keep them off the machine.",
                    "Write up what happened, what worked and what did not, and improve this plan's inputs.",
                ])
            ),
        ]
    }

    // MARK: Business Continuity Plan

    func businessContinuity() -> [PlanSection] {
        let support = self.inputs.support
        let sla = self.firstResponse
        return [
            PlanSection(
                title: "1 Introduction",
                body: "This Business Continuity Plan for \(self.name) (tenant \(self.slug)) follows the contingency-plan structure of "
                    + "NIST SP 800-34 Rev. 1. It says how the tenant's users keep working when the Holdfast service is disrupted: "
                    + "what happens to their sessions, how they reach support, and how they are kept informed. Restoring the "
                    + "service itself is the subject of the Disaster Recovery Plan: "
                    + "\(PlanText.code(self.commands.renderPlan(.disasterRecovery)))."
            ),
            PlanSection(
                title: "1.1 Purpose",
                body: Self.bullets([
                    "Keep sessions alive across dropped connections: a session is held for \(self.grace) and resumes where it was.",
                    "Limit lost work to the RPO of \(self.rpoStatement).",
                    "Bring the service back within the RTO of \(self.rtoStatement).",
                    "Give users a way to reach support on every channel, and keep them informed.",
                ])
            ),
            PlanSection(
                title: "1.2 Scope",
                body: Self.bullets([
                    "The terminal and desktop sessions of the tenant's users, and their workspaces.",
                    "The support desk: tickets by web form, API, e-mail and phone, with a first-response promise.",
                    "The status page and its feeds, and planned maintenance.",
                ]) + "\n\nOut of scope: recovering the servers and their data (see the Disaster Recovery Plan)."
            ),
            PlanSection(
                title: "1.3 Assumptions",
                body: Self.bullets([
                    "Users reach the service over the internet from their own devices and browsers.",
                    "The status page is served by the Holdfast server itself: when the server is down, so is the page, and "
                        + "e-mail, phone and the troubleshooters in Appendix A are the way to reach people.",
                    "Users keep the browser tab of a dropped session open or come back to it within \(self.grace).",
                ])
            ),
            PlanSection(
                title: "2 Concept of Operations",
                body: "Work continues on the server while connections come and go; when the service itself is down, the tenant "
                    + "is kept informed and support takes tickets until the Disaster Recovery Plan has brought it back."
            ),
            PlanSection(
                title: "2.1 System description",
                body: Self.bullets([
                    "Sessions run on the server, not in the browser: closing the laptop or losing the network does not end them.",
                    "A dropped session is held for \(self.grace), counted from the last traffic received; it resumes with "
                        + "the live screen, and the viewer reconnects by itself.",
                    "A snapshot of the workspace is taken when the connection drops, every \(self.rpo) while connected, "
                        + "and when the session closes.",
                    "Users can list their snapshots, browse them and restore a file or folder beside the live copy, "
                        + "never over it.",
                ])
            ),
            PlanSection(
                title: "2.2 Roles and responsibilities",
                body: Self.bullets([
                    "Users: reconnect, report problems with the time they occurred and what happened.",
                    "Tenant administrators: tell their users, collect reports, confirm when work is back.",
                    "Support agents: answer tickets \(sla), post updates on the status page.",
                    "Operator: runs the Disaster Recovery Plan and announces maintenance.",
                    "Troubleshooters (Appendix A), in escalation order: decide and coordinate.",
                ])
            ),
            PlanSection(
                title: "3 Activation and Notification",
                body: "The plan is activated when users cannot work and reconnecting does not help, or ahead of planned maintenance."
            ),
            PlanSection(
                title: "3.1 Activation criteria",
                body: Self.bullets([
                    "The service is unreachable for longer than a reconnect, or sessions cannot be started or resumed.",
                    "An outage is expected to outlast the \(self.grace) hold of dropped sessions.",
                    "A maintenance window is announced (Appendix E).",
                    "Users report lost or damaged files.",
                ])
            ),
            PlanSection(
                title: "3.2 Notification procedures",
                body: "Users are told through:\n\n"
                    + Self.bullets([
                        "the status page \(self.address("/status")): components, incidents and their updates, upcoming maintenance;",
                        "its Atom feed \(self.address("/status/feed.atom")) and the maintenance calendar \(self.address("/status/maintenance.ics"));",
                        "e-mail notices, and a banner in open sessions.",
                    ]) + "\n\nThe tenant escalates to the troubleshooters in this order, calling the next when one does not answer "
                    + "within \(ContinuityPlanGenerator.escalationWaitMinutes) minutes:\n\n" + self.escalationList
            ),
            PlanSection(
                title: "3.3 Outage assessment",
                body: Self.numbered([
                    "Look at the status page \(self.address("/status")) for a known incident or maintenance.",
                    "Keep the session's tab open: the viewer reconnects by itself; note when the connection dropped.",
                    "If it does not come back within a few minutes, file an outage ticket with when it occurred and what happened.",
                    "If the session may stay away for more than \(self.grace), expect it to be closed with a final snapshot.",
                ])
            ),
            PlanSection(
                title: "4 Recovery",
                body: "For users, recovery means getting back to their work; the service itself is recovered under the "
                    + "Disaster Recovery Plan, within its RTO."
            ),
            PlanSection(
                title: "4.1 Sequence of recovery activities",
                body: Self.numbered([
                    "Within \(self.grace) of the drop: reconnect (or just wait); the session resumes exactly where it was.",
                    "After that: start a new session; the workspace is restored from the newest snapshot, losing at most \(self.rpo) of work.",
                    "Need an older version of a file? Restore it from a snapshot beside the live copy.",
                    "While the service is down: keep filing and following tickets by e-mail or phone.",
                ])
            ),
            PlanSection(
                title: "4.2 Recovery procedures",
                body: "In the portal, or with the API (an access token in the Authorization header):\n\n"
                    + Self.bullets(self.userProcedures)
            ),
            PlanSection(
                title: "4.3 Communication plan",
                body: "Support channels:\n\n" + Self.bullets(self.supportChannels)
                    + "\n\nThe first response comes \(sla), on the support calendar of Appendix D. During an incident the "
                    + "status page is updated at every change, and the tenant administrators are told directly.\n\n"
                    + "Support is open \(PlanText.escaped(support.openingHours)) (\(PlanText.code(support.timeZone)))."
            ),
            PlanSection(
                title: "5 Reconstitution",
                body: "Normal work is back when users can start and resume sessions and their files are as they left them."
            ),
            PlanSection(
                title: "5.1 Validation",
                body: Self.bullets([
                    "Users start a session and check their recent files; anything missing is restored from a snapshot.",
                    "Tenant administrators confirm with their users that work is back.",
                    "The latest drill (Appendix C) shows that the restore was verified.",
                ])
            ),
            PlanSection(
                title: "5.2 Deactivation",
                body: Self.numbered([
                    "The incident is resolved on the status page; the feed and e-mail notices tell users.",
                    "Open outage tickets are answered and closed.",
                    "What happened is written up, and this plan's inputs are improved; the plan regenerates itself.",
                ])
            ),
        ]
    }

    // MARK: Appendices

    func appendices(for kind: ContinuityPlan.Kind) -> [PlanSection] {
        [
            PlanSection(
                title: "Appendix A: Contacts",
                body: "Troubleshooters, in escalation order: call the first; when nobody answers within "
                    + "\(ContinuityPlanGenerator.escalationWaitMinutes) minutes, the next.\n\n" + self.escalationList
            ),
            PlanSection(title: "Appendix B: Procedures", body: self.procedures(for: kind)),
            PlanSection(title: "Appendix C: Test schedule", body: self.testSchedule),
            PlanSection(
                title: "Appendix D: Support hours and SLA",
                body: Self.bullets([
                    "Opening hours: \(PlanText.escaped(self.inputs.support.openingHours)), "
                        + "time zone \(PlanText.code(self.inputs.support.timeZone)).",
                    "Holidays: \(self.inputs.support.holidayCount) on the calendar, on which support is closed.",
                    "First response: \(self.firstResponse).",
                    "A ticket filed outside opening hours starts counting at the next opening; time waiting on the customer "
                        + "does not count.",
                ]) + "\n\nChannels:\n\n" + Self.bullets(self.supportChannels)
            ),
            PlanSection(title: "Appendix E: Maintenance policy", body: self.maintenancePolicy),
        ]
    }

    /// What users and tenant administrators do themselves, through the portal or the API.
    var userProcedures: [String] {
        [
            "List your snapshots: \(PlanText.code("GET /api/v1/workspace/snapshots"))",
            "Browse one: \(PlanText.code("GET /api/v1/workspace/snapshots/{id}/files?path=P"))",
            "Restore beside the live copy: \(PlanText.code("POST /api/v1/workspace/restore {\"snapshot\":\"ID\",\"path\":\"P\"}"))",
            "See what happened to a session: \(PlanText.code("GET /api/v1/sessions/{id}/events"))",
            "Report an outage: \(PlanText.code("POST /api/v1/tickets {\"kind\":\"outage\",\"subject\":…,\"occurredAt\":…,\"whatHappened\":…}"))",
        ]
    }

    /// Appendix B: the operator's commands in the recovery plan, the users' own steps in the continuity plan.
    func procedures(for kind: ContinuityPlan.Kind) -> String {
        switch kind {
        case .disasterRecovery:
            return "Every command of the recovery, for this deployment:\n\n" + Self.bullets(self.commands.reference)
        case .businessContinuity:
            return "What users and tenant administrators can do themselves, in the portal or with the API:\n\n"
                + Self.bullets(self.userProcedures) + "\n\nThe commands that recover the service are in Appendix B of the "
                + "Disaster Recovery Plan: \(PlanText.code(self.commands.renderPlan(.disasterRecovery)))."
        }
    }

    var firstResponse: String {
        let minutes = self.inputs.support.firstResponseMinutes
        return "within \(SupportTimeText.businessMinutes(minutes)) of business time"
    }

    var supportChannels: [String] {
        let support = self.inputs.support
        return [
            "Web form: the portal \(self.address("/")), ticket kinds bug, outage and question.",
            "API: \(PlanText.code("POST /api/v1/tickets {\"kind\":\"outage\",\"subject\":…,\"occurredAt\":…,\"whatHappened\":…}")).",
            support.email.map { "E-mail: \(PlanText.code($0)); replies thread by ticket number." }
                ?? "E-mail: not set up for this service; use the web form or the API.",
            support.phone.map { "Phone: \(PlanText.code($0)); an agent enters the ticket." }
                ?? "Phone: no support line; call the troubleshooters in Appendix A in an emergency.",
        ]
    }

    var testSchedule: String {
        let interval = self.inputs.drillIntervalDays
        var text =
            "A drill (\(PlanText.code(self.commands.drill))) restores the tenant's newest snapshots into scratch space, "
            + "checks the repository, compares every restored file's size and SHA-256 digest with the snapshot, and measures "
            + "the time against the RTO target of \(DurationText.format(seconds: self.inputs.rtoTargetSeconds)). "
            + "Drills are due every \(interval) days.\n\n"
        guard let drill = self.inputs.latestDrill else {
            return text + "No drill has run yet, so the RTO is the target, not a measurement. Run one now: "
                + "\(PlanText.code(self.commands.drill))."
        }
        text += Self.bullets([
            "Last drill: \(Self.instant(drill.finishedAt)), \(drill.passed ? "passed" : "failed").",
            "RTO achieved: \(DurationText.format(seconds: drill.rtoSeconds)) against a target of "
                + "\(DurationText.format(seconds: drill.rtoTargetSeconds)).",
            "Verified: \(drill.snapshotsRestored) snapshots, \(drill.filesVerified) files, \(ByteText.format(drill.bytesVerified)).",
            "Next drill due by: \(Self.instant(drill.finishedAt.addingTimeInterval(TimeInterval(interval) * 86_400))).",
        ])
        if !drill.failures.isEmpty {
            text += "\n\nProblems found:\n\n" + Self.bullets(drill.failures.map(PlanText.escaped))
        }
        return text
    }

    var maintenancePolicy: String {
        let policy = self.inputs.maintenance
        var items = [
            "Announced at least \(PlanText.duration(policy.minimumNoticeSeconds)) ahead, on the status page, "
                + "in its maintenance calendar \(self.address("/status/maintenance.ics")) and by e-mail."
        ]
        if policy.placedInQuietestHours {
            items.append("Placed in the quietest hours of the recorded usage, counted in the tenant's time zone.")
        }
        if !policy.reminderOffsetsSeconds.isEmpty {
            let offsets = policy.reminderOffsetsSeconds.sorted(by: >).map(PlanText.duration)
            items.append("Reminders \(offsets.joined(separator: " and ")) before the start, and notices at the start and the end.")
        }
        items.append(
            policy.sessionsSavedAndClosedAtStart
                ? "At the start, open sessions are snapshotted and closed, so no work is lost; users start a new session afterwards."
                : "Open sessions are left running; save your work before the start."
        )
        items.append("A rescheduled window is announced again.")
        return Self.bullets(items)
    }

    // MARK: Formatting

    static func bullets(_ items: [String]) -> String {
        items.map { "- " + $0 }.joined(separator: "\n")
    }

    static func numbered(_ items: [String]) -> String {
        items.enumerated().map { "\($0.offset + 1). " + $0.element }.joined(separator: "\n")
    }

    static func instant(_ date: Date) -> String { PlanText.instant(date) }
}

/// The real commands of one deployment, each ready to paste into a shell.
private struct RecoveryCommands {
    let snapshots: String
    let check: String
    let unlock: String
    let restore: String
    let serve: String
    let drill: String
    let health: String
    let databaseDescription: String
    let databaseTools: String
    let databaseCheck: String
    /// What each database command is for, and the command.
    let databaseSteps: [(purpose: String, command: String)]
    let databaseNotes: [String]
    let serviceNotes: [String]
    let repositoryProcedures: [String]
    private let location: String
    private let tenantSlug: String

    init(inputs: PlanInputs) {
        self.tenantSlug = inputs.tenantSlug
        let deployment = inputs.deployment
        let word = PlanText.shellWord
        let restic = "restic -r \(word(deployment.backupRepository.resticArgument)) --password-file \(word(deployment.passwordFile))"
        self.snapshots = "\(restic) snapshots"
        self.check = "\(restic) check"
        self.unlock = "\(restic) unlock"
        let target = deployment.restoresDirectory + "/recovery-" + inputs.tenantSlug
        self.restore = "\(restic) restore latest --tag user=USER_ID --target \(word(target))/USER_ID"

        var location = "--data-dir \(word(deployment.dataDirectory))"
        var databaseFlag: String
        switch deployment.database {
        case .sqlite(let path):
            databaseFlag = "sqlite:" + path
            self.databaseDescription = "SQLite file \(PlanText.code(path))"
            self.databaseTools = "sqlite3"
            let copy = path + ".bak"
            let checkCommand = "sqlite3 \(word(path)) \(word("PRAGMA integrity_check;"))"
            self.databaseCheck = "\(PlanText.code(checkCommand)) answers ok"
            self.databaseSteps = [
                ("Copy it consistently while the server runs", "sqlite3 \(word(path)) \(word(".backup \(Self.dotArgument(copy))"))"),
                ("Check it", checkCommand),
                ("Restore it, with the server stopped", "sqlite3 \(word(path)) \(word(".restore \(Self.dotArgument(copy))"))"),
            ]
            self.databaseNotes = ["Keep the copy off the machine with the password file."]
            self.serviceNotes = []
        case .postgresql(let host, let port, let database, let user):
            let userPart = user.map { $0 + "@" } ?? ""
            databaseFlag = "postgres://\(userPart)\(host):\(port)/\(database)"
            location += " --database \(word(databaseFlag))"
            self.databaseDescription =
                "PostgreSQL database \(PlanText.code(database)) on \(PlanText.code("\(host):\(port)"))"
                + (user.map { " as user \(PlanText.code($0))" } ?? "")
            self.databaseTools = "the PostgreSQL client tools (pg_dump, pg_restore, pg_isready)"
            var connection = "--host=\(word(host)) --port=\(port)"
            if let user { connection += " --username=\(word(user))" }
            let dump = word(deployment.dataDirectory + "/\(database).dump")
            self.databaseCheck = "\(PlanText.code("pg_isready --host=\(word(host)) --port=\(port)")) accepts connections"
            self.databaseSteps = [
                ("Dump it", "pg_dump \(connection) --format=custom --file=\(dump) \(word(database))"),
                ("Restore it, with the server stopped", "pg_restore \(connection) --dbname=\(word(database)) --clean --if-exists \(dump)"),
            ]
            self.databaseNotes = [
                "pg\\_dump and pg\\_restore read the password from \\~/.pgpass or PGPASSWORD; it is never written in this plan.",
                "Keep the dump off the machine with the password file.",
            ]
            self.serviceNotes = [
                "Give the server the database password the way this installation does; it is never written in this plan."
            ]
        }
        self.location = location
        self.serve =
            "holdfast serve --data-dir \(word(deployment.dataDirectory)) --database \(word(databaseFlag)) "
            + "--backup-repository \(word(deployment.serverBackupLocation.flagValue))"
        self.drill = "holdfast drill --tenant \(word(inputs.tenantSlug)) \(location)"
        if let base = deployment.publicURL.map({ $0.hasSuffix("/") ? String($0.dropLast()) : $0 }),
            PlanText.isLinkable(base + "/healthz")
        {
            self.health = PlanText.code("curl -fsS \(word(base + "/healthz"))")
        } else {
            self.health = "\(PlanText.code("/healthz")) (at the address the server printed when it started)"
        }
        var repository = [
            "List the snapshots (each user's carry the tag user=USER\\_ID): \(PlanText.code(self.snapshots))",
            "Verify the repository: \(PlanText.code(self.check))",
            "Remove a stale lock left by a killed run: \(PlanText.code(self.unlock))",
            "Restore one user's newest workspace into scratch space: \(PlanText.code(self.restore))",
        ]
        if !deployment.backupRepository.isOnServer {
            repository.append(
                "restic reads AWS\\_ACCESS\\_KEY\\_ID and AWS\\_SECRET\\_ACCESS\\_KEY from the environment; take them from the "
                    + "operator's secret store (they are never written in this plan)."
            )
        }
        self.repositoryProcedures = repository
    }

    var databaseProcedures: [String] {
        self.databaseSteps.map { "\($0.purpose): \(PlanText.code($0.command))" } + self.databaseNotes
    }

    /// `holdfast plan render` for this tenant.
    func renderPlan(_ kind: ContinuityPlan.Kind) -> String {
        "holdfast plan render --tenant \(PlanText.shellWord(self.tenantSlug)) --plan \(kind.rawValue) --format html \(self.location)"
    }

    /// Every command, for appendix B.
    var reference: [String] {
        [
            PlanText.code(self.snapshots), PlanText.code(self.check), PlanText.code(self.unlock), PlanText.code(self.restore),
        ] + self.databaseSteps.map { PlanText.code($0.command) } + [PlanText.code(self.serve), PlanText.code(self.drill)]
            + ContinuityPlan.Kind.allCases.map { PlanText.code(self.renderPlan($0)) }
    }

    /// A file name as an argument of a sqlite3 dot-command: bare when simple, else double-quoted.
    private static func dotArgument(_ path: String) -> String {
        path.contains(where: { $0 == " " || $0 == "\"" || $0 == "'" })
            ? "\"" + path.replacingOccurrences(of: "\"", with: "\\\"") + "\"" : path
    }
}
