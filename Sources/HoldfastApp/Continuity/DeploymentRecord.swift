import Foundation
import HoldfastCore

/// The server's settings that the continuity plans and drills depend on, stored by
/// `holdfast serve` when it starts, so that `holdfast drill` and `holdfast plan render`, run
/// beside it with only `--data-dir` and `--database`, describe the deployment as it runs (a
/// plan generated from a command's own defaults would claim the wrong RPO and repository).
public struct DeploymentRecord: Codable, Sendable, Hashable {
    public var snapshotIntervalSeconds: Int
    public var backupRepository: String
    public var publicURL: String?
    public var graceSeconds: Int
    public var drillIntervalSeconds: Int
    public var mailFrom: String
    /// Set when the server keeps the backup passwords outside its data directory (many nodes).
    public var secretsDirectory: String?

    public init(_ configuration: HoldfastConfiguration) {
        self.snapshotIntervalSeconds = Int(configuration.backups.snapshotInterval)
        self.backupRepository = configuration.resolvedBackupRepository
        self.publicURL = configuration.publicURL
        self.graceSeconds = Int(configuration.sessions.grace)
        self.drillIntervalSeconds = Int(configuration.backups.drillInterval)
        self.mailFrom = configuration.mailFrom
        self.secretsDirectory = configuration.backups.secretsDirectory
    }

    /// `configuration` with the recorded server's settings in place of its own.
    public func applied(to configuration: HoldfastConfiguration) -> HoldfastConfiguration {
        var configuration = configuration
        configuration.backups.snapshotInterval = TimeInterval(self.snapshotIntervalSeconds)
        configuration.backups.repository = self.backupRepository
        configuration.publicURL = self.publicURL
        configuration.sessions.grace = TimeInterval(self.graceSeconds)
        configuration.backups.drillInterval = TimeInterval(self.drillIntervalSeconds)
        configuration.mailFrom = self.mailFrom
        if let secretsDirectory = self.secretsDirectory { configuration.backups.secretsDirectory = secretsDirectory }
        return configuration
    }

    /// Stores the record for the other commands.
    public func save(in settings: any SettingsRepository, at now: Date) async throws {
        try await settings.set(String(decoding: try JSONEncoder().encode(self), as: UTF8.self), for: SettingKey.deployment, at: now)
    }

    /// `configuration` as the last started server had it, or unchanged if no server ever started.
    public static func serverConfiguration(
        _ configuration: HoldfastConfiguration, settings: any SettingsRepository
    ) async throws -> HoldfastConfiguration {
        guard let stored = try await settings.value(for: SettingKey.deployment),
            let record = try? JSONDecoder().decode(DeploymentRecord.self, from: Data(stored.utf8))
        else { return configuration }
        return record.applied(to: configuration)
    }
}
