import ArgumentParser
import Foundation
import HoldfastApp
import HoldfastCore
import HoldfastStore

/// `holdfast migrate`: bring the schema up to date without starting the server.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply database migrations and exit.")

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let applied = try await Console.run {
            try await withAccounts(self.store) { _, database in try await database.migrate() }
        }
        Console.say(applied.isEmpty ? "schema is up to date" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
    }
}

/// `holdfast admin …`: account chores from the shell, safe while a server runs on the same data.
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage tenants and users.",
        subcommands: [CreateTenant.self, CreateUser.self]
    )

    struct CreateTenant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create-tenant", abstract: "Create a tenant.")

        @OptionGroup var store: StoreOptions
        @Option(help: "Display name, e.g. \"Acme Research\".") var name: String
        @Option(help: "URL name: a-z, 0-9 and '-', e.g. acme.") var slug: String
        @Option(name: .customLong("time-zone"), help: "IANA time zone of the tenant.") var timeZone = "Europe/London"

        func run() async throws {
            let tenant = try await Console.run {
                try await withAccounts(self.store) { accounts, _ in
                    let tenant = try await accounts.createTenant(name: self.name, slug: self.slug, timeZone: self.timeZone)
                    // Its continuity plans, as the server on this data describes the deployment.
                    let configuration = try await DeploymentRecord.serverConfiguration(
                        try self.store.configuration(), settings: accounts.repositories.settings)
                    await ContinuityDesk(
                        repositories: accounts.repositories, configuration: configuration, now: { Date() },
                        logger: Console.logger(level: self.store.logLevel)
                    )
                    .tenantCreated(tenant)
                    try await accounts.repositories.audit.append(
                        AuditEvent(
                            at: Date(), tenantID: tenant.id, actorID: nil, actor: AuditEvent.commandLine, action: .tenantCreated,
                            target: tenant.slug, detail: "name: \(tenant.name); time zone: \(tenant.timeZone)", from: "local"))
                    return tenant
                }
            }
            Console.say("created tenant \(tenant.slug) (\(tenant.id))")
        }
    }

    struct CreateUser: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create-user", abstract: "Create a user in a tenant.")

        @OptionGroup var store: StoreOptions
        @Option(help: "Slug of the user's tenant.") var tenant: String
        @Option(help: "E-mail address; it is the login name.") var email: String
        @Option(help: "Initial password, at least 10 characters.") var password: String
        @Option(help: "member, tenant-admin, agent or operator.") var role: String
        @Option(help: "Display name (default: the part of the e-mail before @).") var name: String?

        func run() async throws {
            let user = try await Console.run {
                try await withAccounts(self.store) { accounts, _ in
                    let user = try await accounts.createUser(
                        tenantSlug: self.tenant,
                        NewUser(email: self.email, name: self.name, password: self.password, role: self.role)
                    )
                    try await accounts.repositories.audit.append(
                        AuditEvent(
                            at: Date(), tenantID: user.tenantID, actorID: nil, actor: AuditEvent.commandLine, action: .userCreated,
                            target: user.email, detail: "role: \(user.role.rawValue)", from: "local"))
                    return user
                }
            }
            Console.say("created user \(user.email) (\(user.role.rawValue)) in \(self.tenant)")
        }
    }
}

/// Opens the store named by the options, migrated, runs `body`, and closes it.
private func withAccounts<T: Sendable>(
    _ options: StoreOptions,
    _ body: (Accounts, Database) async throws -> T
) async throws -> T {
    let configuration = try options.configuration()
    let logger = Console.logger(level: options.logLevel)
    return try await withOpenStore(configuration, logger: logger, body)
}
