import ArgumentParser
import Foundation
import HoldfastApp
import HoldfastStore

/// The `holdfast` command.
@main
struct Holdfast: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cloud workspaces that survive a dropped connection, with the support desk around them.",
        subcommands: [Serve.self, Migrate.self, Admin.self, MailGateCommand.self, PlanCommand.self, DrillCommand.self]
    )
}

/// Where the data lives; every command takes it, so `holdfast admin` can work beside a running server.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Directory holding the database, workspaces, backups and mail outbox.")
    var dataDirectory = "./holdfast-data"

    @Option(
        help: ArgumentHelp("Database: sqlite:PATH or postgres://USER@HOST:PORT/DB.", discussion: "Default: sqlite in the data directory."))
    var database: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func configuration() throws -> HoldfastConfiguration {
        var configuration = HoldfastConfiguration()
        configuration.dataDirectory = self.dataDirectory
        if let database = self.database {
            configuration.database = try Console.parse { try .init(parsing: database) }
        }
        return configuration
    }
}
