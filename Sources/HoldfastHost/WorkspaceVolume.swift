import Foundation
import Glibc
import HoldfastCore

/// A user's workspace as a filesystem of its own: the per-user disk quota (ARCHITECTURE §2a).
///
/// The workspace folder stays where it was (`DATA/workspaces/<tenant>/<user>`), but it becomes
/// the mount point of an ext4 filesystem kept in a sparse image file (`DATA/volumes/…/<user>.img`),
/// so a user who fills it gets `ENOSPC` at the quota while the data directory still has room,
/// and the sandbox's bind of the workspace sees the volume without knowing about it.
///
/// Layout. The image's filesystem is mounted (`-o loop,nosuid,nodev,discard`: nobody brings in a
/// setuid file or a device node, and deleted files give their blocks back to the host) at a private
/// folder beside the image (`<user>.mnt`, under the root-only volumes folder). Its root holds
/// `lost+found` (kept for `e2fsck`), `home` (the user's files, owned by the user, mode 0700) and
/// `staging` (root only). `home` is bind-mounted at the workspace path, so the user never sees the
/// other two. Restores land in `staging` and move into `home` by rename: the same filesystem and
/// the same mount, so a restore is never a copy and never happens in a folder the user can touch
/// while it is written (a user could otherwise swap a staged folder for a link and have root write
/// through it).
///
/// Mounts are kernel state: they survive a server restart, and after a host reboot the next
/// `ensureMounted` mounts the image again. An image is never attached to a second loop device: one
/// that is still attached (its filesystem kept alive by a running sandbox after an unmount here) is
/// mounted again through the same device, which shares the one superblock.
public struct WorkspaceVolume: Sendable {
    public struct Configuration: Sendable {
        public var mkfsPath: String
        public var resize2fsPath: String
        public var e2fsckPath: String
        public var mountPath: String
        public var umountPath: String
        public var losetupPath: String
        /// Copies a pre-quota workspace into its new volume.
        public var cpPath: String
        /// How long one of the tools above may run (`e2fsck` of a large, full volume is the slowest).
        public var commandTimeout: Duration
        /// How long moving a pre-quota workspace into its volume may take (a copy of all its files).
        public var migrationTimeout: Duration

        public init(
            mkfsPath: String = "/usr/sbin/mkfs.ext4",
            resize2fsPath: String = "/usr/sbin/resize2fs",
            e2fsckPath: String = "/usr/sbin/e2fsck",
            mountPath: String = "/usr/bin/mount",
            umountPath: String = "/usr/bin/umount",
            losetupPath: String = "/usr/sbin/losetup",
            cpPath: String = "/usr/bin/cp",
            commandTimeout: Duration = .seconds(300),
            migrationTimeout: Duration = .seconds(3_600)
        ) {
            self.mkfsPath = mkfsPath
            self.resize2fsPath = resize2fsPath
            self.e2fsckPath = e2fsckPath
            self.mountPath = mountPath
            self.umountPath = umountPath
            self.losetupPath = losetupPath
            self.cpPath = cpPath
            self.commandTimeout = commandTimeout
            self.migrationTimeout = migrationTimeout
        }
    }

    /// What `ensureMounted` did.
    public struct Outcome: Sendable, Hashable {
        /// The image was made by this call.
        public var created = false
        /// The volume was mounted by this call (it was not mounted here before).
        public var mounted = false
        /// Files that were in the folder before it became a volume were moved into it.
        public var migrated = false
        /// The size before this call, when it changed.
        public var resizedFromBytes: Int?
        /// The image's size now.
        public var sizeBytes = 0
        /// Why the size asked for was not applied (the old size is kept); `nil` when it was.
        public var sizeNotApplied: String?
    }

    /// The sparse image file that holds the filesystem.
    public let image: String
    /// The workspace folder, where the user's part of the volume appears.
    public let mountPoint: String
    /// Where the whole filesystem is mounted: beside the image, with `.mnt` for `.img`.
    public let fileSystemMount: String
    public let configuration: Configuration

    public init(image: String, mountPoint: String, configuration: Configuration = .init()) {
        self.image = Self.absolute(image)
        self.mountPoint = Self.absolute(mountPoint)
        let base = self.image.hasSuffix(".img") ? String(self.image.dropLast(4)) : self.image
        self.fileSystemMount = base + ".mnt"
        self.configuration = configuration
    }

    /// The user's files, seen through the filesystem's own mount: rename into here from `staging`.
    public var home: String { self.fileSystemMount + "/home" }
    /// Root-only scratch space on the volume's filesystem, for restores that then move into `home`.
    public var stagingDirectory: String { self.fileSystemMount + "/staging" }

    // MARK: Mounting

    /// Makes `mountPoint` a mounted ext4 filesystem of `sizeGiB` backed by a sparse image file.
    ///
    /// Creates the image when missing (no reserved blocks; the root of what the user sees is owned
    /// by `owner`, mode 0700, with no `lost+found` in it); grows it when the size went up (online,
    /// or offline when the kernel refuses and no session holds the volume); shrinks it only offline
    /// and never below what is used (otherwise the old size is kept and `Outcome.sizeNotApplied`
    /// says why). A non-empty folder at `mountPoint` that is not yet a volume (files from before
    /// quotas) is moved into it, nothing lost. Idempotent, and fast when already mounted at the
    /// right size (one read of the mount table and a stat).
    ///
    /// - Throws: `HostError` `quota_requires_root` when the server is not root (the caller then
    ///   runs without a quota); `workspace_too_large` when a pre-quota workspace does not fit;
    ///   `volume_failed` when a tool fails (its output is in the message).
    @discardableResult
    public func ensureMounted(sizeGiB: Int, owner: UnixAccount?) async throws -> Outcome {
        guard geteuid() == 0 else {
            throw HostError(
                code: "quota_requires_root",
                message: "workspace disk quotas need a server running as root (they are loop-mounted filesystems); "
                    + "run the server as root, or accept workspaces without a quota")
        }
        guard sizeGiB >= 1 else {
            throw HostError(code: "volume_invalid_size", message: "a workspace volume must be at least 1 GiB (asked for \(sizeGiB) GiB)")
        }
        let wanted = sizeGiB << 30
        var outcome = Outcome()
        let table = MountTable.read()
        let imageSize = Self.fileSize(self.image)
        if let imageSize, self.isMounted(in: table) {
            outcome.sizeBytes = imageSize
            if imageSize == wanted { return outcome }
        }

        try Self.makeDirectory(URL(fileURLWithPath: self.image).deletingLastPathComponent().path)
        try Self.makeDirectory(self.fileSystemMount)
        if imageSize == nil {
            guard table.entry(at: self.fileSystemMount) == nil else {
                throw HostError(
                    code: "volume_failed",
                    message: "something is mounted at \(self.fileSystemMount) but its image \(self.image) is missing; "
                        + "unmount it (umount \(self.fileSystemMount)) and start the session again")
            }
            try await self.createImage(bytes: wanted)
            outcome.created = true
        }
        var size = Self.fileSize(self.image) ?? wanted
        if size != wanted {
            let (newSize, notice) = try await self.resize(from: size, to: wanted)
            if newSize != size { outcome.resizedFromBytes = size }
            size = newSize
            outcome.sizeNotApplied = notice
        }
        outcome.sizeBytes = size

        let device = try await self.mountFileSystem()
        outcome.mounted = device.mountedNow
        try self.prepareLayout(owner: owner)
        if !self.isBound(in: MountTable.read()) {
            outcome.migrated = try await self.migrateExistingFolder()
            try Self.makeDirectory(self.mountPoint)
            try await self.tool(self.configuration.mountPath, ["--bind", self.home, self.mountPoint], doing: "binding the volume")
            outcome.mounted = true
        }
        return outcome
    }

    /// Whether the volume is mounted at `mountPoint` (read from `/proc/self/mountinfo`).
    public var isMounted: Bool { self.isMounted(in: MountTable.read()) }

    /// The space used and the space usable on the volume, in bytes; `nil` when it is not mounted.
    ///
    /// `sizeBytes` is what the user can fill (the filesystem's own bookkeeping is left out), so
    /// `usedBytes == sizeBytes` exactly when writes start failing with `ENOSPC`.
    public func usage() -> (usedBytes: Int, sizeBytes: Int)? {
        guard self.isMounted else { return nil }
        var info = statvfs()
        guard statvfs(self.mountPoint, &info) == 0 else { return nil }
        let block = Int(info.f_frsize)
        let used = (Int(info.f_blocks) - Int(info.f_bfree)) * block
        return (used, used + Int(info.f_bavail) * block)
    }

    /// Unmounts the volume (a normal unmount, never a lazy one: a busy volume is an error) and
    /// detaches its loop device. Idempotent.
    ///
    /// A sandbox started before keeps its own view of the filesystem, which then lives on until
    /// that sandbox ends (the loop device detaches itself then).
    public func unmount() async throws {
        let table = MountTable.read()
        if self.isBound(in: table) {
            try await self.tool(self.configuration.umountPath, [self.mountPoint], doing: "unmounting the workspace")
        }
        if table.entry(at: self.fileSystemMount) != nil {
            try await self.tool(self.configuration.umountPath, [self.fileSystemMount], doing: "unmounting the volume")
        }
        if let device = await self.attachedDevice(settle: true) {
            // Detaching a device still in use (by a sandbox) only marks it to detach when freed.
            try await self.tool(self.configuration.losetupPath, ["-d", device.path], doing: "detaching \(device.path)")
        }
    }

    // MARK: Steps

    private func isMounted(in table: MountTable) -> Bool {
        guard let fileSystem = table.entry(at: self.fileSystemMount), self.isBound(in: table) else { return false }
        // What is mounted there is this image, not some other filesystem.
        let backing = try? String(contentsOfFile: "/sys/dev/block/\(fileSystem.device)/loop/backing_file", encoding: .utf8)
        return backing?.trimmingCharacters(in: .whitespacesAndNewlines) == Self.canonical(self.image)
    }

    /// Whether `home` of this volume's filesystem is bound at the mount point.
    private func isBound(in table: MountTable) -> Bool {
        guard let fileSystem = table.entry(at: self.fileSystemMount), let bound = table.entry(at: self.mountPoint) else { return false }
        return bound.device == fileSystem.device && bound.root == "/home"
    }

    /// Makes the image under a temporary name, then renames it in place: a crash leaves no half image.
    private func createImage(bytes: Int) async throws {
        let fresh = self.image + ".new"
        _ = unlink(fresh)
        let descriptor = open(fresh, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw HostError.systemCall("open", errno: errno, while: "creating \(fresh)", hint: "check the volumes folder")
        }
        let truncated = ftruncate(descriptor, off_t(bytes))
        let truncateError = errno
        close(descriptor)
        guard truncated == 0 else {
            _ = unlink(fresh)
            throw HostError.systemCall(
                "ftruncate", errno: truncateError, while: "sizing \(fresh)", hint: "the data directory's filesystem must allow sparse files"
            )
        }
        do {
            // No blocks reserved for root (the user gets the whole quota); lazy init keeps the image
            // sparse: only what is written takes room on the host.
            try await self.tool(
                self.configuration.mkfsPath,
                ["-q", "-F", "-t", "ext4", "-m", "0", "-L", "holdfast", "-E", "lazy_itable_init=1,lazy_journal_init=1,nodiscard", fresh],
                doing: "creating the workspace filesystem")
        } catch {
            _ = unlink(fresh)
            throw error
        }
        guard rename(fresh, self.image) == 0 else {
            throw HostError.systemCall("rename", errno: errno, while: "putting \(self.image) in place", hint: "check the volumes folder")
        }
    }

    /// Brings the filesystem to `wanted` bytes; returns the size it has then and, when that is not
    /// `wanted`, why.
    private func resize(from current: Int, to wanted: Int) async throws -> (Int, String?) {
        if wanted > current, let device = await self.attachedDevice(settle: false) {
            // Online: the loop device learns the new size, then the filesystem grows into it.
            try self.truncateImage(to: wanted)
            let capacity = try? await self.run(self.configuration.losetupPath, ["-c", device.path])
            let grown = try? await self.run(self.configuration.resize2fsPath, [device.path])
            if capacity?.status.isSuccess == true, grown?.status.isSuccess == true { return (wanted, nil) }
            try self.truncateImage(to: current)
        }
        // Offline, on the image itself: only when no mount anywhere holds the filesystem.
        guard try await self.takeOffline() else {
            let verb = wanted > current ? "grow" : "shrink"
            return (
                current,
                "the volume is in use by a running session and could not \(verb) online; it keeps \(current >> 30) GiB "
                    + "until a start when none of the user's sessions runs"
            )
        }
        let check = try await self.run(self.configuration.e2fsckPath, ["-f", "-p", self.image])
        // 0: clean, 1: errors corrected; anything else needs an operator.
        guard case .exited(let code) = check.status, code <= 1 else {
            throw HostError(
                code: "volume_failed",
                message: "e2fsck found errors it could not correct in \(self.image) (\(check.status)): \(check.output); "
                    + "run `e2fsck -f \(self.image)` by hand before the user's next session")
        }
        if wanted > current {
            try self.truncateImage(to: wanted)
            let grown = try await self.run(self.configuration.resize2fsPath, [self.image])
            guard grown.status.isSuccess else {
                try self.truncateImage(to: current)
                throw HostError(
                    code: "volume_failed", message: "resize2fs could not grow \(self.image) (\(grown.status)): \(grown.output)")
            }
            return (wanted, nil)
        }
        // resize2fs refuses to shrink below what the files need, and then leaves the filesystem as it was.
        let shrunk = try await self.run(self.configuration.resize2fsPath, [self.image, "\(wanted >> 10)K"])
        guard shrunk.status.isSuccess else {
            return (
                current,
                "the workspace holds more than \(wanted >> 30) GiB can take, so it keeps \(current >> 30) GiB; "
                    + "the user must delete files before the quota can go down"
            )
        }
        try self.truncateImage(to: wanted)
        return (wanted, nil)
    }

    /// Unmounts the volume here and reports whether its filesystem is now mounted nowhere (no
    /// sandbox holds it); when it still is, it is mounted here again and `false` is returned.
    private func takeOffline() async throws -> Bool {
        let table = MountTable.read()
        if self.isBound(in: table) {
            guard (try? await self.run(self.configuration.umountPath, [self.mountPoint]))?.status.isSuccess == true else {
                return false
            }
        }
        if table.entry(at: self.fileSystemMount) != nil {
            guard (try? await self.run(self.configuration.umountPath, [self.fileSystemMount]))?.status.isSuccess == true else {
                try await self.tool(self.configuration.mountPath, ["--bind", self.home, self.mountPoint], doing: "binding the volume")
                return false
            }
        }
        guard await self.attachedDevice(settle: true) == nil else {
            // Still alive in a sandbox's mount namespace: the caller mounts it again through its device.
            return false
        }
        return true
    }

    /// Mounts the filesystem at `fileSystemMount` unless it is; through the loop device the image
    /// is already attached to, if any, so it is never attached twice.
    private func mountFileSystem() async throws -> (device: String, mountedNow: Bool) {
        if let entry = MountTable.read().entry(at: self.fileSystemMount) { return (entry.device, false) }
        if let device = await self.attachedDevice(settle: false) {
            try await self.tool(
                self.configuration.mountPath, ["-t", "ext4", "-o", "nosuid,nodev,discard", device.path, self.fileSystemMount],
                doing: "mounting the volume")
        } else {
            try await self.tool(
                self.configuration.mountPath, ["-t", "ext4", "-o", "loop,nosuid,nodev,discard", self.image, self.fileSystemMount],
                doing: "mounting the volume")
        }
        if let entry = MountTable.read().entry(at: self.fileSystemMount) { return (entry.device, true) }
        let devices = (try? await self.run(self.configuration.losetupPath, ["-j", self.image]))?.output ?? "unknown"
        throw HostError(
            code: "volume_failed",
            message: "mount reported success but \(self.fileSystemMount) is not mounted (loop devices of the image: \(devices))")
    }

    /// `home` for the user, `staging` for root; both checked each time (cheap, and it repairs a
    /// volume whose owner changed).
    private func prepareLayout(owner: UnixAccount?) throws {
        for (path, account) in [(self.home, owner), (self.stagingDirectory, nil)] {
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw HostError.systemCall("mkdir", errno: errno, while: "preparing \(path)", hint: "the volume may be full or damaged")
            }
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                throw HostError(code: "volume_failed", message: "\(path) is not a folder; move it away and start the session again")
            }
            let (uid, gid) = (account?.uid ?? 0, account?.gid ?? 0)
            guard lchown(path, uid, gid) == 0, chmod(path, 0o700) == 0 else {
                throw HostError.systemCall("lchown", errno: errno, while: "giving \(path) to uid \(uid)", hint: "check the volume")
            }
        }
    }

    /// Moves the files of a folder from before quotas into the volume; returns whether there were any.
    ///
    /// The folder is renamed aside (made root-only, so nothing new reaches it by its path), copied
    /// into `home` (a copy: it is another filesystem), and removed only once the copy succeeded.
    /// If it does not fit, everything goes back as it was and the error says by how much.
    private func migrateExistingFolder() async throws -> Bool {
        var info = stat()
        guard lstat(self.mountPoint, &info) == 0 else { return false }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw HostError(
                code: "volume_failed", message: "\(self.mountPoint) is not a folder; move it away so the workspace can be mounted there")
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: self.mountPoint)) ?? []
        guard !entries.isEmpty else { return false }
        let aside = self.mountPoint + ".before-volume"
        guard access(aside, F_OK) != 0 else {
            throw HostError(
                code: "volume_failed",
                message: "\(aside) is left from an interrupted move into a workspace volume; compare it with \(self.mountPoint), "
                    + "keep what is needed in one place and remove it")
        }
        let needed = Self.allocatedBytes(self.mountPoint)
        if let free = Self.freeBytes(self.home), needed > free {
            throw HostError(
                code: "workspace_too_large",
                message: "the workspace \(self.mountPoint) holds \(Self.describe(needed)) but its quota leaves \(Self.describe(free)); "
                    + "raise the tenant's disk limit or free space in the workspace, then start the session again")
        }
        guard rename(self.mountPoint, aside) == 0 else {
            throw HostError.systemCall(
                "rename", errno: errno, while: "moving \(self.mountPoint) aside", hint: "check the workspaces folder")
        }
        _ = lchown(aside, 0, 0)
        _ = chmod(aside, 0o700)
        func putBack() {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: self.home)) ?? [] {
                try? FileManager.default.removeItem(atPath: self.home + "/" + entry)
            }
            _ = lchown(aside, info.st_uid, info.st_gid)
            _ = chmod(aside, info.st_mode & 0o7777)
            _ = rename(aside, self.mountPoint)
        }
        let copy: ChildProcess
        do {
            // Output is dropped (`run` reads it only after the exit, and a copy that fails file by
            // file could fill the pipe and hang); the exit status is what decides.
            copy = try ProcessSpawner.spawn(Command(self.configuration.cpPath, ["-a", aside + "/.", self.home + "/"], environment: [:]))
        } catch {
            putBack()
            throw error
        }
        guard let status = await copy.exit.wait(timeout: self.configuration.migrationTimeout), status.isSuccess else {
            await copy.end(grace: .zero)
            putBack()
            throw HostError(
                code: "workspace_too_large",
                message:
                    "the files of \(self.mountPoint) could not be copied into its volume (cp failed; it holds \(Self.describe(needed))); "
                    + "nothing was lost: they are back in place. Raise the tenant's disk limit or check the data disk")
        }
        try? FileManager.default.removeItem(atPath: aside)
        return true
    }

    // MARK: Helpers

    private struct LoopDevice {
        var path: String
    }

    /// The loop device the image is attached to, if any (read from sysfs).
    ///
    /// - Parameter settle: wait a little for a device whose last mount just went, which the kernel
    ///   detaches (autoclear) as it is released.
    private func attachedDevice(settle: Bool) async -> LoopDevice? {
        let image = Self.canonical(self.image)
        for attempt in 0..<(settle ? 20 : 1) {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(25)) }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/block")) ?? []
            let found = names.filter { $0.hasPrefix("loop") }.first { name in
                let backing = try? String(contentsOfFile: "/sys/block/\(name)/loop/backing_file", encoding: .utf8)
                return backing?.trimmingCharacters(in: .whitespacesAndNewlines) == image
            }
            guard let found else { return nil }
            if !settle || attempt == 19 { return LoopDevice(path: "/dev/" + found) }
        }
        return nil
    }

    private func truncateImage(to bytes: Int) throws {
        guard truncate(self.image, off_t(bytes)) == 0 else {
            throw HostError.systemCall("truncate", errno: errno, while: "resizing \(self.image)", hint: "check the data disk")
        }
    }

    private func run(_ executable: String, _ arguments: [String]) async throws -> CommandResult {
        try await ProcessSpawner.run(
            Command(executable, arguments, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]),
            timeout: self.configuration.commandTimeout)
    }

    /// Runs a tool that must succeed.
    private func tool(_ executable: String, _ arguments: [String], doing: String) async throws {
        let result = try await self.run(executable, arguments)
        guard result.status.isSuccess else {
            let command = ([executable] + arguments).joined(separator: " ")
            throw HostError(
                code: "volume_failed",
                message: "\(doing) failed: `\(command)` ended with \(result.status): \(result.output); "
                    + "check that loop devices are available (/dev/loop-control) and the data disk has room")
        }
    }

    private static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw HostError(code: "volume_failed", message: "could not create \(path); check the data directory", cause: error)
        }
    }

    private static func fileSize(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_size)
    }

    private static func freeBytes(_ path: String) -> Int? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    /// The space a folder's files take on disk, links not followed.
    private static func allocatedBytes(_ path: String) -> Int {
        var total = 0
        let walker = FileManager.default.enumerator(atPath: path)
        while let relative = walker?.nextObject() as? String {
            var info = stat()
            if lstat(path + "/" + relative, &info) == 0 { total += Int(info.st_blocks) * 512 }
        }
        return total
    }

    private static func describe(_ bytes: Int) -> String {
        String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
    }

    private static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The path with links resolved, as the kernel reports it; the path itself when it does not exist.
    static func canonical(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// This process's view of what is mounted where (`/proc/self/mountinfo`).
struct MountTable {
    struct Entry {
        /// `major:minor` of the filesystem.
        var device: String
        /// The folder of the filesystem that is mounted (`/` unless it is a bind of a subfolder).
        var root: String
        var mountPoint: String
        var fileSystemType: String
    }

    var entries: [Entry]

    static func read() -> MountTable {
        let text = ProcessTable.text(of: "/proc/self/mountinfo") ?? ""
        return MountTable(entries: text.split(separator: "\n").compactMap(Self.parse))
    }

    /// The entry on top at `path` (mounts stack; the last one is what a lookup sees).
    func entry(at path: String) -> Entry? {
        let canonical = WorkspaceVolume.canonical(path)
        return self.entries.last { $0.mountPoint == canonical }
    }

    /// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue` (proc(5)).
    static func parse(_ line: Substring) -> Entry? {
        let fields = line.split(separator: " ")
        guard fields.count >= 7, let separator = fields.firstIndex(of: "-"), separator + 1 < fields.count else { return nil }
        return Entry(
            device: String(fields[2]), root: self.unescape(fields[3]), mountPoint: self.unescape(fields[4]),
            fileSystemType: String(fields[separator + 1]))
    }

    /// Undoes the kernel's octal escapes (`\040` for a space, `\134` for a backslash …).
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        var characters = Array(field.utf8)[...]
        while let byte = characters.popFirst() {
            if byte == UInt8(ascii: "\\"), characters.count >= 3,
                let value = UInt8(String(decoding: characters.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                characters = characters.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
