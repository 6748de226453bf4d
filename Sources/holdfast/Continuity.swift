import ArgumentParser
import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastStore

/// `holdfast plan render`: a tenant's current plan on stdout, for printing or filing.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Continuity plans.", subcommands: [Render.self])

    struct Render: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a tenant's current Disaster Recovery or Business Continuity Plan (a new version first if an input changed).")

        @OptionGroup var store: StoreOptions
        @Option(help: "Slug of the tenant.") var tenant: String
        @Option(help: "disaster-recovery or business-continuity.") var plan: String
        @Option(help: "markdown, html or json.") var format = "markdown"

        func run() async throws {
            let kind = try Console.parse { try ContinuityPlan.Kind(validating: self.plan) }
            guard ["markdown", "html", "json"].contains(self.format) else {
                throw ValidationFailure(message: "--format must be markdown, html or json.")
            }
            let configuration = try self.store.configuration()
            let logger = Console.logger(level: self.store.logLevel)
            let text = try await Console.run {
                try await withOpenStore(configuration, logger: logger) { accounts, _ in
                    // Described as the server runs it (recorded at its start), whatever this command's defaults.
                    let served = try await DeploymentRecord.serverConfiguration(configuration, settings: accounts.repositories.settings)
                    let desk = ContinuityDesk(repositories: accounts.repositories, configuration: served, now: { Date() }, logger: logger)
                    guard let tenant = try await accounts.repositories.tenants.find(slug: self.tenant) else {
                        throw CoreError.notFound("There is no tenant '\(self.tenant)'.")
                    }
                    guard let plan = try await desk.ensureCurrent(tenant).first(where: { $0.kind == kind }) else {
                        throw CoreError.notFound("There is no \(kind.title) for \(self.tenant).")
                    }
                    switch self.format {
                    case "html": return PlanHTML.render(plan, tenantName: tenant.name)
                    case "json":
                        let encoder = JSONEncoder()
                        encoder.dateEncodingStrategy = .iso8601
                        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                        return String(decoding: try encoder.encode(plan), as: UTF8.self) + "\n"
                    default: return PlanMarkdown.render(plan, tenantName: tenant.name)
                    }
                }
            }
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}

/// `holdfast drill --tenant SLUG`: a recovery drill, recorded in the tenant's plans.
struct DrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Restore a tenant's newest snapshots into scratch space, verify them, and record the recovery time.",
        discussion: "Exit 0 when the drill passed, 1 when it failed (the result is recorded either way)."
    )

    @OptionGroup var store: StoreOptions
    @Option(help: "Slug of the tenant.") var tenant: String
    func run() async throws {
        let configuration = try self.store.configuration()
        let logger = Console.logger(level: self.store.logLevel)
        let result = try await Console.run {
            try await withOpenStore(configuration, logger: logger) { accounts, _ in
                // The repository and settings of the server that runs on this data (recorded at its start).
                let served = try await DeploymentRecord.serverConfiguration(configuration, settings: accounts.repositories.settings)
                let drill = try Drill(configuration: served, repositories: accounts.repositories, now: { Date() }, logger: logger)
                return try await drill.run(tenantSlug: self.tenant, actor: AuditEvent.commandLine) { line in Console.say(line) }
            }
        }
        Console.say(
            "drill \(result.passed ? "passed" : "FAILED"): \(result.snapshotsRestored) snapshots, \(result.filesVerified) files, "
                + "\(ByteText.format(result.bytesVerified)) verified in \(DurationText.format(seconds: result.rtoSeconds)) "
                + "(target \(DurationText.format(seconds: result.rtoTargetSeconds)))")
        for failure in result.failures { Console.say("  - \(failure)") }
        if !result.passed { throw ExitCode(1) }
    }
}
