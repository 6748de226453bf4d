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
        help: ArgumentHelp(
            "Database: sqlite:PATH or postgres://USER@HOST:PORT/DB.",
            discussion:
                "Default: sqlite in the data directory. A URL with a password goes in HOLDFAST_DATABASE_URL or --database-file, never here: the command line is public on the host."
        ))
    var database: String?

    @Option(name: .customLong("database-file"), help: "A file only its owner can read, holding the database URL (with its password).")
    var databaseFile: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func configuration() throws -> HoldfastConfiguration {
        var configuration = HoldfastConfiguration()
        configuration.dataDirectory = self.dataDirectory
        configuration.database = try Console.parse { try self.location() }
        return configuration
    }

    /// `--database`, `--database-file` or `HOLDFAST_DATABASE_URL`, in that order; `nil` is the default.
    private func location() throws -> DatabaseLocation? {
        if let text = self.database {
            guard self.databaseFile == nil else {
                throw ValidationFailure(message: "Give --database or --database-file, not both.")
            }
            let location = try DatabaseLocation(parsing: text)
            guard !location.hasPassword else {
                throw ValidationFailure(
                    message:
                        "--database carries a password, which every user of this host can read in the process list; put the URL in HOLDFAST_DATABASE_URL or in a file only you can read and give it with --database-file."
                )
            }
            return location
        }
        return try Secret.read(file: self.databaseFile, environment: "HOLDFAST_DATABASE_URL", flag: "--database-file")
            .map(DatabaseLocation.init(parsing:))
    }
}
