import Foundation
import HoldfastCore

/// The data directory, created on first use and readable by its owner only (it holds
/// workspaces, backup passwords, the store and mail).
enum DataDirectory {
    static func prepare(_ path: String) throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw AppError(
                    code: "data_dir_not_a_directory", message: "The data directory '\(path)' is a file; give --data-dir a directory.")
            }
            try Self.restrict(path)
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

    /// Which server this data directory is, as a node: a random id made on first use and kept
    /// in `node-identity`, so the same server restarted takes its node name back at once.
    static func nodeIdentity(_ path: String) throws -> String {
        let file = URL(fileURLWithPath: path).appendingPathComponent("node-identity")
        if let text = try? String(contentsOf: file, encoding: .utf8),
            let identity = text.split(whereSeparator: \.isNewline).first.map(String.init), !identity.isEmpty
        {
            return identity
        }
        let identity = UUID().uuidString.lowercased()
        do {
            try Data((identity + "\n").utf8).write(to: file, options: .atomic)
        } catch {
            throw AppError(
                code: "data_dir_unwritable", message: "Cannot write \(file.path); check the data directory's permissions.", cause: error)
        }
        return identity
    }

    /// The node name this data directory runs as when `--node` is not given: the first start's
    /// `fallback` (the host's name), kept in `node-name`, so that a host whose name changes
    /// (a container's, say) still finds its sessions, which record the node they run on.
    static func nodeName(_ path: String, given: String?, fallback: String) throws -> String {
        if let given { return given }
        let file = URL(fileURLWithPath: path).appendingPathComponent("node-name")
        if let text = try? String(contentsOf: file, encoding: .utf8),
            let name = text.split(whereSeparator: \.isNewline).first.map(String.init), Node.isValidName(name)
        {
            return name
        }
        do {
            try Data((fallback + "\n").utf8).write(to: file, options: .atomic)
        } catch {
            throw AppError(
                code: "data_dir_unwritable", message: "Cannot write \(file.path); check the data directory's permissions.", cause: error)
        }
        return fallback
    }

    /// An existing directory keeps no access for its group or others, whatever made it: an
    /// operator's `mkdir`, a restore, an older version.
    static func restrict(_ path: String) throws {
        let manager = FileManager.default
        let mode: Int
        do {
            let attributes = try manager.attributesOfItem(atPath: path)
            mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0
        } catch {
            throw AppError(code: "data_dir_unreadable", message: "Cannot read the data directory '\(path)'.", cause: error)
        }
        guard mode & 0o077 != 0 else { return }
        do {
            try manager.setAttributes([.posixPermissions: mode & 0o700], ofItemAtPath: path)
        } catch {
            throw AppError(
                code: "data_dir_open",
                message: "The data directory '\(path)' is open to other users (mode \(String(mode & 0o777, radix: 8))) and could "
                    + "not be made 0700; run chmod 700 on it, as its owner.",
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
