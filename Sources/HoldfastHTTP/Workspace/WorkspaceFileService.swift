import Foundation
import HoldfastCore
import Hummingbird
import NIOCore

/// What the HTTP layer asks of the caller's live workspace files (implemented in HoldfastApp).
///
/// Every method acts on the caller's own workspace, whether or not a session of theirs runs: the
/// implementation mounts the workspace's volume and restores it from the newest snapshot first
/// when this host has no copy, as a session start would. Paths never leave the workspace.
public protocol WorkspaceFileService: Sendable {
    /// One page of the folder `path`, names after `after` (bytes order).
    func list(_ path: WorkspacePath, after: [UInt8]?, limit: Int, for user: User) async throws -> WorkspaceFolderPage
    /// A file to read, or a folder to send as an archive.
    func download(_ path: WorkspacePath, format: WorkspaceArchiveFormat?, for user: User) async throws -> WorkspaceDownload
    /// Writes `body` to `path` in one request (`length` when the client declared it); the file
    /// appears only when complete.
    func save(
        _ path: WorkspacePath, overwrite: Bool, length: Int64?, body: RequestBody, for user: User
    ) async throws
        -> WorkspaceFileInfo
    func makeFolder(_ path: WorkspacePath, for user: User) async throws
    func move(_ source: WorkspacePath, to target: WorkspacePath, for user: User) async throws
    /// Moves `path` into the workspace's trash; returns where it went.
    func trash(_ path: WorkspacePath, for user: User) async throws -> WorkspacePath

    // Resumable uploads (tus 1.0)
    func createUpload(_ path: WorkspacePath, length: Int64, overwrite: Bool, for user: User) async throws -> WorkspaceUpload
    func upload(_ id: String, for user: User) async throws -> WorkspaceUpload
    /// Appends `body` at `offset`, which must be the upload's offset now (`409 upload_offset_mismatch`
    /// otherwise); a request that arrives while an earlier one still writes takes over from it (the
    /// earlier one's connection is usually dead). Completes the file when the length is reached.
    func append(to id: String, at offset: Int64, length: Int64?, body: RequestBody, for user: User) async throws -> WorkspaceUpload
    func cancelUpload(_ id: String, for user: User) async throws
}

public struct WorkspaceFileInfo: Sendable, Hashable {
    /// The same kinds a snapshot's entries have.
    public typealias Kind = SnapshotEntry.Kind

    public var path: WorkspacePath
    public var kind: Kind
    public var size: Int64
    public var modifiedAt: Date

    public init(path: WorkspacePath, kind: Kind, size: Int64, modifiedAt: Date) {
        self.path = path
        self.kind = kind
        self.size = size
        self.modifiedAt = modifiedAt
    }
}

/// One entry of a listing: its name as the bytes on disk (not always UTF-8).
public struct WorkspaceFolderEntry: Sendable, Hashable {
    public var name: [UInt8]
    public var kind: WorkspaceFileInfo.Kind
    public var size: Int64
    public var modifiedAt: Date

    public init(name: [UInt8], kind: WorkspaceFileInfo.Kind, size: Int64, modifiedAt: Date) {
        self.name = name
        self.kind = kind
        self.size = size
        self.modifiedAt = modifiedAt
    }
}

public struct WorkspaceFolderPage: Sendable, Hashable {
    public var entries: [WorkspaceFolderEntry]
    /// More entries follow the last one.
    public var more: Bool

    public init(entries: [WorkspaceFolderEntry], more: Bool) {
        self.entries = entries
        self.more = more
    }
}

/// A file opened for download: reads at any offset (ranges), never past the size it had when opened.
public protocol WorkspaceFileReader: Sendable {
    var size: Int64 { get }
    var modifiedAt: Date { get }
    /// Changes when the file is replaced or written (device, inode, size, time).
    var entityTag: String { get }
    func read(at offset: Int64, count: Int) async throws -> ByteBuffer
}

/// An archive produced while it is sent; `next` is `nil` at its end.
public protocol WorkspaceArchiveStream: Sendable {
    func next() async throws -> ByteBuffer?
}

public enum WorkspaceDownload: Sendable {
    case file(name: String, any WorkspaceFileReader)
    case archive(name: String, WorkspaceArchiveFormat, any WorkspaceArchiveStream)
}

/// A resumable upload's state, as tus reports it.
public struct WorkspaceUpload: Sendable, Hashable {
    public var id: String
    public var path: WorkspacePath
    public var length: Int64
    public var offset: Int64
    /// When an upload left unfinished is removed.
    public var expiresAt: Date
    /// Set once the file is in place (the last bytes arrived).
    public var completed: WorkspaceFileInfo?

    public init(id: String, path: WorkspacePath, length: Int64, offset: Int64, expiresAt: Date, completed: WorkspaceFileInfo? = nil) {
        self.id = id
        self.path = path
        self.length = length
        self.offset = offset
        self.expiresAt = expiresAt
        self.completed = completed
    }
}
