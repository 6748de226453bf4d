import Foundation
import Glibc
import HoldfastCore

/// The tenants' repository passwords: one file per tenant, mode 0600, in a folder of mode 0700.
///
/// restic reads the password with `--password-file`, so it never appears in an argument list
/// (visible to every user in `ps`) or in an environment (inherited, dumped in crash reports).
/// A password is 32 random bytes written as 64 hex digits, made on the tenant's first backup.
/// Losing this folder loses every backup: it belongs in the server's own backup.
struct PasswordStore: Sendable {
    let directory: String

    /// The password file of `tenant`, or `nil` when the tenant never had a backup.
    func existingFile(for tenant: Tenant.ID) throws(CoreError) -> String? {
        let path = self.path(for: tenant)
        var info = stat()
        guard lstat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT { return nil }
            throw .fileSystem("read the backup password file", path, errno: code)
        }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_size > 0 else {
            throw CoreError(
                .unavailable,
                code: "backup_password_unreadable",
                message: "The backup password file \(path) is not a regular, non-empty file. "
                    + "Restore it from the server's backup; without it the tenant's snapshots cannot be read."
            )
        }
        if info.st_mode & 0o777 != 0o600, chmod(path, 0o600) != 0 {
            throw .fileSystem("restrict the permissions of", path, errno: errno)
        }
        return path
    }

    /// The password file of `tenant`, created with a fresh random password when missing.
    ///
    /// Safe against a concurrent first backup of the same tenant: the file is written under a
    /// temporary name and linked into place, so nobody ever reads a half-written password and
    /// exactly one password wins.
    func file(for tenant: Tenant.ID) throws(CoreError) -> String {
        try self.prepareDirectory()
        if let path = try self.existingFile(for: tenant) { return path }
        let path = self.path(for: tenant)
        let temporary = "\(self.directory)/.\(tenant).password.tmp-\(randomHex(bytes: 8))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .fileSystem("create the backup password file", temporary, errno: errno) }
        defer { unlink(temporary) }
        let password = Array(randomHex(bytes: 32).utf8)
        let written = password.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let writeError = errno
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == password.count, synced else {
            throw .fileSystem("write the backup password file", temporary, errno: writeError)
        }
        if link(temporary, path) != 0, errno != EEXIST {
            throw .fileSystem("store the backup password file", path, errno: errno)
        }
        guard let stored = try self.existingFile(for: tenant) else {
            throw .fileSystem("read back the backup password file", path, errno: ENOENT)
        }
        return stored
    }

    private func path(for tenant: Tenant.ID) -> String {
        "\(self.directory)/\(tenant).password"
    }

    /// Creates the folder if needed and makes sure only the server's user can enter it.
    private func prepareDirectory() throws(CoreError) {
        do {
            try FileManager.default.createDirectory(
                atPath: self.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CoreError(
                .unavailable,
                code: "backup_file_system_error",
                message: "Could not create the backup secrets folder \(self.directory) (\(error)). "
                    + "Check that its parent exists and is writable by the server."
            )
        }
        var info = stat()
        guard lstat(self.directory, &info) == 0 else { throw .fileSystem("inspect", self.directory, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw CoreError(
                .unavailable,
                code: "backup_file_system_error",
                message: "The backup secrets folder \(self.directory) is not a folder (a symbolic link is not accepted either). "
                    + "Point the configuration at a real folder."
            )
        }
        if info.st_mode & 0o777 != 0o700, chmod(self.directory, 0o700) != 0 {
            throw .fileSystem("restrict the permissions of", self.directory, errno: errno)
        }
    }
}
