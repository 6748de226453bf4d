import CHoldfastFiles
import Foundation
import Glibc
import HoldfastCore
import NIOCore

/// A folder of a workspace as a `.zip` or `.tar.gz`, produced piece by piece while it is sent:
/// nothing is staged on disk, and memory holds one piece plus the zip's central directory.
///
/// The walk works on descriptors from the folder down (`openat` with `O_NOFOLLOW` for every
/// entry), so a link is stored as a link and never followed, a FIFO or device is left out, and
/// swapping a folder for a link while the archive is made leads nowhere. A file's size is taken
/// when it is opened; should it shrink meanwhile it is padded with zeros, and bytes written after
/// that are left out, so the archive is always well formed. The workspace's trash is left out of
/// an archive of the whole workspace.
///
/// Not thread-safe: one caller asks for the pieces in turn (each `next` blocks on the disk; call
/// it off the cooperative pool).
public final class WorkspaceArchive: @unchecked Sendable {
    public typealias Format = WorkspaceArchiveFormat

    /// How deep folders are followed: each level holds a descriptor open while the archive is
    /// made, and a user's folder nested thousands deep must not use up the server's descriptors.
    /// Deeper folders are left out (their entry is there, empty).
    public static let deepestFolder = 64

    /// About how much one `next` returns.
    public static let pieceSize = 1 << 20

    private struct Folder {
        var descriptor: WorkspaceTree.Descriptor
        var prefix: [UInt8]
        var names: [[UInt8]]
        var next = 0
    }

    private struct OpenFile {
        var descriptor: WorkspaceTree.Descriptor
        var size: Int64
        var done: Int64 = 0
        var crc: UInt = 0
    }

    /// What the zip's central directory needs of an entry.
    private struct ZipEntry {
        var name: [UInt8]
        var mode: UInt32
        var time: UInt16
        var date: UInt16
        var size: Int64
        var crc: UInt32 = 0
        var offset: Int64
        var isUTF8: Bool
    }

    public let format: Format
    private var stack: [Folder] = []
    private var current: OpenFile?
    private var finished = false
    /// Bytes of the archive produced so far (a zip's offsets).
    private var written: Int64 = 0
    private var central: [ZipEntry] = []
    /// The compressor of a tar, at a fixed address (zlib's state points back at it).
    private var gzip: UnsafeMutablePointer<z_stream>?
    private let skipTrash: Bool

    /// An archive of the folder `folder` (opened `O_RDONLY | O_DIRECTORY`), its entries under
    /// `name/` (`name` empty: at the top, for the whole workspace).
    public init(folder: WorkspaceTree.Descriptor, name: String, format: Format) throws(CoreError) {
        self.format = format
        self.skipTrash = name.isEmpty
        let prefix = name.isEmpty ? [] : Array(name.utf8) + [0x2F]
        self.stack = [Folder(descriptor: folder, prefix: prefix, names: try Self.sortedNames(folder))]
        if format == .tarGzip {
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            guard holdfast_gzip_init(stream, 1) == Z_OK else {
                stream.deallocate()
                throw CoreError(.unavailable, code: "archive_failed", message: "The compressor could not start.")
            }
            self.gzip = stream
        }
        if !prefix.isEmpty {
            var status = stat()
            _ = fstat(folder.fd, &status)
            self.addFolderHeader(prefix, status: status)
        }
    }

    deinit {
        if let stream = self.gzip {
            deflateEnd(stream)
            stream.deallocate()
        }
    }

    /// Raw archive bytes not yet returned (before compression, for a tar).
    private var pending: [UInt8] = []

    /// The next piece of the archive; `nil` once all of it was returned.
    public func next(allocator: ByteBufferAllocator) throws(CoreError) -> ByteBuffer? {
        guard !self.finished else { return nil }
        while self.pending.count < Self.pieceSize, !self.finished {
            try self.step()
        }
        let raw = self.pending
        self.pending.removeAll(keepingCapacity: true)
        if self.format == .tarGzip {
            return try self.compress(raw, finish: self.finished, allocator: allocator)
        }
        return allocator.buffer(bytes: raw)
    }

    /// Adds the next bit of the archive to `pending`: part of a file, an entry's header, or the end.
    private func step() throws(CoreError) {
        if var file = self.current {
            let want = Int(min(Int64(Self.pieceSize), file.size - file.done))
            var chunk = try WorkspaceTree.read(file.descriptor, at: file.done, count: want, allocator: ByteBufferAllocator())
            // A file that shrank since it was opened is padded: the header promised its size.
            if chunk.readableBytes < want { chunk.writeRepeatingByte(0, count: want - chunk.readableBytes) }
            chunk.withUnsafeReadableBytes { bytes in
                if self.format == .zip, bytes.count > 0 {
                    file.crc = crc32(file.crc, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(bytes.count))
                }
                self.append(bytes)
            }
            file.done += Int64(want)
            if file.done < file.size {
                self.current = file
                return
            }
            self.current = nil
            self.endFile(file)
            return
        }
        guard var folder = self.stack.popLast() else {
            self.appendEnd()
            self.finished = true
            return
        }
        guard folder.next < folder.names.count else { return }
        let name = folder.names[folder.next]
        folder.next += 1
        self.stack.append(folder)
        try self.add(name, in: folder)
    }

    private func add(_ name: [UInt8], in folder: Folder) throws(CoreError) {
        if self.skipTrash, folder.prefix.isEmpty, name == Array(WorkspaceTree.trashName.utf8) { return }
        let cName = name.map { CChar(bitPattern: $0) } + [0]
        var status = stat()
        // Gone since the folder was read: left out.
        guard fstatat(folder.descriptor.fd, cName, &status, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        let path = folder.prefix + name
        switch status.st_mode & S_IFMT {
        case S_IFLNK:
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlinkat(folder.descriptor.fd, cName, &target, Int(PATH_MAX))
            guard length >= 0 else { return }
            let link = target.prefix(length).map { UInt8(bitPattern: $0) }
            self.pending.append(
                contentsOf: self.header(name: path, status: status, size: self.format == .zip ? Int64(link.count) : 0, link: link))
            if self.format == .zip {
                self.central[self.central.count - 1].crc = UInt32(crc32(0, link, UInt32(link.count)))
                self.pending.append(contentsOf: link)
                self.written += Int64(link.count)
                self.appendDescriptor(self.central[self.central.count - 1])
            }
        case S_IFDIR:
            guard self.stack.count <= Self.deepestFolder else {
                self.addFolderHeader(path + [0x2F], status: status)
                return
            }
            let fd = openat(folder.descriptor.fd, cName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { return }
            let descriptor = WorkspaceTree.Descriptor(fd)
            let prefix = path + [0x2F]
            self.addFolderHeader(prefix, status: status)
            self.stack.append(Folder(descriptor: descriptor, prefix: prefix, names: try Self.sortedNames(descriptor)))
        case S_IFREG:
            let fd = openat(folder.descriptor.fd, cName, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
            guard fd >= 0 else { return }
            let descriptor = WorkspaceTree.Descriptor(fd)
            var opened = stat()
            guard fstat(fd, &opened) == 0, opened.st_mode & S_IFMT == S_IFREG else { return }
            let size = Int64(opened.st_size)
            self.pending.append(contentsOf: self.header(name: path, status: opened, size: size, link: nil))
            let file = OpenFile(descriptor: descriptor, size: size)
            if size == 0 {
                self.endFile(file)
            } else {
                self.current = file
            }
        default:
            return  // FIFOs, sockets, devices: nothing a download could hold
        }
    }

    private func addFolderHeader(_ name: [UInt8], status: stat) {
        self.pending.append(contentsOf: self.header(name: name, status: status, size: 0, link: nil))
        if self.format == .zip { self.appendDescriptor(self.central[self.central.count - 1]) }
    }

    private func append(_ bytes: UnsafeRawBufferPointer) {
        self.pending.append(contentsOf: bytes)
        self.written += Int64(bytes.count)
    }

    private func endFile(_ file: OpenFile) {
        switch self.format {
        case .zip:
            self.central[self.central.count - 1].crc = UInt32(file.crc)
            self.appendDescriptor(self.central[self.central.count - 1])
        case .tarGzip:
            let padding = Int((512 - file.size % 512) % 512)
            self.pending.append(contentsOf: repeatElement(0, count: padding))
        }
    }

    // MARK: Headers

    /// The header of an entry: a tar header (with a PAX record when a field does not fit), or a zip
    /// local header (its central record kept for the end).
    private func header(name: [UInt8], status: stat, size: Int64, link: [UInt8]?) -> [UInt8] {
        let kind = status.st_mode & S_IFMT
        switch self.format {
        case .tarGzip:
            let type: UInt8 = kind == S_IFDIR ? 0x35 : (kind == S_IFLNK ? 0x32 : 0x30)
            return Tar.header(
                name: name, mode: status.st_mode & 0o7777, size: size, mtime: Int64(status.st_mtim.tv_sec), type: type, link: link ?? [])
        case .zip:
            let (time, date) = Zip.dosTime(Int64(status.st_mtim.tv_sec))
            let entry = ZipEntry(
                name: name, mode: status.st_mode, time: time, date: date, size: size, offset: self.written,
                isUTF8: String(validating: name, as: UTF8.self) != nil)
            self.central.append(entry)
            let bytes = Zip.localHeader(name: name, time: time, date: date, size: size, utf8: entry.isUTF8)
            self.written += Int64(bytes.count)
            return bytes
        }
    }

    private func appendDescriptor(_ entry: ZipEntry) {
        let bytes = Zip.dataDescriptor(crc: entry.crc, size: entry.size)
        self.pending.append(contentsOf: bytes)
        self.written += Int64(bytes.count)
    }

    private func appendEnd() {
        switch self.format {
        case .tarGzip:
            self.pending.append(contentsOf: repeatElement(0, count: 1024))
        case .zip:
            let start = self.written
            var directory: [UInt8] = []
            for entry in self.central {
                directory += Zip.centralHeader(
                    name: entry.name, mode: entry.mode, time: entry.time, date: entry.date, crc: entry.crc, size: entry.size,
                    offset: entry.offset, utf8: entry.isUTF8)
            }
            self.pending += directory
            self.written += Int64(directory.count)
            let end = Zip.end(entries: self.central.count, directoryOffset: start, directorySize: Int64(directory.count), at: self.written)
            self.pending += end
            self.written += Int64(end.count)
        }
    }

    // MARK: Compression

    private func compress(_ raw: [UInt8], finish: Bool, allocator: ByteBufferAllocator) throws(CoreError) -> ByteBuffer {
        var output = allocator.buffer(capacity: max(64 << 10, raw.count / 2))
        guard let stream = self.gzip else { return allocator.buffer(bytes: raw) }
        var status = Z_OK
        raw.withUnsafeBufferPointer { input in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.pointee.avail_in = UInt32(input.count)
            repeat {
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: 64 << 10) { space in
                    stream.pointee.next_out = space.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = UInt32(space.count)
                    status = deflate(stream, finish ? Z_FINISH : Z_NO_FLUSH)
                    return space.count - Int(stream.pointee.avail_out)
                }
            } while status == Z_OK && (stream.pointee.avail_in > 0 || stream.pointee.avail_out == 0 || finish)
        }
        guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
            throw CoreError(.unavailable, code: "archive_failed", message: "Compressing the archive failed (zlib \(status)).")
        }
        return output
    }

    static func sortedNames(_ folder: WorkspaceTree.Descriptor) throws(CoreError) -> [[UInt8]] {
        try WorkspaceTree.names(in: folder).sorted { $0.lexicographicallyPrecedes($1) }
    }
}

/// ustar headers, with a PAX extended header for what ustar cannot hold (long or non-ASCII
/// names, sizes of 8 GiB and more).
enum Tar {
    static func header(name: [UInt8], mode: UInt32, size: Int64, mtime: Int64, type: UInt8, link: [UInt8]) -> [UInt8] {
        var records: [UInt8] = []
        let ascii = { (bytes: [UInt8]) in bytes.allSatisfy { $0 < 0x80 } }
        if name.count > 100 || !ascii(name) { records += Self.record("path", name) }
        if link.count > 100 || !ascii(link) { records += Self.record("linkpath", link) }
        if size > 0o77777777777 { records += Self.record("size", Array(String(size).utf8)) }
        var out: [UInt8] = []
        if !records.isEmpty {
            out += Self.block(
                name: Array("PaxHeaders/entry".utf8), mode: 0o644, size: Int64(records.count), mtime: mtime, type: 0x78, link: [])
            out += records
            out += repeatElement(0, count: (512 - records.count % 512) % 512)
        }
        out += Self.block(
            name: Array(name.prefix(100)), mode: mode, size: size > 0o77777777777 ? 0 : size, mtime: mtime, type: type,
            link: Array(link.prefix(100)))
        return out
    }

    /// `"%d key=value\n"`, the length counting itself.
    static func record(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let body = Array(" \(key)=".utf8) + value + [0x0A]
        var length = body.count + 1
        while String(length).utf8.count + body.count != length { length += 1 }
        return Array(String(length).utf8) + body
    }

    static func block(name: [UInt8], mode: UInt32, size: Int64, mtime: Int64, type: UInt8, link: [UInt8]) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int) { block.replaceSubrange(offset..<offset + bytes.count, with: bytes) }
        func octal(_ value: Int64, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
        }
        put(name, at: 0)
        put(octal(Int64(mode), width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(max(0, mtime), width: 12), at: 136)
        put(Array(repeating: 0x20, count: 8), at: 148)
        block[156] = type
        put(link, at: 157)
        put(Array("ustar\u{0}00".utf8), at: 257)
        let sum = block.reduce(0) { $0 + Int64($1) }
        put(Array(String(sum, radix: 8).leftPadded(to: 6).utf8) + [0, 0x20], at: 148)
        return block
    }
}

/// Zip records (APPNOTE 6.3): stored entries with a data descriptor, ZIP64 where sizes, offsets
/// or the entry count need it.
enum Zip {
    static let limit32: Int64 = 0xFFFF_FFFF

    static func dosTime(_ seconds: Int64) -> (time: UInt16, date: UInt16) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let parts = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: TimeInterval(seconds)))
        guard let year = parts.year, year >= 1980, year <= 2107 else { return (0, 0x21) }  // 1980-01-01
        let time = UInt16((parts.hour ?? 0) << 11 | (parts.minute ?? 0) << 5 | (parts.second ?? 0) / 2)
        let date = UInt16((year - 1980) << 9 | (parts.month ?? 1) << 5 | (parts.day ?? 1))
        return (time, date)
    }

    static func localHeader(name: [UInt8], time: UInt16, date: UInt16, size: Int64, utf8: Bool) -> [UInt8] {
        let large = size >= limit32
        var out = Bytes()
        out.u32(0x0403_4B50)
        out.u16(large ? 45 : 20)
        out.u16(0x0008 | (utf8 ? 0x0800 : 0))
        out.u16(0)  // stored
        out.u16(time)
        out.u16(date)
        out.u32(0)  // CRC: in the data descriptor
        out.u32(large ? 0xFFFF_FFFF : UInt32(size))
        out.u32(large ? 0xFFFF_FFFF : UInt32(size))
        out.u16(UInt16(name.count))
        out.u16(large ? 20 : 0)
        out.bytes += name
        if large {
            out.u16(0x0001)
            out.u16(16)
            out.u64(UInt64(size))
            out.u64(UInt64(size))
        }
        return out.bytes
    }

    static func dataDescriptor(crc: UInt32, size: Int64) -> [UInt8] {
        var out = Bytes()
        out.u32(0x0807_4B50)
        out.u32(crc)
        if size >= limit32 {
            out.u64(UInt64(size))
            out.u64(UInt64(size))
        } else {
            out.u32(UInt32(size))
            out.u32(UInt32(size))
        }
        return out.bytes
    }

    static func centralHeader(
        name: [UInt8], mode: UInt32, time: UInt16, date: UInt16, crc: UInt32, size: Int64, offset: Int64, utf8: Bool
    )
        -> [UInt8]
    {
        var extra = Bytes()
        if size >= limit32 {
            extra.u64(UInt64(size))
            extra.u64(UInt64(size))
        }
        if offset >= limit32 { extra.u64(UInt64(offset)) }
        var out = Bytes()
        out.u32(0x0201_4B50)
        out.u16(3 << 8 | 45)  // made on Unix, so the mode is read from the external attributes
        out.u16(extra.bytes.isEmpty ? 20 : 45)
        out.u16(0x0008 | (utf8 ? 0x0800 : 0))
        out.u16(0)
        out.u16(time)
        out.u16(date)
        out.u32(crc)
        out.u32(size >= limit32 ? 0xFFFF_FFFF : UInt32(size))
        out.u32(size >= limit32 ? 0xFFFF_FFFF : UInt32(size))
        out.u16(UInt16(name.count))
        out.u16(extra.bytes.isEmpty ? 0 : UInt16(4 + extra.bytes.count))
        out.u16(0)  // comment
        out.u16(0)  // disk
        out.u16(0)  // internal attributes
        out.u32(mode << 16 | (mode & S_IFMT == S_IFDIR ? 0x10 : 0))
        out.u32(offset >= limit32 ? 0xFFFF_FFFF : UInt32(offset))
        out.bytes += name
        if !extra.bytes.isEmpty {
            out.u16(0x0001)
            out.u16(UInt16(extra.bytes.count))
            out.bytes += extra.bytes
        }
        return out.bytes
    }

    /// The end records; `at` is where they start (the ZIP64 locator points at its record).
    static func end(entries: Int, directoryOffset: Int64, directorySize: Int64, at position: Int64) -> [UInt8] {
        var out = Bytes()
        let large = entries >= 0xFFFF || directoryOffset >= limit32 || directorySize >= limit32
        if large {
            out.u32(0x0606_4B50)
            out.u64(44)
            out.u16(3 << 8 | 45)
            out.u16(45)
            out.u32(0)
            out.u32(0)
            out.u64(UInt64(entries))
            out.u64(UInt64(entries))
            out.u64(UInt64(directorySize))
            out.u64(UInt64(directoryOffset))
            out.u32(0x0706_4B50)
            out.u32(0)
            out.u64(UInt64(position))
            out.u32(1)
        }
        out.u32(0x0605_4B50)
        out.u16(0)
        out.u16(0)
        out.u16(large ? 0xFFFF : UInt16(entries))
        out.u16(large ? 0xFFFF : UInt16(entries))
        out.u32(large ? 0xFFFF_FFFF : UInt32(directorySize))
        out.u32(large ? 0xFFFF_FFFF : UInt32(directoryOffset))
        out.u16(0)
        return out.bytes
    }

    struct Bytes {
        var bytes: [UInt8] = []
        mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { self.bytes += $0 } }
        mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { self.bytes += $0 } }
        mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { self.bytes += $0 } }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        self.count >= width ? self : String(repeating: "0", count: width - self.count) + self
    }
}
