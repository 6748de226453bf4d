import Foundation

/// The data directory, created on first use and readable by its owner only (it will hold
/// workspaces, backup passwords and mail).
enum DataDirectory {
    static func prepare(_ path: String) throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw AppError(
                    code: "data_dir_not_a_directory", message: "The data directory '\(path)' is a file; give --data-dir a directory.")
            }
            return
        }
        do {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw AppError(
                code: "data_dir_unwritable", message: "Cannot create the data directory '\(path)'; check the path and its permissions.",
                cause: error)
        }
    }
}

/// The application's own failures, reported to the operator on the console.
public struct AppError: Error, CustomStringConvertible {
    public var code: String
    public var message: String
    public var cause: (any Error)?

    public init(code: String, message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { self.message }
}
