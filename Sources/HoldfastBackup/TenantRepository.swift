import Foundation
import Glibc
import HoldfastCore
import Logging

/// One tenant's restic repository: the arguments that reach it and the commands the driver runs.
///
/// Every command goes through `run`, which adds the repository, password file and cache flags,
/// and, when restic reports the repository locked, runs `restic unlock` (which removes only
/// stale locks: those of dead processes on this host, or older than 30 minutes) and retries once.
struct TenantRepository: Sendable {
    /// The restic repository string (`/DIR/<tenant>` or `s3:…/<tenant>`).
    let location: String
    /// The repository's folder when it is local: lets a missing `config` be told from a corrupt one.
    let localDirectory: String?
    let passwordFile: String
    let cacheDirectory: String
    /// The `cgroup.procs` of a CPU-throttled group that `restic init` runs in (see
    /// `ResticBackupDriver.Configuration.initialisationGroup`), or `nil` to run it unthrottled.
    var initialisationGroup: String? = nil
    let runner: ResticRunner

    /// The host name every snapshot records. Fixed, so that moving the server to a new machine
    /// does not change how snapshots are grouped; parents are chosen explicitly anyway.
    static let host = "holdfast"

    /// Runs `restic COMMAND` against this repository, unlocking stale locks and retrying once.
    func run(
        _ command: String, _ arguments: [String], in workingDirectory: String? = nil,
        onLine: (@Sendable (String) -> Void)? = nil
    ) async throws(CoreError) -> ResticOutcome {
        var outcome = try await self.runOnce(command, arguments, in: workingDirectory, onLine: onLine)
        // A lock that vanished while restic read it: a new run lists the locks afresh. The pause
        // grows, since each retry means another restic of the tenant was ending just then.
        var retries = 0
        while outcome.lockVanished, retries < Self.vanishedLockPauses.count {
            self.runner.logger.info(
                "restic found a lock gone while reading it; running it again", metadata: ["restic.command": "\(command)"])
            try? await Task.sleep(for: Self.vanishedLockPauses[retries])
            retries += 1
            outcome = try await self.runOnce(command, arguments, in: workingDirectory, onLine: onLine)
        }
        if outcome.isLocked, command != "unlock" {
            try await self.unlock()
            outcome = try await self.runOnce(command, arguments, in: workingDirectory, onLine: onLine)
        }
        return outcome
    }

    /// The pauses before each new run after a vanished lock (see `ResticRunner.isVanishedLock`).
    static let vanishedLockPauses: [Duration] = [.milliseconds(100), .milliseconds(300), .seconds(1), .seconds(2), .seconds(4)]

    /// Runs restic once; an overrun deadline becomes an error that names the repository.
    private func runOnce(
        _ command: String, _ arguments: [String], in workingDirectory: String?, onLine: (@Sendable (String) -> Void)?
    ) async throws(CoreError) -> ResticOutcome {
        let group = command == "init" ? self.initialisationGroup : nil
        let outcome = try await self.runner.run(
            self.arguments(command, arguments), in: workingDirectory, onLine: onLine, joining: group)
        guard outcome.timedOut else { return outcome }
        let said = outcome.errorTail.isEmpty ? "" : " (restic said: \(outcome.errorTail))"
        throw CoreError.repositoryUnavailable(
            self.location,
            "restic \(command) did not finish within \(self.runner.timeout(joining: group).timeInterval) s and was stopped\(said)",
            advice:
                "Check that it is reachable (network, endpoint, credentials); for very large workspaces raise the backup command timeout.")
    }

    /// Removes stale locks; `false` when there is no repository yet.
    @discardableResult
    func unlock() async throws(CoreError) -> Bool {
        let outcome = try await self.runOnce("unlock", [], in: nil, onLine: nil)
        if outcome.succeeded { return true }
        if try self.isMissing(outcome) { return false }
        throw self.failure(outcome, while: "removing stale locks")
    }

    /// Creates the repository; a concurrent first backup that created it already is fine.
    ///
    /// In the throttled group when there is one, so that restic calibrates its key derivation
    /// for a slow machine and every later command opens the repository in milliseconds.
    func initialise() async throws(CoreError) {
        let outcome = try await self.run("init", [])
        if outcome.errorTail.contains(ResticRunner.notJoined) {
            self.runner.logger.warning(
                "restic init ran unthrottled: this repository's key costs every restic command about half a second of CPU",
                metadata: ["restic.said": "\(outcome.errorTail)"])
        }
        guard !outcome.succeeded, !outcome.errorTail.contains("config file already exists") else { return }
        throw self.failure(outcome, while: "creating the repository")
    }

    /// The user's snapshots, newest first, or `nil` when the repository does not exist yet.
    ///
    /// Listings take no lock (`--no-lock`): they only read, and restic 0.14 retries for minutes
    /// when a lock it listed is removed before it reads it, which happens whenever another backup
    /// of the tenant ends meanwhile (the soak saw listings time out that way).
    func snapshots(of user: User.ID, ids: [String] = []) async throws(CoreError) -> [Snapshot]? {
        let outcome = try await self.run("snapshots", ["--no-lock", "--json", "--tag", ResticTags.user(user)] + ids)
        guard outcome.succeeded else {
            if try self.isMissing(outcome) { return nil }
            throw self.failure(outcome, while: "listing snapshots")
        }
        let text = outcome.lines.joined(separator: "\n")
        let listed = try ResticOutput.decode([ResticOutput.Snapshot].self, from: text.isEmpty ? "[]" : text, command: "snapshots")
        var snapshots: [Snapshot] = []
        for snapshot in listed {
            if let mine = try ResticOutput.snapshot(snapshot, of: user) { snapshots.append(mine) }
        }
        return snapshots.sorted { ($0.time, $0.id) > ($1.time, $1.id) }
    }

    /// The nodes `restic ls` prints for `path` of a snapshot: the node itself and its direct
    /// children, or everything below it when `recursive`. A path through a symbolic link lists
    /// nothing: restic does not follow links inside a snapshot.
    func nodes(in snapshot: String, at path: WorkspacePath, recursive: Bool) async throws(CoreError) -> [ResticOutput.Node] {
        let outcome = try await self.run("ls", ["--no-lock", "--json"] + (recursive ? ["--recursive"] : []) + [snapshot, "/\(path)"])
        guard outcome.succeeded else { throw self.failure(outcome, while: "listing snapshot \(snapshot.prefix(8))") }
        return try ResticOutput.listing(outcome.lines)
    }

    /// Whether a failed command failed because there is no repository at all (as opposed to one
    /// that lost its `config`: a local folder with other contents is corrupt, not missing).
    func isMissing(_ outcome: ResticOutcome) throws(CoreError) -> Bool {
        guard outcome.isMissingRepository else { return false }
        guard let directory = self.localDirectory else { return true }
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory), !entries.isEmpty else { return true }
        if Self.isInterruptedInitialisation(directory) {
            // A `restic init` killed halfway (the server died during a tenant's first backup) leaves
            // folders, maybe a key and a lock, but no config and no data: nothing to keep. Moved
            // aside rather than deleted, and the next backup creates the repository afresh.
            let aside = directory + ".interrupted-init-\(Int(Date().timeIntervalSince1970))"
            if rename(directory, aside) == 0 { return true }
        }
        throw CoreError.repositoryUnavailable(
            self.location, "its folder exists but has no config file (restic said: \(outcome.errorTail))",
            advice: "The repository is damaged: restore its folder from a copy, or move it aside so a new one is created.")
    }

    /// Whether a local repository folder without `config` holds no snapshot, index or data file:
    /// only what `restic init` writes before its config (folders, a key, a lock).
    static func isInterruptedInitialisation(_ directory: String) -> Bool {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return false }
        for case let relative as String in walker {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory + "/" + relative, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue { continue }
            if relative.hasPrefix("keys/") || relative.hasPrefix("locks/") { continue }
            return false
        }
        return true
    }

    /// The error for a command that failed, with restic's own words and what to check.
    func failure(_ outcome: ResticOutcome, while doing: String) -> CoreError {
        let said = outcome.errorTail.isEmpty ? "no message" : outcome.errorTail
        let exit = outcome.exitCode.map { "exit \($0)" } ?? "killed by a signal"
        if outcome.isWrongPassword {
            return .repositoryUnavailable(
                self.location, "\(doing) failed because the tenant's password opens none of its keys (\(exit); restic said: \(said))",
                advice: "Restore the tenant's password file from the server's backup, or restore the repository's keys folder.")
        }
        if outcome.isLocked {
            return .repositoryUnavailable(
                self.location, "\(doing) failed because another operation holds the repository's lock (\(exit); restic said: \(said))",
                advice: "Retry when the running backup or pruning has finished.")
        }
        return .repositoryUnavailable(self.location, "\(doing) failed (\(exit); restic said: \(said))")
    }

    private func arguments(_ command: String, _ arguments: [String]) -> [String] {
        [command, "--repo", self.location, "--password-file", self.passwordFile, "--cache-dir", self.cacheDirectory] + arguments
    }
}
