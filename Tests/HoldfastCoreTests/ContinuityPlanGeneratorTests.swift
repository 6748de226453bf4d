import Foundation
import HoldfastCore
import Testing

/// The plans as the tenant and the operator read them: the NIST outline filled with this deployment's facts.
@Suite("Continuity plan generator")
struct ContinuityPlanGeneratorTests {
    static let topLevel = [
        "1 Introduction", "2 Concept of Operations", "3 Activation and Notification", "4 Recovery", "5 Reconstitution",
        "Appendix A: Contacts", "Appendix B: Procedures", "Appendix C: Test schedule", "Appendix D: Support hours and SLA",
        "Appendix E: Maintenance policy",
    ]

    func plan(_ kind: ContinuityPlan.Kind, _ inputs: PlanInputs, version: Int = 1) -> ContinuityPlan {
        ContinuityPlanGenerator.generate(kind: kind, inputs: inputs, version: version, now: PlanFixtures.now)
    }

    func text(_ plan: ContinuityPlan) -> String {
        plan.sections.map { $0.title + "\n" + $0.body }.joined(separator: "\n")
    }

    func body(_ plan: ContinuityPlan, _ title: String) -> String {
        plan.sections.first { $0.title == title }?.body ?? ""
    }

    @Test(arguments: ContinuityPlan.Kind.allCases)
    func bothPlansFollowTheNISTSkeleton(kind: ContinuityPlan.Kind) throws {
        let plan = self.plan(kind, try PlanFixtures.inputs())
        #expect(plan.sections.filter { $0.level == 1 }.map(\.title) == Self.topLevel)
        let titles = plan.sections.map(\.title)
        for required in [
            "1.1 Purpose", "1.2 Scope", "1.3 Assumptions", "2.1 System description", "2.2 Roles and responsibilities",
            "3.1 Activation criteria", "3.2 Notification procedures", "3.3 Outage assessment", "4.1 Sequence of recovery activities",
            "4.2 Recovery procedures",
        ] {
            #expect(titles.contains(required), "\(required)")
        }
        #expect(plan.sections.allSatisfy { !$0.body.isEmpty })
        #expect(Set(plan.sections.map(\.anchor)).count == plan.sections.count)
        #expect(plan.kind == kind)
        #expect(plan.tenant == "acme")
    }

    @Test(arguments: ContinuityPlan.Kind.allCases)
    func troubleshootersAppearInEscalationOrder(kind: ContinuityPlan.Kind) throws {
        var inputs = try PlanFixtures.inputs()
        for order in [[0, 1, 2], [2, 0, 1]] {
            inputs.troubleshooters = order.map { PlanFixtures.troubleshooters[$0] }
            let plan = self.plan(kind, inputs)
            #expect(plan.troubleshooters == inputs.troubleshooters)
            for title in ["3.2 Notification procedures", "Appendix A: Contacts"] {
                let lines = self.body(plan, title).split(separator: "\n").filter { $0.first?.isNumber == true }
                #expect(lines.count == 3, "\(title)")
                for (index, person) in inputs.troubleshooters.enumerated() {
                    #expect(lines[index].hasPrefix("\(index + 1). \(person.name), \(person.role) — "), "\(title) \(index)")
                }
            }
        }
        let contacts = self.body(self.plan(kind, try PlanFixtures.inputs()), "Appendix A: Contacts")
        #expect(contacts.contains("1. Ann Lee, On-call operator — e-mail `ann@acme.test`, phone `+442079460000`"))
        #expect(contacts.contains("3. Cy Diaz, Service owner — phone `+15555550100`"))
    }

    @Test func theDisasterRecoveryPlanGivesTheRealCommandsOfASQLiteDeployment() throws {
        let plan = self.plan(.disasterRecovery, try PlanFixtures.inputs())
        let procedures = self.body(plan, "4.2 Recovery procedures")
        let id = PlanFixtures.tenantID
        let restic = "restic -r /srv/holdfast-data/backups/\(id) --password-file /srv/holdfast-data/secrets/\(id).password"
        #expect(procedures.contains("`\(restic) snapshots`"))
        #expect(procedures.contains("`\(restic) check`"))
        #expect(procedures.contains("`\(restic) unlock`"))
        #expect(
            procedures.contains("`\(restic) restore latest --tag user=USER_ID --target /srv/holdfast-data/restores/recovery-acme/USER_ID`"))
        #expect(procedures.contains("`sqlite3 /srv/holdfast-data/holdfast.sqlite '.backup /srv/holdfast-data/holdfast.sqlite.bak'`"))
        #expect(procedures.contains("`sqlite3 /srv/holdfast-data/holdfast.sqlite '.restore /srv/holdfast-data/holdfast.sqlite.bak'`"))
        #expect(
            procedures.contains(
                "`holdfast serve --data-dir /srv/holdfast-data --database sqlite:/srv/holdfast-data/holdfast.sqlite "
                    + "--backup-repository local:/srv/holdfast-data/backups`"))
        #expect(procedures.contains("`holdfast drill --tenant acme --data-dir /srv/holdfast-data`"))
        #expect(!self.text(plan).contains("pg_dump"))
        #expect(self.body(plan, "1.3 Assumptions").contains("does not survive the loss of the server's disk"))
        let reference = self.body(plan, "Appendix B: Procedures")
        #expect(
            reference.contains(
                "`holdfast plan render --tenant acme --plan business-continuity --format html --data-dir /srv/holdfast-data`"))
        #expect(reference.contains("`\(restic) check`"))
    }

    @Test func theDisasterRecoveryPlanGivesTheRealCommandsOfAPostgresAndS3Deployment() throws {
        var inputs = try PlanFixtures.inputs()
        inputs.deployment = try PlanFixtures.postgresDeployment()
        let plan = self.plan(.disasterRecovery, inputs)
        let procedures = self.body(plan, "4.2 Recovery procedures")
        let id = PlanFixtures.tenantID
        #expect(
            procedures.contains(
                "`restic -r s3:https://s3.example.com/plans-bucket/holdfast/\(id) --password-file /var/lib/holdfast/secrets/\(id).password snapshots`"
            ))
        #expect(
            procedures.contains(
                "`pg_dump --host=db.internal --port=5433 --username=holdfast --format=custom --file=/var/lib/holdfast/holdfast_prod.dump holdfast_prod`"
            ))
        #expect(
            procedures.contains(
                "`pg_restore --host=db.internal --port=5433 --username=holdfast --dbname=holdfast_prod --clean --if-exists /var/lib/holdfast/holdfast_prod.dump`"
            ))
        #expect(procedures.contains("--database postgres://holdfast@db.internal:5433/holdfast_prod"))
        #expect(procedures.contains("--backup-repository s3:https://s3.example.com/plans-bucket/holdfast`"))
        #expect(procedures.contains("AWS\\_SECRET\\_ACCESS\\_KEY from the environment"))
        #expect(!self.text(plan).contains("sqlite3"))
        #expect(self.body(plan, "3.3 Outage assessment").contains("`curl -fsS https://holdfast.example.com/healthz`"))
        #expect(self.body(plan, "1.3 Assumptions").contains("survives the loss of the server"))
    }

    @Test(arguments: ContinuityPlan.Kind.allCases)
    func noPasswordOrCredentialReachesAPlanInAnyForm(kind: ContinuityPlan.Kind) throws {
        var inputs = try PlanFixtures.inputs(drill: PlanFixtures.drill())
        inputs.deployment = try PlanFixtures.postgresDeployment()
        let plan = self.plan(kind, inputs)
        let encoder = JSONEncoder()
        let json = String(decoding: try encoder.encode(plan), as: UTF8.self)
        let outputs = [json, PlanMarkdown.render(plan, tenantName: "Acme"), PlanHTML.render(plan, tenantName: "Acme")]
        for output in outputs {
            #expect(!output.contains(PlanFixtures.databasePassword))
            #expect(!output.contains("AKIAEXAMPLE"))
            #expect(!output.contains("wJalrXUtnFEMI"))
            #expect(!output.contains("@s3.example.com"))
        }
        // The password file is named, never read: the core only ever sees its path.
        if kind == .disasterRecovery {
            #expect(self.text(plan).contains("--password-file /var/lib/holdfast/secrets/\(PlanFixtures.tenantID).password"))
        }
    }

    @Test func theBusinessContinuityPlanIsAboutKeepingWorkGoing() throws {
        var inputs = try PlanFixtures.inputs()
        inputs.graceSeconds = 2_700
        inputs.support.phone = "+442079460099"
        inputs.deployment.publicURL = "https://holdfast.example.com"
        let plan = self.plan(.businessContinuity, inputs)
        let text = self.text(plan)
        #expect(self.body(plan, "2.1 System description").contains("A dropped session is held for 45m, counted from the last traffic"))
        let channels = self.body(plan, "4.3 Communication plan")
        #expect(channels.contains("Web form: the portal <https://holdfast.example.com/>"))
        #expect(channels.contains("API: `POST /api/v1/tickets"))
        #expect(channels.contains("E-mail: `support@holdfast.example.com`"))
        #expect(channels.contains("Phone: `+442079460099`"))
        #expect(channels.contains("within 4h 00m of business time"))
        let notification = self.body(plan, "3.2 Notification procedures")
        #expect(notification.contains("<https://holdfast.example.com/status>"))
        #expect(notification.contains("<https://holdfast.example.com/status/feed.atom>"))
        #expect(notification.contains("<https://holdfast.example.com/status/maintenance.ics>"))
        #expect(!text.contains("restic -r"))
        #expect(self.body(plan, "Appendix B: Procedures").contains("Report an outage: `POST /api/v1/tickets"))
        #expect(text.contains("`holdfast plan render --tenant acme --plan disaster-recovery"))
    }

    @Test(arguments: ContinuityPlan.Kind.allCases)
    func theAppendicesCarrySupportMaintenanceAndTheDrill(kind: ContinuityPlan.Kind) throws {
        let none = self.plan(kind, try PlanFixtures.inputs())
        #expect(self.body(none, "Appendix C: Test schedule").contains("No drill has run yet"))
        let failed = PlanFixtures.drill(rtoSeconds: 4_000, passed: false)
        let plan = self.plan(kind, try PlanFixtures.inputs(drill: failed))
        let schedule = self.body(plan, "Appendix C: Test schedule")
        #expect(schedule.contains("- Last drill: 2026-11-17T12:13:20Z, failed."))
        #expect(schedule.contains("- RTO achieved: 1h6m40s against a target of 1h."))
        #expect(schedule.contains("- Verified: 4 snapshots, 2000 files, 54.0 MB."))
        #expect(schedule.contains("- Next drill due by: 2027-02-15T12:13:20Z."))
        #expect(schedule.contains("- missing after restore: notes/today.txt"))
        let support = self.body(plan, "Appendix D: Support hours and SLA")
        #expect(support.contains("Opening hours: Mon–Fri 09:00–17:00; Sat 10:00–13:00, time zone `Europe/London`."))
        #expect(support.contains("Holidays: 2 on the calendar"))
        #expect(support.contains("First response: within 4h 00m of business time."))
        let maintenance = self.body(plan, "Appendix E: Maintenance policy")
        #expect(maintenance.contains("Announced at least 24h ahead"))
        #expect(maintenance.contains("quietest hours of the recorded usage"))
        #expect(maintenance.contains("Reminders 24h and 1h before the start"))
        #expect(maintenance.contains("open sessions are snapshotted and closed"))
    }

    @Test func dataThatLooksLikeMarkupIsEscapedInBodies() throws {
        var inputs = try PlanFixtures.inputs()
        inputs.tenantName = "*Acme* [x](javascript:alert(1))"
        inputs.troubleshooters[0].name = "- `rm -rf /` <b>"
        let plan = self.plan(.disasterRecovery, inputs)
        #expect(self.body(plan, "1 Introduction").contains("for \\*Acme\\* \\[x\\](javascript:alert(1))"))
        #expect(self.body(plan, "Appendix A: Contacts").contains("1. \\- \\`rm -rf /\\` \\<b\\>, On-call operator"))
    }

    @Test func pathsWithSpacesAreQuotedForTheShell() throws {
        var inputs = try PlanFixtures.inputs()
        inputs.deployment.dataDirectory = "/srv/hold fast"
        inputs.deployment.passwordFile = "/srv/hold fast/secrets/it's.password"
        let plan = self.plan(.disasterRecovery, inputs)
        let procedures = self.body(plan, "4.2 Recovery procedures")
        #expect(procedures.contains("--password-file '/srv/hold fast/secrets/it'\\''s.password' snapshots"))
        #expect(procedures.contains("`holdfast drill --tenant acme --data-dir '/srv/hold fast'`"))
    }

    @Test func generationIsDeterministicAndCarriesVersionAndTime() throws {
        let inputs = try PlanFixtures.inputs(drill: PlanFixtures.drill())
        let first = self.plan(.disasterRecovery, inputs, version: 7)
        #expect(first == self.plan(.disasterRecovery, inputs, version: 7))
        #expect(first.version == 7)
        #expect(first.generatedAt == PlanFixtures.now)
        #expect(first.sections != self.plan(.businessContinuity, inputs, version: 7).sections)
    }

    @Test func jsonHasExactlyTheContractShape() throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        for drill in [nil, PlanFixtures.drill()] {
            let plan = self.plan(.businessContinuity, try PlanFixtures.inputs(drill: drill))
            let data = try encoder.encode(plan)
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(
                Set(object.keys) == [
                    "kind", "tenant", "version", "generatedAt", "rpoSeconds", "rtoSeconds", "troubleshooters", "sections", "lastDrill",
                ])
            #expect(object["kind"] as? String == "business-continuity")
            #expect(object["generatedAt"] as? String == "2026-11-18T11:06:40Z")
            #expect(object["rpoSeconds"] as? Int == 300)
            let sections = try #require(object["sections"] as? [[String: Any]])
            #expect(sections.allSatisfy { Set($0.keys) == ["title", "body"] })
            let people = try #require(object["troubleshooters"] as? [[String: Any]])
            #expect(people.first.map { Set($0.keys) } == ["name", "role", "email", "phone"])
            if drill == nil {
                #expect(object["lastDrill"] is NSNull)
            } else {
                let last = try #require(object["lastDrill"] as? [String: Any])
                #expect(last["rtoSeconds"] as? Int == 754)
                #expect(last["passed"] as? Bool == true)
            }
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            #expect(try decoder.decode(ContinuityPlan.self, from: data) == plan)
        }
    }

    @Test func planKindsParseFromTheirWireNames() throws {
        #expect(try ContinuityPlan.Kind(validating: "disaster-recovery") == .disasterRecovery)
        #expect(try ContinuityPlan.Kind(validating: "business-continuity") == .businessContinuity)
        #expect(#expect(throws: CoreError.self) { try ContinuityPlan.Kind(validating: "dr") }?.code == "invalid_plan")
    }
}
