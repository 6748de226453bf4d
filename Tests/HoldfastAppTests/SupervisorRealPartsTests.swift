import Foundation
import Glibc
import HoldfastBackup
import HoldfastCore
import HoldfastHTTP
import HoldfastHost
import HoldfastTestSupport
import Logging
import Synchronization
import Testing

@testable import HoldfastApp

/// The supervisor with the parts a server runs: tmux in its bubblewrap sandbox for the host, and
/// restic for the backups (a local repository). The fakes elsewhere show the rules; these show
/// that the rules hold with real processes, including a restic killed in the middle of a close.
@Suite("Session supervisor on the real host and restic", .serialized)
struct SupervisorRealPartsTests {
    struct Fixture {
        let root: String
        let store = InMemoryStore()
        let host: TmuxHost
        let driver: ResticBackupDriver
        let backups: WorkspaceBackups
        let user: User
        static let account = UnixAccount(uid: 200_011, gid: 200_011)

        /// A short root (tmux's socket path must fit in a sockaddr_un) with mode 0700.
        init(grace: Int) async throws {
            var template = Array("/tmp/hf-XXXXXX".utf8CString)
            guard mkdtemp(&template) != nil else { throw CoreError.invalidInput("test_setup", "mkdtemp failed") }
            self.root = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let logger = Logger(label: "test")
            self.host = TmuxHost(configuration: .init(sessionsDirectory: self.root + "/sessions"), logger: logger)
            self.driver = ResticBackupDriver(
                configuration: .init(
                    repository: .local(directory: self.root + "/repositories"), secretsDirectory: self.root + "/secrets",
                    cacheDirectory: self.root + "/cache", commandTimeout: .seconds(120), environment: [:]),
                logger: logger)
            self.backups = WorkspaceBackups(
                configuration: .init(workspacesDirectory: self.root + "/workspaces", restoresDirectory: self.root + "/restores"),
                driver: self.driver, repositories: self.store.repositories, accountFor: { _ in Self.account }, now: { Date() },
                logger: logger)
            let tenant = Tenant(name: "Acme", slug: "acme", graceSeconds: grace, createdAt: Date())
            try await self.store.repositories.tenants.create(tenant)
            self.user = User(tenantID: tenant.id, email: "ann@acme.test", name: "Ann", role: .member, createdAt: Date())
            try await self.store.repositories.users.create(self.user, passwordHash: "h")
        }

        func supervisor() -> SessionSupervisor {
            var configuration = SessionSupervisor.Configuration()
            configuration.heartbeat = 10
            return SessionSupervisor(
                configuration: configuration, repositories: self.store.repositories, host: self.host, backups: self.backups,
                accountFor: { _ in Self.account }, now: { Date() }, logger: Logger(label: "test"))
        }

        var workspace: String { self.backups.workspace(tenant: self.user.tenantID, user: self.user.id) }

        /// Runs the supervisor's clock until the session is closed (or `limit` passes); its stored state.
        func runClock(_ supervisor: SessionSupervisor, until id: Session.ID, limit: Duration = .seconds(120)) async throws -> Session {
            let deadline = ContinuousClock.now + limit
            while ContinuousClock.now < deadline {
                await supervisor.tick()
                let stored = try #require(try await self.store.repositories.sessions.find(id: id))
                if stored.state == .closed { return stored }
                try await Task.sleep(for: .milliseconds(100))
            }
            return try #require(try await self.store.repositories.sessions.find(id: id))
        }

        func events(_ id: Session.ID) async throws -> [SessionEvent] {
            try await self.store.repositories.sessions.events(sessionID: id)
        }

        /// Processes whose command line names this fixture's folder (sandboxes, tmux, restic).
        func processes() -> [pid_t] {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return entries.compactMap { pid_t($0) }.filter { pid in
                guard let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
                return String(decoding: line.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(self.root + "/")
            }
        }

        func remove() async {
            for id in (try? await self.host.runningSessions()) ?? [] { try? await self.host.terminate(id) }
            try? FileManager.default.removeItem(atPath: self.root)
        }
    }

    /// Everything an attached terminal printed so far.
    final class Screen: Sendable {
        let text = Mutex("")

        init(_ connection: any TerminalConnection) {
            Task {
                for await chunk in connection.output { self.text.withLock { $0 += String(decoding: chunk, as: UTF8.self) } }
            }
        }

        func waitFor(_ needle: String, timeout: Duration = .seconds(30)) async -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if self.text.withLock({ $0.contains(needle) }) { return true }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return false
        }
    }

    @Test func aDroppedSessionExpiresThroughAVerifiedResticSnapshotAndLeavesNoProcess() async throws {
        let fixture = try await Fixture(grace: 2)
        defer { Task { await fixture.remove() } }
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        let attachment = try await supervisor.attach(session.id, user: fixture.user, columns: 80, rows: 24, disconnect: {})
        let screen = Screen(attachment.connection)
        // Typed in the sandbox's shell, as the session's account: the marker is printed only after the write.
        try await attachment.connection.write(Array("echo kept-by-restic > ~/proof.txt && sync && echo wr''itten\r".utf8))
        #expect(await screen.waitFor("written"))
        #expect(FileManager.default.contents(atPath: fixture.workspace + "/proof.txt") == Data("kept-by-restic\n".utf8))
        #expect(!fixture.processes().isEmpty)

        await attachment.connection.close()
        await supervisor.detached(attachment, lastTrafficAt: Date())
        let closed = try await fixture.runClock(supervisor, until: session.id)
        #expect(closed.state == .closed)
        #expect(closed.machine.closeReason == .expired)
        await supervisor.closesSettled()

        let events = try await fixture.events(session.id)
        #expect(events.filter { $0.type != .snapshot }.map(\.type) == [.started, .attached, .lost, .expired, .closed])
        // The final snapshot is restic's, and holds the file the shell wrote.
        let snapshots = try await fixture.backups.snapshots(for: fixture.user)
        let newest = try #require(snapshots.first)
        let files = try await fixture.backups.files(in: newest.shortID, path: try WorkspacePath(""), for: fixture.user)
        #expect(files.first { $0.name == "proof.txt" }?.size == 15)
        #expect(try await fixture.host.runningSessions().isEmpty)
        #expect(fixture.processes().isEmpty)
    }

    @Test func aResticKilledInTheMiddleOfTheFinalSnapshotIsRetriedAndTheCloseEndsVerified() async throws {
        let fixture = try await Fixture(grace: 600)
        defer { Task { await fixture.remove() } }
        let supervisor = fixture.supervisor()
        let session = try await supervisor.start(kind: .terminal, for: fixture.user)
        // Enough data (random, so it neither compresses nor deduplicates) that restic runs for a while.
        let urandom = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        let big = try urandom.read(upToCount: 96 << 20) ?? Data()
        try big.write(to: URL(fileURLWithPath: fixture.workspace + "/big.bin"))
        try Data("small\n".utf8).write(to: URL(fileURLWithPath: fixture.workspace + "/small.txt"))

        _ = try await supervisor.close(session.id, by: fixture.user)
        // The first `restic backup` of this repository is killed as soon as it shows up.
        var killed: pid_t?
        let deadline = ContinuousClock.now + .seconds(60)
        while killed == nil, ContinuousClock.now < deadline {
            for pid in fixture.processes() {
                guard let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
                let arguments = line.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                if arguments.first?.hasSuffix("restic") == true, arguments.contains("backup") {
                    kill(pid, SIGKILL)
                    killed = pid
                }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(killed != nil, "restic backup never ran")

        let closed = try await fixture.runClock(supervisor, until: session.id)
        #expect(closed.state == .closed)
        await supervisor.closesSettled()
        let events = try await fixture.events(session.id)
        // The killed run is on the timeline as a failed close; the retry made the verified copy.
        #expect(events.contains { $0.type == .failed })
        #expect(events.last?.type == .closed)
        let newest = try #require(try await fixture.backups.snapshots(for: fixture.user).first)
        let files = try await fixture.backups.files(in: newest.shortID, path: try WorkspacePath(""), for: fixture.user)
        #expect(files.first { $0.name == "big.bin" }?.size == Int64(big.count))
        #expect(files.first { $0.name == "small.txt" }?.size == 6)
        // The repository the killed run wrote into is sound (restic check reads every pack's index).
        try await fixture.driver.check(tenant: fixture.user.tenantID)
        #expect(fixture.processes().isEmpty)
    }
}
