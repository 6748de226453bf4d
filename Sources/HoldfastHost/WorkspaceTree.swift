import CHoldfastFiles
import Foundation
import Glibc
import HoldfastCore
import NIOCore

/// A user's workspace files as the server (root) reads and writes them for the files API.
///
/// The workspace belongs to a hostile user who may be running programs in it at this very moment
/// (ARCHITECTURE §2a), so no path is ever handed to a path-taking call: every name is resolved
/// from a descriptor of the workspace root with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
/// RESOLVE_NO_XDEV)`, and everything after that works on descriptors. A link that leads out of
/// the workspace, `..` above it, or a mount crossing fails in the kernel (`EXDEV`), atomically,
/// whatever the user swaps in meanwhile. Links inside the workspace are followed.
///
/// Uploads are written in a folder the user cannot see (`uploadsDirectory`, root only, on the same
/// filesystem), then handed to the user's account and renamed into place, so a file appears only
/// when complete and a half-written one is never the user's to tamper with.
///
/// Every method blocks on the filesystem: call them off the cooperative pool (NIOThreadPool).
public struct WorkspaceTree: Sendable {
    /// The folder the user sees as home. For a volume, its `home` through the filesystem's own
    /// mount (renames from `uploadsDirectory` stay on one mount).
    public let root: String
    /// Root-only folder on the root's filesystem where uploads are written before they move in.
    public let uploadsDirectory: String
    /// Who owns what the API creates; `nil` keeps root as owner (sessions then run as root too).
    public let owner: UnixAccount?

    /// The folder a delete moves things into, at the workspace root.
    public static let trashName = ".trash"
    /// The longest name a file may get here (ext4's limit).
    public static let maximumNameBytes = 255

    public init(root: String, uploadsDirectory: String, owner: UnixAccount?) {
        self.root = root
        self.uploadsDirectory = uploadsDirectory
        self.owner = owner
    }

    // MARK: Descriptors

    /// An open file descriptor, closed when the last reference goes.
    public final class Descriptor: @unchecked Sendable {
        public let fd: Int32

        init(_ fd: Int32) { self.fd = fd }

        deinit { close(self.fd) }
    }

    /// What `stat` says about an entry.
    public struct Info: Sendable, Hashable {
        /// The same kinds a snapshot's entries have.
        public typealias Kind = SnapshotEntry.Kind

        public var kind: Kind
        public var size: Int64
        public var modifiedAt: Date
        /// The mode bits (permissions) of the entry.
        public var permissions: UInt32
        /// Device and inode: with size and time, what makes a download's ETag.
        public var identity: String

        init(_ status: stat) {
            switch status.st_mode & S_IFMT {
            case S_IFREG: self.kind = .file
            case S_IFDIR: self.kind = .directory
            case S_IFLNK: self.kind = .symlink
            default: self.kind = .other
            }
            self.size = Int64(status.st_size)
            self.modifiedAt = Date(
                timeIntervalSince1970: TimeInterval(status.st_mtim.tv_sec) + TimeInterval(status.st_mtim.tv_nsec) / 1e9)
            self.permissions = status.st_mode & 0o7777
            self.identity = "\(status.st_dev)-\(status.st_ino)"
        }
    }

    /// One entry of a folder listing; its name as the bytes on disk.
    public struct Entry: Sendable, Hashable {
        public var name: [UInt8]
        public var info: Info

        /// The name as text; `nil` when the bytes are not UTF-8 (the API shows such a name
        /// escaped and offers no action on it).
        public var text: String? { String(validating: self.name, as: UTF8.self) }
    }

    /// The workspace root, opened without following a link.
    public func openRoot() throws(CoreError) -> Descriptor {
        let fd = Glibc.open(self.root, openPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw CoreError(
                .unavailable, code: "workspace_unavailable",
                message: "Your workspace cannot be opened on this host right now (\(Self.reason(errno))); try again.")
        }
        return Descriptor(fd)
    }

    /// Opens `path` inside the workspace with `flags` (`O_CLOEXEC` is added).
    public func open(_ path: WorkspacePath, _ flags: Int32, in root: Descriptor) throws(CoreError) -> Descriptor {
        let fd = holdfast_open_beneath(root.fd, path.isRoot ? "." : path.description, UInt64(UInt32(bitPattern: flags)), 0, 0)
        guard fd >= 0 else { throw Self.error(errno, path) }
        return Descriptor(fd)
    }

    public func info(_ descriptor: Descriptor) throws(CoreError) -> Info {
        var status = stat()
        guard fstat(descriptor.fd, &status) == 0 else {
            throw CoreError(
                .unavailable, code: "workspace_unavailable", message: "Could not read a file's details (\(Self.reason(errno))).")
        }
        return Info(status)
    }

    /// What an open file is now; `nil` when `fstat` fails.
    public static func status(_ descriptor: Descriptor) -> Info? {
        var status = stat()
        return fstat(descriptor.fd, &status) == 0 ? Info(status) : nil
    }

    /// What `path` is (links inside the workspace followed).
    public func info(of path: WorkspacePath) throws(CoreError) -> Info {
        let root = try self.openRoot()
        return try self.info(self.open(path, openPath, in: root))
    }

    /// The bytes the user can still write, by the filesystem (the quota, for a volume).
    public func spaceLeft() throws(CoreError) -> Int64 {
        let root = try self.openRoot()
        var info = statvfs()
        guard fstatvfs(root.fd, &info) == 0 else {
            throw CoreError(
                .unavailable, code: "workspace_unavailable", message: "Could not measure your workspace (\(Self.reason(errno))).")
        }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    // MARK: Reading

    /// The entries of the folder `path` after `after` (names compared as bytes), at most `limit`,
    /// and whether more follow.
    public func list(_ path: WorkspacePath, after: [UInt8]?, limit: Int) throws(CoreError) -> (entries: [Entry], more: Bool) {
        let root = try self.openRoot()
        let folder = try self.open(path, O_RDONLY | O_DIRECTORY, in: root)
        var names = try Self.names(in: folder)
        names.sort { $0.lexicographicallyPrecedes($1) }
        if let after {
            names.removeSubrange(..<(names.firstIndex { after.lexicographicallyPrecedes($0) } ?? names.endIndex))
        }
        var entries: [Entry] = []
        for name in names.prefix(limit) {
            var status = stat()
            let cName = name.map { CChar(bitPattern: $0) } + [0]
            let found = fstatat(folder.fd, cName, &status, AT_SYMLINK_NOFOLLOW) == 0
            // An entry removed since the folder was read is left out.
            if found { entries.append(Entry(name: name, info: Info(status))) }
        }
        return (entries, names.count > limit)
    }

    /// Opens the file or folder `path` for reading. A file is opened without blocking on a FIFO
    /// and never as a terminal; anything but a regular file or a folder is refused.
    public func openForReading(_ path: WorkspacePath) throws(CoreError) -> (Descriptor, Info) {
        let root = try self.openRoot()
        let descriptor = try self.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY, in: root)
        let info = try self.info(descriptor)
        guard info.kind == .file || info.kind == .directory else {
            throw CoreError.invalidInput("not_a_regular_file", "'\(path)' is neither a file nor a folder, so it cannot be downloaded.")
        }
        return (descriptor, info)
    }

    /// Up to `count` bytes of `descriptor` from `offset`; fewer only at the end of the file.
    public static func read(
        _ descriptor: Descriptor, at offset: Int64, count: Int, allocator: ByteBufferAllocator
    ) throws(CoreError)
        -> ByteBuffer
    {
        var buffer = allocator.buffer(capacity: count)
        var failure: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
            var done = 0
            while done < count {
                let result = pread(descriptor.fd, bytes.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if result < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if result == 0 { break }
                done += result
            }
            return done
        }
        if failure != 0 {
            throw CoreError(.unavailable, code: "read_failed", message: "Reading the file failed (\(Self.reason(failure))).")
        }
        return buffer
    }

    // MARK: Uploads

    /// The uploads folder, created root-only when missing.
    public func openUploads() throws(CoreError) -> Descriptor {
        do {
            try FileManager.default.createDirectory(
                atPath: self.uploadsDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CoreError(.unavailable, code: "workspace_unavailable", message: "The uploads folder could not be made; try again.")
        }
        let fd = Glibc.open(self.uploadsDirectory, openPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw CoreError(
                .unavailable, code: "workspace_unavailable", message: "The uploads folder cannot be opened (\(Self.reason(errno))).")
        }
        return Descriptor(fd)
    }

    /// The file an upload's bytes are written to: created (`create`) or opened again to resume.
    public func uploadFile(_ name: String, create: Bool) throws(CoreError) -> Descriptor {
        let uploads = try self.openUploads()
        let flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0)
        let fd = openat(uploads.fd, name, flags, 0o600)
        guard fd >= 0 else {
            if errno == ENOENT { throw CoreError.notFound("That upload is gone (finished, cancelled or expired); start it again.") }
            throw CoreError(.unavailable, code: "upload_failed", message: "The upload's file cannot be opened (\(Self.reason(errno))).")
        }
        return Descriptor(fd)
    }

    /// Writes all of `buffer` at `offset`. A full disk is the user's quota: `413 quota_exceeded`.
    public static func write(_ buffer: ByteBuffer, to descriptor: Descriptor, at offset: Int64) throws(CoreError) {
        var failure: Int32 = 0
        buffer.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let result = pwrite(descriptor.fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
                if result < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += result
            }
        }
        guard failure != 0 else { return }
        if failure == ENOSPC || failure == EDQUOT {
            throw CoreError(.tooLarge, code: "quota_exceeded", message: "Your workspace is full: the file does not fit in your disk quota.")
        }
        throw CoreError(.unavailable, code: "upload_failed", message: "Writing the upload failed (\(Self.reason(failure))).")
    }

    /// Removes an upload's files (its bytes and its record); a missing one is fine.
    public func removeUpload(_ names: [String]) {
        guard let uploads = try? self.openUploads() else { return }
        for name in names { _ = unlinkat(uploads.fd, name, 0) }
    }

    /// Hands the finished upload `name` to the user and renames it to `path`, creating missing
    /// folders on the way. Its data reaches the disk first, so a crash never leaves a short file
    /// under the user's name. Never replaces an entry unless `overwrite`, and never a folder.
    public func commitUpload(_ name: String, to path: WorkspacePath, overwrite: Bool) throws(CoreError) -> Info {
        let leaf = try Self.checkedName(path)
        let uploads = try self.openUploads()
        let file = openat(uploads.fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard file >= 0 else {
            throw CoreError.notFound("That upload is gone (finished, cancelled or expired); start it again.")
        }
        let descriptor = Descriptor(file)
        guard fdatasync(file) == 0 else {
            throw CoreError(.unavailable, code: "upload_failed", message: "The upload could not be saved to disk (\(Self.reason(errno))).")
        }
        if let owner = self.owner { _ = fchown(file, owner.uid, owner.gid) }
        _ = fchmod(file, 0o644)
        let root = try self.openRoot()
        let parent = try self.folder(path.parent, in: root, create: true)
        if holdfast_rename(uploads.fd, name, parent.fd, leaf, overwrite ? 0 : 1) != 0 {
            let failure = errno
            switch failure {
            case EEXIST: throw CoreError.conflict("file_exists", "'\(path)' exists already; upload with overwrite=true to replace it.")
            case EISDIR, ENOTEMPTY, ENOTDIR:
                throw CoreError.conflict("is_a_folder", "'\(path)' is a folder; a file cannot replace it.")
            case ENOSPC, EDQUOT:
                throw CoreError(.tooLarge, code: "quota_exceeded", message: "Your workspace is full.")
            default:
                throw CoreError(
                    .unavailable, code: "upload_failed", message: "The file could not be put in place (\(Self.reason(failure))).")
            }
        }
        return try self.info(descriptor)
    }

    // MARK: Changes

    /// Makes the folder `path` (and missing folders above it), owned by the user.
    public func makeFolder(_ path: WorkspacePath) throws(CoreError) {
        let leaf = try Self.checkedName(path)
        let root = try self.openRoot()
        let parent = try self.folder(path.parent, in: root, create: true)
        guard mkdirat(parent.fd, leaf, 0o755) == 0 else {
            if errno == EEXIST { throw CoreError.conflict("file_exists", "'\(path)' exists already.") }
            throw Self.error(errno, path)
        }
        self.giveAway(leaf, in: parent)
    }

    /// Renames or moves `source` to `target`, never over an existing entry.
    public func move(_ source: WorkspacePath, to target: WorkspacePath) throws(CoreError) {
        guard !source.isRoot else { throw CoreError.invalidInput("invalid_path", "Your workspace itself cannot be moved.") }
        let leaf = try Self.checkedName(target)
        let root = try self.openRoot()
        let from = try self.folder(source.parent, in: root, create: false)
        let to = try self.folder(target.parent, in: root, create: true)
        guard holdfast_rename(from.fd, source.name, to.fd, leaf, 1) == 0 else {
            switch errno {
            case EEXIST: throw CoreError.conflict("file_exists", "'\(target)' exists already.")
            case EINVAL: throw CoreError.invalidInput("invalid_path", "A folder cannot be moved into itself.")
            default: throw Self.error(errno, source)
            }
        }
    }

    /// Moves `path` into the workspace's trash folder (`.trash/NAME`, or `NAME (2)`, …) and returns
    /// where it went. Nothing is deleted: the next snapshot still holds it.
    public func trash(_ path: WorkspacePath) throws(CoreError) -> WorkspacePath {
        guard !path.isRoot else { throw CoreError.invalidInput("invalid_path", "Your whole workspace cannot be deleted.") }
        guard path.components.first != Self.trashName else {
            throw CoreError.conflict(
                "already_in_trash",
                path.components.count == 1 ? "The trash cannot go into the trash." : "'\(path)' is in the trash already.")
        }
        let root = try self.openRoot()
        let parent = try self.folder(path.parent, in: root, create: false)
        if mkdirat(root.fd, Self.trashName, 0o700) == 0 { self.giveAway(Self.trashName, in: root) }
        // The trash is the user's folder: never follow a link they put in its place.
        let fd = holdfast_open_beneath(root.fd, Self.trashName, UInt64(UInt32(bitPattern: openPath | O_DIRECTORY)), 0, 1)
        guard fd >= 0 else {
            throw CoreError.conflict("trash_unavailable", "'\(Self.trashName)' in your workspace is not a folder; rename it.")
        }
        let trash = Descriptor(fd)
        let (stem, suffix) = Self.split(path.name)
        for attempt in 1...1000 {
            let name = attempt == 1 ? path.name : "\(stem) (\(attempt))\(suffix)"
            if holdfast_rename(parent.fd, path.name, trash.fd, name, 1) == 0 {
                return try WorkspacePath(Self.trashName).appending(name)
            }
            guard errno == EEXIST else { throw Self.error(errno, path) }
        }
        throw CoreError.conflict("trash_full", "The trash holds too many entries named '\(path.name)'; empty some of them.")
    }

    /// `report.pdf` → (`report`, `.pdf`); a name without an extension or a dot file keeps all.
    public static func split(_ name: String) -> (stem: String, suffix: String) {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return (name, "") }
        return (String(name[..<dot]), String(name[dot...]))
    }

    // MARK: Helpers

    /// `renameat2(source, target, RENAME_NOREPLACE)` on paths: fails with `EEXIST` rather than
    /// replace the target, and never follows a link in either last component.
    public static func renameNoReplace(_ source: String, _ target: String) -> Int32 {
        holdfast_rename(AT_FDCWD, source, AT_FDCWD, target, 1)
    }

    /// Opens the folder `path` as an `O_PATH` descriptor; with `create`, missing folders are made
    /// (owned by the user) one by one, each resolved beneath the root again.
    func folder(_ path: WorkspacePath, in root: Descriptor, create: Bool) throws(CoreError) -> Descriptor {
        do throws(CoreError) {
            return try self.open(path, openPath | O_DIRECTORY, in: root)
        } catch let error where create && error.kind == .notFound {
            var current = root
            var walked = WorkspacePath.root
            for component in path.components {
                walked = try walked.appending(component)
                if mkdirat(current.fd, component, 0o755) == 0 {
                    self.giveAway(component, in: current)
                } else if errno != EEXIST {
                    throw Self.error(errno, walked)
                }
                current = try self.open(walked, openPath | O_DIRECTORY, in: root)
            }
            return current
        }
    }

    private func giveAway(_ name: String, in folder: Descriptor) {
        guard let owner = self.owner else { return }
        _ = fchownat(folder.fd, name, owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW)
    }

    /// The last component of a path the API is about to create: a name a listing can always show.
    public static func checkedName(_ path: WorkspacePath) throws(CoreError) -> String {
        guard !path.isRoot else { throw CoreError.invalidInput("invalid_path", "Give a file name, not just the workspace.") }
        let name = path.name
        guard name.utf8.count <= Self.maximumNameBytes else {
            throw CoreError.invalidInput("invalid_name", "The name '\(name.prefix(40))…' is longer than \(Self.maximumNameBytes) bytes.")
        }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw CoreError.invalidInput("invalid_name", "A name may not contain control characters such as a line break.")
        }
        return name
    }

    static func names(in folder: Descriptor) throws(CoreError) -> [[UInt8]] {
        let copy = dup(folder.fd)
        guard copy >= 0, let stream = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            throw CoreError(.unavailable, code: "workspace_unavailable", message: "Could not read the folder (\(Self.reason(errno))).")
        }
        defer { closedir(stream) }
        var names: [[UInt8]] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(name)
        }
        return names
    }

    static func error(_ code: Int32, _ path: WorkspacePath) -> CoreError {
        switch code {
        case ENOENT: return CoreError.notFound("There is no '\(path)' in your workspace.")
        case ENOTDIR: return CoreError.notFound("'\(path)' is not inside a folder of your workspace.")
        case EXDEV:
            return CoreError(
                .forbidden, code: "outside_workspace", message: "'\(path)' leads out of your workspace (through a link), so it is refused.")
        case ELOOP: return CoreError.invalidInput("too_many_links", "'\(path)' goes through too many links.")
        case ENAMETOOLONG: return CoreError.invalidInput("invalid_name", "A name in '\(path)' is too long.")
        case ENOSPC, EDQUOT: return CoreError(.tooLarge, code: "quota_exceeded", message: "Your workspace is full.")
        default:
            return CoreError(.unavailable, code: "workspace_unavailable", message: "'\(path)' could not be reached (\(Self.reason(code))).")
        }
    }

    static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }
}
