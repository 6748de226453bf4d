import Foundation
import Synchronization

/// Secrets (the database URL, SMTP credentials, the metrics token) come from a file only its
/// owner can read, or from the environment — never from the command line, which every user of
/// the host can read in the process list.
public enum Secret {
    /// The secret in `file` (surrounding whitespace dropped), else the variable `environment`,
    /// else `nil`.
    /// - Throws: when the file cannot be read, is open to its group or others, or is empty.
    public static func read(file: String?, environment: String, flag: String) throws -> String? {
        guard let file else { return self.environment(environment) }
        return try self.read(file: file, flag: flag)
    }

    /// The variable `name`, trimmed, or `nil` when unset or blank. It is removed from the
    /// environment when first read, so no program this one starts inherits it; later reads in this
    /// process get the same value.
    public static func environment(_ name: String) -> String? {
        self.consumed.withLock { consumed in
            if let known = consumed[name] { return known }
            let value = ProcessInfo.processInfo.environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines)
            let secret = value?.isEmpty == false ? value : nil
            unsetenv(name)
            consumed[name] = .some(secret)
            return secret
        }
    }

    private static let consumed = Mutex<[String: String?]>([:])

    /// The secret in `file`, surrounding whitespace dropped.
    /// - Throws: when the file cannot be read, is open to its group or others, or is empty.
    public static func read(file: String, flag: String) throws -> String {
        let attributes: [FileAttributeKey: Any]
        let contents: String
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: file)
            contents = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw AppError(code: "secret_unreadable", message: "\(flag) \(file) cannot be read.", cause: error)
        }
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0
        guard mode & 0o077 == 0 else {
            throw AppError(
                code: "secret_open",
                message: "\(flag) \(file) is readable by others (mode \(String(mode & 0o777, radix: 8))); run chmod 600 on it.")
        }
        let secret = contents.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty else {
            throw AppError(code: "secret_empty", message: "\(flag) \(file) is empty.")
        }
        return secret
    }
}
