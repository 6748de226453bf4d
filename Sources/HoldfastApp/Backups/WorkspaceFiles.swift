import Foundation
import HoldfastCore
import HoldfastHTTP
import HoldfastHost
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The files API over the user's live workspace on this host (`WorkspaceFileService`).
///
/// Before the first call for a user (and again after `preparedFor`), the workspace is made
/// ready as a session start would make it (`WorkspaceBackups.prepare`: volume mounted, restored
/// from the newest snapshot when missing here) — unless a session of the user is open, whose
/// start did that already. File work runs on NIO's thread pool through
/// `WorkspaceTree`, which resolves every path beneath the workspace root in the kernel.
///
/// Resumable uploads (tus) live in the workspace's root-only uploads folder as `ID.part` (the
/// bytes) and `ID.json` (path, length, overwrite), so they survive a server restart and count
/// against the quota while they grow. The offset is the `.part` file's size. A request that
/// arrives while an earlier one of the same upload still writes takes over: the earlier one
/// stops before its next write (a client that lost its connection resumes before the server
/// notices the dead one). Uploads left for `uploadExpiry` are removed.
///
/// Every change is followed, after `snapshotDelay`, by a snapshot of the workspace, so that what
/// came in through the API is backed up whether or not a session runs.
public final class WorkspaceFiles: WorkspaceFileService {
    public struct Configuration: Sendable {
        /// How long an unfinished upload is kept after its last byte.
        public var uploadExpiry: TimeInterval
        /// How long after a change the workspace is snapshotted (changes meanwhile share it).
        public var snapshotDelay: Duration
        /// How long a workspace made ready stays trusted to be ready (its volume mounted, its files here).
        public var preparedFor: TimeInterval
        /// How long an upload's body may send nothing before the request is failed.
        public var stallTimeout: Duration
        /// How many file operations run at once (more wait their turn).
        public var threads: Int

        public init(
            uploadExpiry: TimeInterval = 24 * 3600, snapshotDelay: Duration = .seconds(30), preparedFor: TimeInterval = 60,
            stallTimeout: Duration = .seconds(60), threads: Int = 4
        ) {
            self.threads = threads
            self.uploadExpiry = uploadExpiry
            self.snapshotDelay = snapshotDelay
            self.preparedFor = preparedFor
            self.stallTimeout = stallTimeout
        }
    }

    struct Key: Hashable {
        var tenant: Tenant.ID
        var user: User.ID
    }

    /// An upload's record, beside its bytes.
    struct Record: Codable {
        var path: String
        var length: Int64
        var overwrite: Bool
        var createdAt: Date
    }

    /// An upload being written: its open file, and who may write next.
    final class Slot: Sendable {
        struct State {
            var offset: Int64
            /// Bumped by every request that takes the upload over; a writer of an older one stops.
            var generation = 0
            var gone = false
        }

        let id: String
        let record: Record
        let path: WorkspacePath
        let file: WorkspaceTree.Descriptor
        let state: Mutex<State>

        init(id: String, record: Record, path: WorkspacePath, file: WorkspaceTree.Descriptor, offset: Int64) {
            self.id = id
            self.record = record
            self.path = path
            self.file = file
            self.state = Mutex(State(offset: offset))
        }
    }

    let configuration: Configuration
    let backups: WorkspaceBackups
    let repositories: Repositories
    let accountFor: @Sendable (User) async throws -> UnixAccount?
    let now: @Sendable () -> Date
    let logger: Logger
    /// Whether the user has a session that is not closed; its start made the workspace ready.
    let hasOpenSession: @Sendable (User) async throws -> Bool
    /// Threads for the file work (reads, writes, `fdatasync` of a whole upload, archives), apart
    /// from NIO's shared pool: a slow disk under one user's upload must not hold up a session's
    /// launch or a sign-in's bcrypt, which use that one.
    let threads: NIOThreadPool
    /// Each user's workspace as last made ready, and when.
    private let prepared = Mutex<[Key: (at: Date, tree: WorkspaceTree)]>([:])
    private let slots = Mutex<[String: Slot]>([:])
    private let snapshotsDue = Mutex<Set<Key>>([])

    public init(
        configuration: Configuration = .init(), backups: WorkspaceBackups, repositories: Repositories,
        accountFor: @escaping @Sendable (User) async throws -> UnixAccount?, now: @escaping @Sendable () -> Date, logger: Logger,
        hasOpenSession: @escaping @Sendable (User) async throws -> Bool = { _ in false }
    ) {
        self.hasOpenSession = hasOpenSession
        self.configuration = configuration
        self.backups = backups
        self.repositories = repositories
        self.accountFor = accountFor
        self.now = now
        self.logger = logger
        let threads = NIOThreadPool(numberOfThreads: configuration.threads)
        threads.start()
        self.threads = threads
    }

    deinit {
        self.threads.shutdownGracefully { _ in }
    }

    // MARK: The workspace

    /// The user's workspace on this host, made ready first when it was not lately.
    ///
    /// The tree is kept for `preparedFor`: a resumable upload asks for it at every request, and
    /// finding it costs a look at the store (the user's account, an open session) and a read of
    /// the mount table.
    func tree(for user: User) async throws -> WorkspaceTree {
        let key = Key(tenant: user.tenantID, user: user.id)
        let now = self.now()
        if let known = self.prepared.withLock({ $0[key] }), now.timeIntervalSince(known.at) < self.configuration.preparedFor {
            return known.tree
        }
        // A session's workspace is live: an empty one is what the user emptied, never a copy to
        // restore over (that would bring back the files they deleted).
        if try await !self.hasOpenSession(user) {
            guard let tenant = try await self.repositories.tenants.find(id: user.tenantID) else {
                throw CoreError.notFound("Your organisation is not known here.")
            }
            _ = try await self.backups.prepare(tenant: tenant, user: user)
        }
        let owner = try await self.accountFor(user)
        let tree: WorkspaceTree
        if let volume = self.backups.mountedVolume(tenant: user.tenantID, user: user.id) {
            tree = WorkspaceTree(root: volume.home, uploadsDirectory: volume.stagingDirectory + "/uploads", owner: owner)
        } else {
            let uploads = URL(fileURLWithPath: self.backups.configuration.restoresDirectory).appendingPathComponent("uploads")
                .appendingPathComponent(user.tenantID.description).appendingPathComponent(user.id.description).path
            tree = WorkspaceTree(
                root: self.backups.workspace(tenant: user.tenantID, user: user.id), uploadsDirectory: uploads, owner: owner)
        }
        self.prepared.withLock { $0[key] = (now, tree) }
        return tree
    }

    /// Runs blocking file work on NIO's thread pool, off the cooperative one.
    private func blocking<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await self.threads.runIfActive(work)
    }

    // MARK: Reading

    public func list(_ path: WorkspacePath, after: [UInt8]?, limit: Int, for user: User) async throws -> WorkspaceFolderPage {
        let tree = try await self.tree(for: user)
        let (entries, more) = try await self.blocking { try tree.list(path, after: after, limit: limit) }
        return WorkspaceFolderPage(
            entries: entries.map {
                WorkspaceFolderEntry(name: $0.name, kind: $0.info.kind, size: $0.info.size, modifiedAt: $0.info.modifiedAt)
            }, more: more)
    }

    public func download(_ path: WorkspacePath, format: WorkspaceArchiveFormat?, for user: User) async throws -> WorkspaceDownload {
        let tree = try await self.tree(for: user)
        let (descriptor, info) = try await self.blocking { try tree.openForReading(path) }
        if info.kind == .file {
            guard format == nil else {
                throw CoreError.invalidInput("invalid_format", "'\(path)' is a file; format= applies to folders only.")
            }
            return .file(name: path.name, FileReader(descriptor: descriptor, info: info, threads: self.threads))
        }
        let chosen = format ?? .zip
        let archive = try await self.blocking {
            try WorkspaceArchive(folder: descriptor, name: path.name, format: chosen)
        }
        return .archive(name: path.name, chosen, ArchiveStream(archive: archive, threads: self.threads))
    }

    struct FileReader: WorkspaceFileReader {
        let descriptor: WorkspaceTree.Descriptor
        let info: WorkspaceTree.Info
        let threads: NIOThreadPool

        var size: Int64 { self.info.size }
        var modifiedAt: Date { self.info.modifiedAt }
        var entityTag: String { "\(self.info.identity)-\(self.info.size)-\(Int64(self.info.modifiedAt.timeIntervalSince1970 * 1000))" }

        func read(at offset: Int64, count: Int) async throws -> ByteBuffer {
            let end = min(Int64(count), self.info.size - offset)
            guard end > 0 else { return ByteBuffer() }
            return try await self.threads.runIfActive { [descriptor] in
                try WorkspaceTree.read(descriptor, at: offset, count: Int(end), allocator: ByteBufferAllocator())
            }
        }
    }

    struct ArchiveStream: WorkspaceArchiveStream {
        let archive: WorkspaceArchive
        let threads: NIOThreadPool

        func next() async throws -> ByteBuffer? {
            try await self.threads.runIfActive { [archive] in try archive.next(allocator: ByteBufferAllocator()) }
        }
    }

    // MARK: Changes

    public func makeFolder(_ path: WorkspacePath, for user: User) async throws {
        let tree = try await self.tree(for: user)
        try await self.blocking { try tree.makeFolder(path) }
        self.changed(user)
    }

    public func move(_ source: WorkspacePath, to target: WorkspacePath, for user: User) async throws {
        let tree = try await self.tree(for: user)
        try await self.blocking { try tree.move(source, to: target) }
        self.changed(user)
    }

    public func trash(_ path: WorkspacePath, for user: User) async throws -> WorkspacePath {
        let tree = try await self.tree(for: user)
        let trashed = try await self.blocking { try tree.trash(path) }
        self.changed(user)
        return trashed
    }

    // MARK: Uploads in one request

    public func save(
        _ path: WorkspacePath, overwrite: Bool, length: Int64?, body: RequestBody, for user: User
    ) async throws
        -> WorkspaceFileInfo
    {
        let tree = try await self.tree(for: user)
        try await self.checkTarget(path, overwrite: overwrite, in: tree)
        if let length { try await self.checkSpace(for: length, in: tree) }
        let name = Self.newID() + ".part"
        let file = try await self.blocking { try tree.uploadFile(name, create: true) }
        do {
            let written = Counter()
            try await self.receive(body) { pieces in
                try await self.blocking {
                    try written.value.withLock { offset in
                        for piece in pieces {
                            if let length, offset + Int64(piece.readableBytes) > length {
                                throw CoreError.invalidInput("body_too_long", "The body is longer than its Content-Length.")
                            }
                            try WorkspaceTree.write(piece, to: file, at: offset)
                            offset += Int64(piece.readableBytes)
                        }
                    }
                }
            }
            let offset = written.value.withLock { $0 }
            if let length, offset != length {
                throw CoreError.invalidInput("body_incomplete", "The body ended after \(offset) of \(length) bytes; send the file again.")
            }
            let info = try await self.blocking { try tree.commitUpload(name, to: path, overwrite: overwrite) }
            self.changed(user)
            return WorkspaceFileInfo(path: path, kind: .file, size: info.size, modifiedAt: info.modifiedAt)
        } catch {
            tree.removeUpload([name])
            throw error
        }
    }

    /// Bytes gathered before one trip to the thread pool writes them.
    static let batchBytes = 1 << 20

    /// A count several tasks share.
    final class Counter: Sendable {
        let value = Mutex<Int64>(0)
    }

    /// When the last byte of a request body arrived.
    final class LastByte: Sendable {
        let at = Mutex(ContinuousClock.now)
    }

    /// Reads `body` in batches of about `batchBytes` and hands each to `write`, in order. A body
    /// that sends nothing for `stallTimeout` fails with `408 upload_stalled`: a link that died
    /// without a reset would otherwise hold the request (and the server's shutdown) forever; the
    /// client resumes from the offset when it is back.
    private func receive(_ body: RequestBody, _ write: @escaping @Sendable ([ByteBuffer]) async throws -> Void) async throws {
        let last = LastByte()
        let timeout = self.configuration.stallTimeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var batch: [ByteBuffer] = []
                var batched = 0
                for try await piece in body {
                    last.at.withLock { $0 = .now }
                    batch.append(piece)
                    batched += piece.readableBytes
                    guard batched >= Self.batchBytes else { continue }
                    try await write(batch)
                    last.at.withLock { $0 = .now }
                    batch.removeAll(keepingCapacity: true)
                    batched = 0
                }
                if !batch.isEmpty { try await write(batch) }
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: .seconds(1))
                    if last.at.withLock({ ContinuousClock.now - $0 }) > timeout {
                        throw APIError(
                            .requestTimeout, code: "upload_stalled",
                            message: "No bytes arrived for \(timeout); the upload stopped. Resume it from its offset.")
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    // MARK: Resumable uploads (tus)

    public func createUpload(_ path: WorkspacePath, length: Int64, overwrite: Bool, for user: User) async throws -> WorkspaceUpload {
        let tree = try await self.tree(for: user)
        try await self.checkTarget(path, overwrite: overwrite, in: tree)
        try await self.expireUploads(in: tree, user: user)
        try await self.checkSpace(for: length, in: tree)
        let id = Self.newID()
        let record = Record(path: path.description, length: length, overwrite: overwrite, createdAt: self.now())
        let data = try JSONEncoder().encode(record)
        let file = try await self.blocking {
            let file = try tree.uploadFile(id + ".part", create: true)
            let recordFile = try tree.uploadFile(id + ".json", create: true)
            try WorkspaceTree.write(ByteBuffer(bytes: data), to: recordFile, at: 0)
            return file
        }
        let slot = Slot(id: id, record: record, path: path, file: file, offset: 0)
        self.slots.withLock { $0[self.slotKey(user, id)] = slot }
        var upload = WorkspaceUpload(
            id: id, path: path, length: length, offset: 0, expiresAt: self.now().addingTimeInterval(self.configuration.uploadExpiry))
        if length == 0 {
            upload.completed = try await self.complete(slot, in: tree, user: user)
        }
        return upload
    }

    /// The upload's state. Asking takes the upload over (as tusd does): a request still writing
    /// it stops before its next write, so the offset answered stays true until the client's next
    /// PATCH, which must start there. A client asks after a cut, when the old request is dead to it.
    public func upload(_ id: String, for user: User) async throws -> WorkspaceUpload {
        let tree = try await self.tree(for: user)
        let slot = try await self.slot(id, in: tree, user: user)
        slot.state.withLock { $0.generation += 1 }
        return self.state(of: slot)
    }

    public func append(
        to id: String, at offset: Int64, length: Int64?, body: RequestBody, for user: User
    ) async throws
        -> WorkspaceUpload
    {
        let tree = try await self.tree(for: user)
        let slot = try await self.slot(id, in: tree, user: user)
        let total = slot.record.length
        let generation = try slot.state.withLock { state -> Int in
            guard !state.gone else { throw CoreError.notFound("That upload is gone (finished or cancelled).") }
            guard state.offset == offset else {
                throw CoreError.conflict(
                    "upload_offset_mismatch", "The upload has \(state.offset) bytes, not \(offset); send from byte \(state.offset).")
            }
            state.generation += 1
            return state.generation
        }
        if let length, offset + length > total {
            throw CoreError.invalidInput(
                "chunk_too_large", "These \(length) bytes from \(offset) go past the upload's declared length of \(total) bytes.")
        }
        try await self.receive(body) { pieces in
            try await self.blocking {
                try slot.state.withLock { state in
                    guard state.generation == generation, !state.gone else {
                        throw CoreError.conflict("upload_taken_over", "A newer request continues this upload.")
                    }
                    for piece in pieces {
                        guard state.offset + Int64(piece.readableBytes) <= total else {
                            throw CoreError.invalidInput(
                                "chunk_too_large", "The bytes sent go past the upload's declared length of \(total) bytes.")
                        }
                        try WorkspaceTree.write(piece, to: slot.file, at: state.offset)
                        state.offset += Int64(piece.readableBytes)
                    }
                }
            }
        }
        var upload = self.state(of: slot)
        if upload.offset == total {
            upload.completed = try await self.complete(slot, in: tree, user: user)
        }
        return upload
    }

    public func cancelUpload(_ id: String, for user: User) async throws {
        let tree = try await self.tree(for: user)
        let slot = try await self.slot(id, in: tree, user: user)
        slot.state.withLock { $0.gone = true }
        self.slots.withLock { $0[self.slotKey(user, id)] = nil }
        tree.removeUpload([id + ".part", id + ".json"])
    }

    /// Puts a finished upload in place; on a clash (a file appeared there meanwhile) the upload
    /// is removed, as the client must start again with `overwrite` or another name.
    private func complete(_ slot: Slot, in tree: WorkspaceTree, user: User) async throws -> WorkspaceFileInfo {
        slot.state.withLock { $0.gone = true }
        self.slots.withLock { $0[self.slotKey(user, slot.id)] = nil }
        defer { tree.removeUpload([slot.id + ".part", slot.id + ".json"]) }
        let info = try await self.blocking { try tree.commitUpload(slot.id + ".part", to: slot.path, overwrite: slot.record.overwrite) }
        self.changed(user)
        return WorkspaceFileInfo(path: slot.path, kind: .file, size: info.size, modifiedAt: info.modifiedAt)
    }

    private func state(of slot: Slot) -> WorkspaceUpload {
        let offset = slot.state.withLock { $0.offset }
        let touched = WorkspaceTree.status(slot.file)?.modifiedAt ?? self.now()
        return WorkspaceUpload(
            id: slot.id, path: slot.path, length: slot.record.length, offset: offset,
            expiresAt: max(touched, slot.record.createdAt).addingTimeInterval(self.configuration.uploadExpiry))
    }

    private func slotKey(_ user: User, _ id: String) -> String { "\(user.tenantID)/\(user.id)/\(id)" }

    /// The upload `id` of this user: from memory, or from its files after a restart.
    private func slot(_ id: String, in tree: WorkspaceTree, user: User) async throws -> Slot {
        let key = self.slotKey(user, id)
        if let slot = self.slots.withLock({ $0[key] }) { return slot }
        let gone = CoreError.notFound("There is no upload \(id) (it finished, was cancelled or expired); start it again.")
        let loaded = try await self.blocking { () -> (Record, WorkspaceTree.Descriptor, Int64)? in
            guard let data = FileManager.default.contents(atPath: tree.uploadsDirectory + "/" + id + ".json"),
                let record = try? JSONDecoder().decode(Record.self, from: data)
            else { return nil }
            let file = try tree.uploadFile(id + ".part", create: false)
            guard let status = WorkspaceTree.status(file) else { return nil }
            return (record, file, status.size)
        }
        guard let (record, file, size) = loaded, let path = try? WorkspacePath(record.path) else { throw gone }
        let slot = Slot(id: id, record: record, path: path, file: file, offset: min(size, record.length))
        return self.slots.withLock { slots in
            if let existing = slots[key] { return existing }
            slots[key] = slot
            return slot
        }
    }

    /// Removes every user's uploads on this host untouched for `uploadExpiry`: those in the
    /// volumes' uploads folders and in the plain one of workspaces without a quota.
    public func expireUploads() async {
        let volumes = self.backups.configuration.volumesDirectory
        let plain = URL(fileURLWithPath: self.backups.configuration.restoresDirectory).appendingPathComponent("uploads").path
        let expiry = self.configuration.uploadExpiry
        let now = self.now()
        let removed =
            (try? await self.blocking { () -> Int in
                var folders: [String] = []
                let manager = FileManager.default
                for tenant in (try? manager.contentsOfDirectory(atPath: plain)) ?? [] {
                    for user in (try? manager.contentsOfDirectory(atPath: plain + "/" + tenant)) ?? [] {
                        folders.append("\(plain)/\(tenant)/\(user)")
                    }
                }
                if let volumes {
                    for tenant in (try? manager.contentsOfDirectory(atPath: volumes)) ?? [] {
                        for entry in (try? manager.contentsOfDirectory(atPath: volumes + "/" + tenant)) ?? [] where entry.hasSuffix(".mnt")
                        {
                            folders.append("\(volumes)/\(tenant)/\(entry)/staging/uploads")
                        }
                    }
                }
                var removed = 0
                for folder in folders {
                    for id in Self.expiredUploads(in: folder, olderThan: expiry, now: now) {
                        for suffix in [".part", ".json"] { try? manager.removeItem(atPath: folder + "/" + id + suffix) }
                        removed += 1
                    }
                }
                return removed
            }) ?? 0
        if removed > 0 {
            self.logger.info("unfinished uploads expired and were removed", metadata: ["count": "\(removed)"])
        }
    }

    /// The uploads in `folder` whose bytes were last written more than `expiry` ago.
    static func expiredUploads(in folder: String, olderThan expiry: TimeInterval, now: Date) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.filter { id in
            let touched = (try? FileManager.default.attributesOfItem(atPath: folder + "/" + id + ".part"))?[.modificationDate] as? Date
            return touched.map { now.timeIntervalSince($0) > expiry } ?? true
        }
    }

    /// Removes this user's uploads untouched for `uploadExpiry`.
    private func expireUploads(in tree: WorkspaceTree, user: User) async throws {
        let expiry = self.configuration.uploadExpiry
        let now = self.now()
        let expired = try await self.blocking { Self.expiredUploads(in: tree.uploadsDirectory, olderThan: expiry, now: now) }
        for id in expired {
            let removed = self.slots.withLock { $0.removeValue(forKey: self.slotKey(user, id)) }
            removed?.state.withLock { $0.gone = true }
            tree.removeUpload([id + ".part", id + ".json"])
            self.logger.info("an unfinished upload expired and was removed", metadata: ["user.id": "\(user.id)", "upload": "\(id)"])
        }
    }

    // MARK: Checks

    /// Refuses up front to replace what is at `path` without `overwrite`, or a folder at all.
    private func checkTarget(_ path: WorkspacePath, overwrite: Bool, in tree: WorkspaceTree) async throws {
        _ = try WorkspaceTree.checkedName(path)
        let existing: WorkspaceTree.Info? = try await self.blocking {
            do throws(CoreError) {
                return try tree.info(of: path)
            } catch  where error.kind == .notFound {
                return nil
            }
        }
        guard let existing else { return }
        if existing.kind == .directory { throw CoreError.conflict("is_a_folder", "'\(path)' is a folder; a file cannot replace it.") }
        if !overwrite { throw CoreError.conflict("file_exists", "'\(path)' exists already; send overwrite=true to replace it.") }
    }

    /// Refuses (`413 quota_exceeded`) a file that does not fit in what the quota leaves, counting
    /// the bytes still to come of the user's other unfinished uploads.
    private func checkSpace(for length: Int64, in tree: WorkspaceTree) async throws {
        let (left, promised) = try await self.blocking { () -> (Int64, Int64) in
            let left = try tree.spaceLeft()
            var promised: Int64 = 0
            for name in (try? FileManager.default.contentsOfDirectory(atPath: tree.uploadsDirectory)) ?? [] where name.hasSuffix(".json") {
                guard let data = FileManager.default.contents(atPath: tree.uploadsDirectory + "/" + name),
                    let record = try? JSONDecoder().decode(Record.self, from: data)
                else { continue }
                let part = tree.uploadsDirectory + "/" + name.dropLast(5) + ".part"
                let size = ((try? FileManager.default.attributesOfItem(atPath: part))?[.size] as? Int64) ?? 0
                promised += max(0, record.length - size)
            }
            return (left, promised)
        }
        let available = max(0, left - promised)
        guard length <= available else {
            let unfinished = promised > 0 ? " (\(Self.size(promised)) are set aside for your unfinished uploads)" : ""
            throw CoreError(
                .tooLarge, code: "quota_exceeded",
                message: "The file (\(Self.size(length))) does not fit in your workspace: \(Self.size(available)) are left of your quota"
                    + "\(unfinished). Delete files, or ask your administrator for more space.")
        }
    }

    // MARK: Snapshots after changes

    /// Snapshots the workspace `snapshotDelay` after a change (later changes meanwhile join it).
    private func changed(_ user: User) {
        let key = Key(tenant: user.tenantID, user: user.id)
        guard self.snapshotsDue.withLock({ $0.insert(key).inserted }) else { return }
        Task {
            try? await Task.sleep(for: self.configuration.snapshotDelay)
            self.snapshotsDue.withLock { _ = $0.remove(key) }
            do {
                _ = try await self.backups.snapshot(tenant: user.tenantID, user: user.id, session: nil)
            } catch {
                // The session's interval or the next change tries again; the files are on this host meanwhile.
                self.logger.warning(
                    "could not snapshot a workspace after a change through the files API",
                    metadata: ["user.id": "\(user.id)", "error": "\(error)"])
            }
        }
    }

    // MARK: Helpers

    static func newID() -> String {
        (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    /// "1.5 GiB", "312 MiB", "12 KiB", "80 bytes".
    static func size(_ bytes: Int64) -> String {
        switch bytes {
        case (1 << 30)...: return String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
        case (1 << 20)...: return "\(bytes >> 20) MiB"
        case (1 << 10)...: return "\(bytes >> 10) KiB"
        default: return "\(bytes) bytes"
        }
    }
}
