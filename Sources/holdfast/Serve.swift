import ArgumentParser
import Foundation
import HoldfastApp

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

    func run() async throws {
        let logger = Console.logger(level: self.store.logLevel)
        var configuration = try self.store.configuration()
        configuration.http.host = self.host
        configuration.http.port = self.port
        configuration.http.secureCookies = self.secureCookies

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
