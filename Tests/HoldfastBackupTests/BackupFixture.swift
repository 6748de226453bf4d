import Foundation
import Glibc
import HoldfastBackup
import HoldfastCore
import Logging
import Testing

/// A temporary data folder with secrets, cache and a local repository folder, and helpers to
/// make workspaces and compare what a restore wrote. Removed by `withFixture`.
struct BackupFixture {
    let root: String
    let tenant = Tenant.ID()

    var secretsDirectory: String { self.root + "/secrets" }
    var repositoriesDirectory: String { self.root + "/repositories" }
    /// The tenant's local restic repository, as the driver lays it out.
    var tenantRepository: String { self.repositoriesDirectory + "/\(self.tenant)" }
    var passwordFile: String { self.secretsDirectory + "/\(self.tenant).password" }

    func driver(
        repository: RepositoryLocation? = nil, timeout: Duration = .seconds(60), environment: [String: String] = [:],
        maximumProcesses: Int = 8, initialisationGroup: String? = nil
    ) -> ResticBackupDriver {
        ResticBackupDriver(
            configuration: .init(
                repository: repository ?? .local(directory: self.repositoriesDirectory), secretsDirectory: self.secretsDirectory,
                cacheDirectory: self.root + "/cache", resticPath: resticPath, commandTimeout: timeout,
                interruptGrace: .seconds(3), maximumProcesses: maximumProcesses, environment: environment,
                initialisationGroup: initialisationGroup),
            logger: testLogger)
    }

    /// Creates `root/NAME` with the given files (path → contents) and returns its path.
    @discardableResult
    func workspace(_ name: String, _ files: [String: [UInt8]]) throws -> String {
        let workspace = self.root + "/" + name
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        for (path, contents) in files {
            let file = workspace + "/" + path
            try FileManager.default.createDirectory(
                atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(contents).write(to: URL(fileURLWithPath: file))
        }
        return workspace
    }

    /// A new, not yet existing path for a restore target.
    func target(_ name: String) -> String { self.root + "/restores/" + name }

    /// The names in `folder`, sorted.
    func names(in folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    }
}

/// Every regular file below `folder` by relative path, with its bytes; links by their destination.
func contents(of folder: String) throws -> [String: [UInt8]] {
    var result: [String: [UInt8]] = [:]
    guard let paths = FileManager.default.subpaths(atPath: folder) else { return result }
    for path in paths {
        let full = folder + "/" + path
        var info = stat()
        guard lstat(full, &info) == 0 else { continue }
        switch info.st_mode & S_IFMT {
        case S_IFREG: result[path] = Array(try Data(contentsOf: URL(fileURLWithPath: full)))
        case S_IFLNK: result[path] = Array(try FileManager.default.destinationOfSymbolicLink(atPath: full).utf8)
        default: continue
        }
    }
    return result
}

/// Deterministic pseudo-random bytes, so a file does not compress or deduplicate away.
func noise(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

/// restic from Debian's package; a missing restic fails the tests (they never skip).
let resticPath = "/usr/bin/restic"

let testLogger: Logger = {
    var logger = Logger(label: "holdfast.backup.tests")
    logger.logLevel = ProcessInfo.processInfo.environment["HOLDFAST_TEST_LOG"] == nil ? .critical : .trace
    return logger
}()

/// Runs `body` with a fresh fixture under `/tmp` and removes it afterwards.
func withFixture<Result>(_ body: (BackupFixture) async throws -> Result) async throws -> Result {
    #expect(FileManager.default.isExecutableFile(atPath: resticPath), "restic is missing: apt-get install -y restic")
    var template = Array("/tmp/hb-XXXXXX".utf8CString)
    guard mkdtemp(&template) != nil else { throw CoreError(.unavailable, code: "test_setup", message: "mkdtemp failed") }
    let fixture = BackupFixture(root: String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    try FileManager.default.createDirectory(atPath: fixture.root + "/restores", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: fixture.root) }
    return try await body(fixture)
}

/// Runs restic by hand against the fixture's repository (to lock or damage it as a crash would).
func startRestic(_ fixture: BackupFixture, _ arguments: [String]) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: resticPath)
    process.arguments =
        arguments + ["--repo", fixture.tenantRepository, "--password-file", fixture.passwordFile, "--cache-dir", fixture.root + "/cache"]
    process.environment = ["PATH": "/usr/bin:/bin"]
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

/// Leaves a stale exclusive lock, as a crashed `restic prune` does: starts a prune whose
/// downloads are throttled to 1 KiB/s, waits until its lock file appears, and SIGKILLs it.
///
/// The wait is generous: when every suite starts at once on a loaded machine, restic can take
/// well over 5 s to open the repository (its key derivation alone is CPU-bound). On an idle
/// machine the opposite happens: a prune of a small local repository holds its lock for a few
/// milliseconds only, so the lock folder is watched closely and a prune that finished before it
/// was caught is run again (a few times at most; the expectation reports if none was caught).
func leaveStaleExclusiveLock(_ fixture: BackupFixture) async throws {
    let locks = fixture.tenantRepository + "/locks"
    var caught = false
    var lastStatus: Int32 = 0
    for _ in 0..<10 where !caught {
        let process = try startRestic(fixture, ["prune", "--limit-download", "1"])
        let deadline = ContinuousClock.now + .seconds(120)
        while (try FileManager.default.contentsOfDirectory(atPath: locks)).isEmpty, process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(1))
        }
        caught = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        lastStatus = process.terminationStatus
    }
    #expect(caught, "every prune exited by itself (last status \(lastStatus)) before it was killed")
    #expect(try !FileManager.default.contentsOfDirectory(atPath: locks).isEmpty, "the killed prune left no lock")
}
