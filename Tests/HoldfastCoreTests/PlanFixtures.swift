import Foundation
import HoldfastCore

/// Inputs like a real installation's, with the secrets the plans must never show.
enum PlanFixtures {
    static let now = Date(timeIntervalSince1970: 1_795_000_000)
    static let tenantID = "6f1c2a4e-9b7d-4e3a-8c55-0d2f4b6a8e10"
    /// The database password in the server's configuration; it must not reach a plan.
    static let databasePassword = "s3cr3t-Pa55"
    static let awsSecret = "AKIAEXAMPLE:wJalrXUtnFEMI"

    static let troubleshooters = [
        Troubleshooter(name: "Ann Lee", role: "On-call operator", email: "ann@acme.test", phone: "+442079460000"),
        Troubleshooter(name: "Bo Chen", role: "Head of IT", email: "bo@acme.test"),
        Troubleshooter(name: "Cy Diaz", role: "Service owner", phone: "+15555550100"),
    ]

    static func sqliteDeployment() -> PlanInputs.Deployment {
        PlanInputs.Deployment(
            dataDirectory: "/srv/holdfast-data", database: .sqlite(path: "/srv/holdfast-data/holdfast.sqlite"),
            serverBackupLocation: .local(directory: "/srv/holdfast-data/backups"),
            backupRepository: .local(directory: "/srv/holdfast-data/backups/\(Self.tenantID)"),
            passwordFile: "/srv/holdfast-data/secrets/\(Self.tenantID).password", restoresDirectory: "/srv/holdfast-data/restores"
        )
    }

    static func postgresDeployment() throws -> PlanInputs.Deployment {
        PlanInputs.Deployment(
            dataDirectory: "/var/lib/holdfast",
            database: try .postgresql(url: "postgres://holdfast:\(Self.databasePassword)@db.internal:5433/holdfast_prod"),
            serverBackupLocation: .s3(url: "s3:https://\(Self.awsSecret)@s3.example.com/plans-bucket/holdfast"),
            backupRepository: .s3(url: "s3:https://\(Self.awsSecret)@s3.example.com/plans-bucket/holdfast/\(Self.tenantID)"),
            passwordFile: "/var/lib/holdfast/secrets/\(Self.tenantID).password", restoresDirectory: "/var/lib/holdfast/restores",
            publicURL: "https://holdfast.example.com/"
        )
    }

    static func support() throws -> PlanInputs.Support {
        var calendar = try BusinessCalendar.standard(timeZone: "Europe/London")
        calendar = try BusinessCalendar(
            timeZone: "Europe/London", weeklyHours: calendar.weeklyHours + [try OpeningInterval(.sat, "10:00", "13:00")],
            holidays: [try LocalDate("2026-12-25"), try LocalDate("2026-12-26")]
        )
        return PlanInputs.Support(calendar: calendar, firstResponseMinutes: 240, email: "support@holdfast.example.com")
    }

    static func inputs(drill: DrillResult? = nil) throws -> PlanInputs {
        PlanInputs(
            tenantSlug: "acme", tenantName: "Acme Research", troubleshooters: Self.troubleshooters, snapshotIntervalSeconds: 300,
            latestDrill: drill, deployment: Self.sqliteDeployment(), support: try Self.support()
        )
    }

    static func drill(rtoSeconds: Int = 754, passed: Bool = true) -> DrillResult {
        DrillResult(
            id: DrillResult.ID("11111111-2222-3333-4444-555555555555")!, tenantSlug: "acme",
            startedAt: Self.now.addingTimeInterval(-86_400), finishedAt: Self.now.addingTimeInterval(-86_400 + Double(rtoSeconds)),
            rtoSeconds: rtoSeconds, rtoTargetSeconds: 3_600, snapshotsRestored: 4, filesVerified: 2_000, bytesVerified: 54_000_000,
            passed: passed, failures: passed ? [] : ["missing after restore: notes/today.txt"]
        )
    }
}
