import Foundation
import Glibc
import HoldfastBackup
import HoldfastCore
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The driver against an S3 store: a real moto server on loopback, and stores that are down.
@Suite("Restic driver, S3 repository")
struct S3RepositoryTests {
    let user = User.ID()
    let credentials = ["AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"]

    @Test func aBackupInMotoCanBeListedAndRestored() async throws {
        try await withFixture { fixture in
            let moto = try await MotoServer.start()
            defer { moto.stop() }
            try await moto.createBucket("holdfast")
            let location = try RepositoryLocation.parse("s3:http://127.0.0.1:\(moto.port)/holdfast/backups")
            let driver = fixture.driver(repository: location, timeout: .seconds(60), environment: self.credentials)
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: self.user) == [], "no repository yet")

            let workspace = try fixture.workspace("ws", ["notes/a.txt": Array("a\n".utf8), "b.bin": noise(50_000, seed: 3)])
            let summary = try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.user, session: nil) { _ in }
            #expect(summary.totalFiles == 2)
            #expect(try await driver.snapshots(tenant: fixture.tenant, user: self.user) == [summary.snapshot])
            let listing = try await driver.list(tenant: fixture.tenant, user: self.user, snapshot: summary.snapshot.id, path: .root)
            #expect(listing.map(\.path) == ["b.bin", "notes"])
            let target = fixture.target("s3")
            _ = try await driver.restore(
                tenant: fixture.tenant, user: self.user, snapshot: summary.snapshot.id, path: .root, into: target, progress: { _ in })
            #expect(try contents(of: target) == contents(of: workspace))
            try await driver.check(tenant: fixture.tenant)
        }
    }

    @Test func aClosedPortIsUnavailableQuickly() async throws {
        try await withFixture { fixture in
            let port = try freePort()
            try await self.expectUnavailable(fixture, port: port, within: .seconds(90))
        }
    }

    @Test func aStoreThatNeverAnswersIsStoppedAtTheTimeout() async throws {
        try await withFixture { fixture in
            // Accepts connections (the kernel completes them) but never answers: restic would wait forever.
            let listener = try Listener()
            defer { listener.close() }
            try await self.expectUnavailable(fixture, port: listener.port, within: .seconds(90))
        }
    }

    private func expectUnavailable(_ fixture: BackupFixture, port: Int, within bound: Duration) async throws {
        let location = try RepositoryLocation.parse("s3:http://127.0.0.1:\(port)/holdfast/backups")
        let driver = fixture.driver(repository: location, timeout: .seconds(3), environment: self.credentials)
        let workspace = try fixture.workspace("ws", ["a.txt": Array("a\n".utf8)])
        let started = ContinuousClock.now
        let error = await #expect(throws: CoreError.self) {
            try await driver.backup(workspace: workspace, tenant: fixture.tenant, user: self.user, session: nil) { _ in }
        }
        #expect(error?.kind == .unavailable)
        #expect(error?.code == "backup_repository_unavailable")
        #expect(error?.message.contains("127.0.0.1:\(port)") == true, "\(String(describing: error))")
        // Not a speed check (that is bench/'s job): without the timeout restic would wait forever, so
        // the bound is generous — several restic commands, each up to 3 s plus its interrupt grace,
        // on a loaded machine.
        #expect(ContinuousClock.now - started < bound)
    }
}

/// A free TCP port on loopback (bound, read back and released).
func freePort() throws -> Int {
    let listener = try Listener()
    listener.close()
    return listener.port
}

/// A listening TCP socket on loopback that never accepts.
final class Listener: Sendable {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0 && listen(descriptor, 16) == 0
                    && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard descriptor >= 0, bound else {
            throw CoreError(.unavailable, code: "test_setup", message: "could not open a loopback socket")
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(self.descriptor) }
}

/// A moto S3 server on a free loopback port, started by the test and stopped with it.
///
/// The binary is `$HOLDFAST_MOTO_SERVER` or the project's `.venv/bin/moto_server` (made by
/// `make test` from e2e/requirements.txt); without it the test fails and says how to get it.
struct MotoServer {
    let process: Process
    let port: Int

    static func start() async throws -> MotoServer {
        let root = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
        let binary = ProcessInfo.processInfo.environment["HOLDFAST_MOTO_SERVER"] ?? root + "/.venv/bin/moto_server"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw CoreError(
                .unavailable, code: "test_setup",
                message: "moto_server not found at \(binary): run `make test` (it creates .venv from e2e/requirements.txt) "
                    + "or set HOLDFAST_MOTO_SERVER to a moto_server binary")
        }
        let port = try freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-H", "127.0.0.1", "-p", "\(port)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let server = MotoServer(process: process, port: port)
        for _ in 0..<150 {
            if (try? await server.request("GET", "/")) == 200 { return server }
            try await Task.sleep(for: .milliseconds(100))
        }
        server.stop()
        throw CoreError(.unavailable, code: "test_setup", message: "moto_server did not answer on port \(port) within 15 s")
    }

    /// Creates a bucket, as an operator does before pointing Holdfast at it.
    func createBucket(_ name: String) async throws {
        let status = try await self.request("PUT", "/\(name)")
        #expect(status == 200, "creating bucket \(name)")
    }

    func request(_ method: String, _ path: String) async throws -> Int {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(self.port)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = 5
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }

    /// Kills the server: it keeps nothing worth a clean shutdown, and SIGKILL cannot be ignored.
    func stop() {
        kill(self.process.processIdentifier, SIGKILL)
        self.process.waitUntilExit()
    }
}
