import Foundation
import HoldfastCore
import Testing

/// What the plans are made from: the objectives derived from it, and the digest that decides a new version.
@Suite("Plan inputs")
struct PlanInputsTests {
    @Test func theRPOIsTheSnapshotInterval() throws {
        var inputs = try PlanFixtures.inputs()
        #expect(inputs.rpoSeconds == 300)
        inputs.snapshotIntervalSeconds = 600
        #expect(inputs.rpoSeconds == 600)
        let plan = ContinuityPlanGenerator.generate(kind: .disasterRecovery, inputs: inputs, version: 1, now: PlanFixtures.now)
        #expect(plan.rpoSeconds == 600)
    }

    @Test func withoutADrillTheRTOIsTheTargetAndThePlanSaysItIsUnproven() throws {
        var inputs = try PlanFixtures.inputs()
        inputs.rtoTargetSeconds = 5_400
        #expect(inputs.rto.seconds == 5_400)
        #expect(inputs.rto.basis == .target)
        for kind in ContinuityPlan.Kind.allCases {
            let plan = ContinuityPlanGenerator.generate(kind: kind, inputs: inputs, version: 1, now: PlanFixtures.now)
            #expect(plan.rtoSeconds == 5_400)
            #expect(plan.lastDrill == nil)
            let text = plan.sections.map(\.body).joined()
            #expect(text.contains("1h30m, the target; no drill has run yet to prove it"))
            #expect(!text.contains("measured by the drill"))
        }
    }

    @Test(arguments: [true, false])
    func withADrillTheRTOIsTheMeasuredTimeEvenWhenWorseThanTheTarget(passed: Bool) throws {
        let drill = PlanFixtures.drill(rtoSeconds: passed ? 754 : 4_000, passed: passed)
        let inputs = try PlanFixtures.inputs(drill: drill)
        #expect(inputs.rto.seconds == drill.rtoSeconds)
        #expect(inputs.rto.basis == .drill)
        let plan = ContinuityPlanGenerator.generate(kind: .disasterRecovery, inputs: inputs, version: 1, now: PlanFixtures.now)
        #expect(plan.rtoSeconds == drill.rtoSeconds)
        #expect(plan.lastDrill == drill)
        let purpose = plan.sections.first { $0.title == "1.1 Purpose" }?.body ?? ""
        let measured = DurationText.format(seconds: drill.rtoSeconds)
        #expect(purpose.contains("\(measured), measured by the drill of 2026-11-17T"))
        #expect(purpose.contains("which \(passed ? "passed" : "failed"); the target is 1h"))
    }

    @Test func theSameInputsGiveTheSameDigestAlsoAfterAStoreRoundTrip() throws {
        let inputs = try PlanFixtures.inputs(drill: PlanFixtures.drill())
        #expect(inputs.digest == (try PlanFixtures.inputs(drill: PlanFixtures.drill())).digest)
        #expect(inputs.digest.hasPrefix("fnv1a64:"))
        #expect(inputs.digest.count == "fnv1a64:".count + 16)
        // The app keeps the inputs as JSON; reading them back must not look like a change.
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let stored = try decoder.decode(PlanInputs.self, from: encoder.encode(inputs))
        #expect(stored.digest == inputs.digest)
        #expect(stored.canonicalEncoding() == inputs.canonicalEncoding())
    }

    /// One change of one input each; every one must give a new digest.
    static let changes: [(String, @Sendable (inout PlanInputs) throws -> Void)] = [
        ("slug", { $0.tenantSlug = "acme2" }),
        ("name", { $0.tenantName = "Acme Research Ltd" }),
        ("troubleshooter order", { $0.troubleshooters.swapAt(0, 1) }),
        ("troubleshooter phone", { $0.troubleshooters[0].phone = "+442079460001" }),
        ("troubleshooter removed", { $0.troubleshooters.removeLast() }),
        ("snapshot interval", { $0.snapshotIntervalSeconds = 301 }),
        ("RTO target", { $0.rtoTargetSeconds = 7_200 }),
        ("first drill", { $0.latestDrill = PlanFixtures.drill() }),
        ("drill interval", { $0.drillIntervalDays = 30 }),
        ("grace", { $0.graceSeconds = 3_600 }),
        ("database", { $0.deployment.database = .sqlite(path: "/srv/other.sqlite") }),
        ("postgres", { $0.deployment = try PlanFixtures.postgresDeployment() }),
        ("repository", { $0.deployment.backupRepository = .local(directory: "/mnt/backups/x") }),
        ("server location", { $0.deployment.serverBackupLocation = .local(directory: "/mnt/backups") }),
        ("password file", { $0.deployment.passwordFile = "/srv/other.password" }),
        ("restores", { $0.deployment.restoresDirectory = "/srv/scratch" }),
        ("data directory", { $0.deployment.dataDirectory = "/srv/data" }),
        ("public address", { $0.deployment.publicURL = "https://holdfast.example.com" }),
        ("opening hours", { $0.support.openingHours = "Mon–Fri 08:00–18:00" }),
        ("support zone", { $0.support.timeZone = "America/New_York" }),
        ("holidays", { $0.support.holidayCount = 3 }),
        ("SLA", { $0.support.firstResponseMinutes = 120 }),
        ("support e-mail", { $0.support.email = nil }),
        ("support phone", { $0.support.phone = "+442079460002" }),
        ("maintenance notice", { $0.maintenance.minimumNoticeSeconds = 172_800 }),
        ("maintenance reminders", { $0.maintenance.reminderOffsetsSeconds = [86_400] }),
        ("quiet hours", { $0.maintenance.placedInQuietestHours = false }),
        ("close at start", { $0.maintenance.sessionsSavedAndClosedAtStart = false }),
    ]

    @Test(arguments: 0..<Self.changes.count)
    func changingAnySingleInputChangesTheDigest(index: Int) throws {
        let (name, change) = Self.changes[index]
        let inputs = try PlanFixtures.inputs()
        var changed = inputs
        try change(&changed)
        #expect(changed != inputs, "\(name) changed nothing")
        #expect(changed.digest != inputs.digest, "\(name)")
    }

    @Test func aChangedDrillChangesTheDigest() throws {
        let first = try PlanFixtures.inputs(drill: PlanFixtures.drill(rtoSeconds: 754))
        let second = try PlanFixtures.inputs(drill: PlanFixtures.drill(rtoSeconds: 755))
        #expect(first.digest != second.digest)
    }

    @Test func thePostgresURLIsDescribedWithoutItsPassword() throws {
        let database = try PlanInputs.Database.postgresql(url: "postgres://holdfast:s3cr3t@db.internal:5433/holdfast_prod")
        #expect(database == .postgresql(host: "db.internal", port: 5_433, database: "holdfast_prod", user: "holdfast"))
        #expect(!"\(database)".contains("s3cr3t"))
        #expect(
            try PlanInputs.Database.postgresql(url: "postgresql://db/hf") == .postgresql(host: "db", port: 5_432, database: "hf", user: nil)
        )
        for bad in ["mysql://db/hf", "postgres://db", "postgres:///hf", "postgres://db/a/b"] {
            #expect(#expect(throws: CoreError.self) { try PlanInputs.Database.postgresql(url: bad) }?.code == "invalid_database", "\(bad)")
        }
    }

    @Test func validationNormalisesTheListAndRefusesCredentialsAndBadValues() throws {
        var inputs = try PlanFixtures.inputs()
        inputs.troubleshooters[0].email = "  ANN@acme.test "
        #expect(try inputs.validated().troubleshooters[0].email == "ann@acme.test")

        var credentials = inputs
        credentials.deployment.backupRepository = .s3(url: "s3:https://key:secret@s3.example.com/bucket/x")
        #expect(#expect(throws: CoreError.self) { try credentials.validated() }?.code == "secret_in_plan_input")

        var slug = inputs
        slug.tenantSlug = "Not A Slug"
        #expect(#expect(throws: CoreError.self) { try slug.validated() }?.code == "invalid_slug")

        var interval = inputs
        interval.snapshotIntervalSeconds = 0
        #expect(#expect(throws: CoreError.self) { try interval.validated() }?.code == "invalid_plan_input")

        var nobody = inputs
        nobody.troubleshooters = []
        #expect(#expect(throws: CoreError.self) { try nobody.validated() }?.code == "invalid_troubleshooters")
    }

    @Test func openingHoursAreSummarisedInWords() throws {
        #expect(PlanInputs.Support.openingHours(try BusinessCalendar.standard().weeklyHours) == "Mon–Fri 09:00–17:00")
        let split = [
            try OpeningInterval(.mon, "13:00", "17:00"), try OpeningInterval(.mon, "09:00", "12:00"),
            try OpeningInterval(.wed, "09:00", "12:00"), try OpeningInterval(.wed, "13:00", "17:00"),
            try OpeningInterval(.sun, "10:00", "12:00"),
        ]
        #expect(PlanInputs.Support.openingHours(split) == "Mon 09:00–12:00, 13:00–17:00; Wed 09:00–12:00, 13:00–17:00; Sun 10:00–12:00")
        #expect(PlanInputs.Support.openingHours([]) == "no opening hours")
        let support = try PlanFixtures.support()
        #expect(support.openingHours == "Mon–Fri 09:00–17:00; Sat 10:00–13:00")
        #expect(support.holidayCount == 2)
        #expect(support.timeZone == "Europe/London")
    }
}
