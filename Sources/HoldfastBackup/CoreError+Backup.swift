import HoldfastCore

/// The errors of the backup driver. The port promises `CoreError`s, so this module has no error
/// type of its own; these constructors keep the codes stable and the advice in one place.
extension CoreError {
    /// The code of every failure to reach or read a repository; callers retry later.
    static let repositoryUnavailableCode = "backup_repository_unavailable"
    /// The code of a backup whose remembered parent snapshot no longer exists; the driver
    /// handles it by looking the parent up, so it never reaches a caller.
    static let parentMissingCode = "backup_parent_missing"

    /// The repository could not be reached or read; `detail` says what restic reported.
    static func repositoryUnavailable(_ repository: String, _ detail: String, advice: String? = nil) -> CoreError {
        CoreError(
            .unavailable,
            code: Self.repositoryUnavailableCode,
            message: "The backup repository \(repository) cannot be used: \(detail). "
                + (advice ?? "Check that it is reachable (network, endpoint, credentials) and intact (run a check); then retry.")
        )
    }

    /// restic printed something that is not what restic 0.14 prints.
    static func unreadableOutput(_ command: String, _ detail: String) -> CoreError {
        CoreError(
            .unavailable,
            code: "backup_output_unreadable",
            message: "restic \(command) printed output that could not be read (\(detail)). "
                + "Check that the configured restic is version 0.14 or compatible."
        )
    }

    /// The restic program could not be started.
    static func toolMissing(_ path: String, _ detail: String) -> CoreError {
        CoreError(
            .unavailable,
            code: "backup_tool_missing",
            message: "restic could not be started from \(path) (\(detail)). "
                + "Install it (apt-get install restic) or set the backup driver's restic path."
        )
    }

    /// A snapshot that does not exist or is not the caller's; the two are not told apart.
    static func snapshotNotFound(_ id: String) -> CoreError {
        .notFound("There is no snapshot \(id) of yours; list your snapshots to see which exist.")
    }

    /// A local file operation of the driver failed (secrets, staging folders).
    static func fileSystem(_ what: String, _ path: String, errno code: Int32) -> CoreError {
        CoreError(
            .unavailable,
            code: "backup_file_system_error",
            message: "Could not \(what) \(path): \(errorText(code)) (errno \(code)). "
                + "Check that the folder exists, is writable by the server and the disk is not full."
        )
    }
}
