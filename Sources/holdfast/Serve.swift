import ArgumentParser
import Foundation
import HoldfastApp
import HoldfastCore

/// `holdfast serve`: the portal, the API and every background duty, in one process.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server.")

    @OptionGroup var store: StoreOptions

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one and prints it.")
    var port = 8080

    @Flag(help: "Mark the sign-in cookie Secure (when a TLS proxy fronts the server).")
    var secureCookies = false

    @Option(help: "How long a dropped session is held, from the last traffic received (tenants may override).")
    var grace = "30m"

    @Option(help: "Ping interval; a client silent for twice this is declared lost.")
    var heartbeat = "10s"

    func run() async throws {
        let logger = Console.logger(level: self.store.logLevel)
        var configuration = try self.store.configuration()
        configuration.http.host = self.host
        configuration.http.port = self.port
        configuration.http.secureCookies = self.secureCookies
        configuration.sessions.grace = TimeInterval(try Console.parse { try DurationText.seconds(self.grace) })
        configuration.sessions.heartbeat = TimeInterval(try Console.parse { try DurationText.seconds(self.heartbeat) })
        guard configuration.sessions.heartbeat >= 1, configuration.sessions.grace >= 1 else {
            throw ValidationFailure(message: "--grace and --heartbeat must be at least 1s.")
        }

        let server = try await Console.run {
            try await buildServer(
                configuration, logger: logger, metrics: .bootstrapGlobal(),
                onListening: { url in
                    Console.say("listening on \(url)")
                })
        }
        if let first = server.firstOperator {
            Console.say(
                """
                First start: created the operator account.
                  e-mail:   \(first.email)
                  password: \(first.password)
                Keep the password now: it is shown only this once.
                """
            )
        }
        try await server.run()
    }
}
